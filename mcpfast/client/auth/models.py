"""The OAuth records the client keeps: tokens, client registrations and the two metadata documents.

Plain dataclasses (no pydantic on the import path) whose field names are the wire names of the
RFCs and of the official SDK's ``mcp.shared.auth`` models, so a record stored by code written
for the SDK loads here unchanged. Fields the RFCs define but this client does not read are kept
in ``extra`` and written back out, so a round trip through a ``TokenStorage`` loses nothing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import OAuthFlowError

__all__ = [
    "AuthorizationCodeResult",
    "OAuthClientInformationFull",
    "OAuthClientMetadata",
    "OAuthMetadata",
    "OAuthToken",
    "ProtectedResourceMetadata",
    "as_dict",
]

_T = TypeVar("_T", bound="_Record")


def as_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of ``obj``: one of our records, an SDK pydantic model or a mapping."""
    if isinstance(obj, _Record):
        return obj.to_dict()
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        data = dump(mode="json", exclude_none=True)
        if isinstance(data, dict):
            return data
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if v is not None}
    raise TypeError(f"expected an OAuth record, a pydantic model or a dict, not {type(obj).__name__}")


@dataclass(kw_only=True)
class _Record:
    """Shared (de)serialisation: known fields by name, everything else in ``extra``."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[_T], data: Any) -> _T:
        """Build from a JSON object (or an SDK model / another record); unknown keys go to
        ``extra``. Raises ``OAuthFlowError`` when the object is not a mapping or lacks a
        required field."""
        if not isinstance(data, dict):
            try:
                data = as_dict(data)
            except TypeError as exc:
                raise OAuthFlowError(f"{cls.__name__}: {exc}") from None
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names and v is not None}
        extra = {k: v for k, v in data.items() if k not in names}
        try:
            return cls(**known, extra=extra)
        except TypeError as exc:
            raise OAuthFlowError(f"invalid {cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (``None`` fields left out, ``extra`` merged back)."""
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, (list, tuple)) else value
        return out

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """The SDK's (pydantic) spelling of ``to_dict``, so code written for it keeps working."""
        return self.to_dict()

    def model_dump_json(self, **_: Any) -> str:
        """The JSON text (what a storage written for the SDK's models persists)."""
        return json.dumps(self.to_dict())


@dataclass(kw_only=True)
class OAuthToken(_Record):
    """A token response (RFC 6749 §5.1). ``token_type`` is ``Bearer`` or ``DPoP`` (RFC 9449)."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    refresh_token: str | None = None

    def __repr__(self) -> str:  # never print the secrets
        return f"OAuthToken(token_type={self.token_type!r}, expires_in={self.expires_in!r}, scope={self.scope!r})"


@dataclass(kw_only=True)
class OAuthClientMetadata(_Record):
    """What the client says about itself when it registers (RFC 7591 §2) or in its Client ID
    Metadata Document. ``application_type`` (OIDC registration, required by SEP-837) defaults to
    ``native``: an MCP client usually runs on the user's machine with a loopback redirect."""

    redirect_uris: list[str] | None = None
    token_endpoint_auth_method: str | None = None
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    response_types: list[str] = field(default_factory=lambda: ["code"])
    scope: str | None = None
    client_name: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    contacts: list[str] | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    jwks_uri: str | None = None
    jwks: Any = None
    software_id: str | None = None
    software_version: str | None = None
    application_type: str | None = "native"


@dataclass(kw_only=True)
class OAuthClientInformationFull(OAuthClientMetadata):
    """A registration: the metadata plus what the authorization server assigned (RFC 7591 §3.2.1).

    ``issuer`` records which authorization server the credentials belong to (SEP-2352): the
    client never presents them to another one."""

    client_id: str
    client_secret: str | None = None
    client_id_issued_at: int | None = None
    client_secret_expires_at: int | None = None
    issuer: str | None = None
    application_type: str | None = None

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"OAuthClientInformationFull(client_id={self.client_id!r}, issuer={self.issuer!r})"


@dataclass(kw_only=True)
class OAuthMetadata(_Record):
    """Authorization server metadata (RFC 8414 §2; OpenID Connect Discovery documents parse too)."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    registration_endpoint: str | None = None
    scopes_supported: list[str] | None = None
    response_types_supported: list[str] | None = None
    grant_types_supported: list[str] | None = None
    token_endpoint_auth_methods_supported: list[str] | None = None
    token_endpoint_auth_signing_alg_values_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    client_id_metadata_document_supported: bool | None = None
    authorization_response_iss_parameter_supported: bool | None = None
    dpop_signing_alg_values_supported: list[str] | None = None


@dataclass(kw_only=True)
class ProtectedResourceMetadata(_Record):
    """OAuth protected resource metadata (RFC 9728 §2)."""

    resource: str
    authorization_servers: list[str] = field(default_factory=list)
    scopes_supported: list[str] | None = None
    bearer_methods_supported: list[str] | None = None
    resource_name: str | None = None
    dpop_signing_alg_values_supported: list[str] | None = None
    dpop_bound_access_tokens_required: bool | None = None


@dataclass(kw_only=True)
class AuthorizationCodeResult(_Record):
    """What the redirect (callback) brought back: ``code``, the ``state`` echoed and, from an
    authorization server that supports RFC 9207, its ``iss``."""

    code: str
    state: str | None = None
    iss: str | None = None

    def __repr__(self) -> str:
        return f"AuthorizationCodeResult(state={self.state!r}, iss={self.iss!r})"
