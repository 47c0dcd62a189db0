"""Multi round-trip requests (MCP 2026-07-28, ``basic/patterns/mrtr.mdx``): signed ``requestState``.

A handler that needs input from the client (an elicitation, a sampling call, the roots) makes the
server answer ``InputRequiredResult``; the client retries the same request with ``inputResponses``
and echoes ``requestState``. The spec tells servers to treat that echo as attacker-controlled, so
the state is a signed token:

    base64url(JSON payload) "." base64url(HMAC-SHA256(secret, payload bytes))

The payload binds an expiry (``exp``, Unix seconds) and a digest of the request (method + tool /
prompt name or resource URI), and carries the answers gathered in earlier rounds (``r``) and the
handler's own state (``s``), so a multi-round handler sees every answer so far without any
server-side storage. It is integrity-protected, not encrypted: do not put secrets in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from typing import Any

from ..errors import InvalidParams
from ..wire import _json

__all__ = ["InputRequired", "RequestStateSigner", "DEFAULT_STATE_TTL"]

#: how long a requestState stays valid (seconds)
DEFAULT_STATE_TTL = 600.0

_dumps = _json.dumps
_loads = _json.loads


class InputRequired(Exception):
    """Raised (by ``Context.ask`` and friends, or by a handler itself) at 2026-07-28 to answer
    the request with an ``InputRequiredResult``.

    ``requests`` maps keys to ``{"method": ..., "params": ...}`` request objects; ``state`` is
    JSON the handler wants back on the retry (``Context.state``).
    """

    def __init__(self, requests: dict[str, Any] | None = None, state: Any = None) -> None:
        super().__init__("input required")
        self.requests = requests
        self.state = state


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def request_digest(method: str, name: Any) -> str:
    """What a requestState is bound to: the method and the tool/prompt name or resource URI."""
    h = hashlib.sha256(method.encode() + b"\0" + str(name).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


class RequestStateSigner:
    """Mints and verifies requestState tokens.

    ``secret`` (bytes) must be shared by every process behind one endpoint (a load-balanced
    HTTP deployment); by default it is random per process, so a state only survives as long as
    the process that minted it.
    """

    __slots__ = ("_key", "ttl")

    def __init__(self, secret: bytes | str | None = None, ttl: float = DEFAULT_STATE_TTL) -> None:
        if secret is None:
            secret = os.urandom(32)
        elif isinstance(secret, str):
            secret = secret.encode("utf-8")
        if len(secret) < 16:
            raise ValueError(f"the requestState secret must be at least 16 bytes, got {len(secret)}")
        self._key = bytes(secret)
        self.ttl = ttl

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def sign(self, digest: str, responses: dict[str, Any] | None, state: Any) -> str:
        body: dict[str, Any] = {"v": 1, "exp": int(time.time() + self.ttl), "d": digest}
        if responses:
            body["r"] = responses
        if state is not None:
            body["s"] = state
        payload = _dumps(body)
        return _b64e(payload) + "." + _b64e(self._mac(payload))

    def verify(self, token: Any, digest: str) -> tuple[dict[str, Any], Any]:
        """The (earlier responses, handler state) carried by ``token``; raises InvalidParams
        (-32602) when it is malformed, tampered with, expired, or minted for another request."""
        if type(token) is not str:
            raise InvalidParams("Invalid requestState: expected the string the server returned, got "
                                f"{type(token).__name__} - at params.requestState")
        head, sep, tail = token.partition(".")
        try:
            if not sep:
                raise ValueError("no signature")
            payload = _b64d(head)
            mac = _b64d(tail)
        except (ValueError, binascii.Error):
            raise InvalidParams("Invalid requestState: not a token this server issued"
                                " - at params.requestState") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidParams("Invalid requestState: signature mismatch (tampered with, or issued"
                                " by another server) - at params.requestState")
        try:
            body = _loads(payload)
        except Exception:  # noqa: BLE001 - signed but undecodable: only a wrong secret reaches here
            raise InvalidParams("Invalid requestState: undecodable payload - at params.requestState") from None
        if type(body) is not dict or body.get("v") != 1:
            raise InvalidParams("Invalid requestState: unknown version - at params.requestState")
        if body.get("exp", 0) < time.time():
            raise InvalidParams("Invalid requestState: expired; send the request again without"
                                " inputResponses and requestState - at params.requestState")
        if body.get("d") != digest:
            raise InvalidParams("Invalid requestState: it was issued for a different request"
                                " (method or name differs) - at params.requestState")
        return body.get("r") or {}, body.get("s")
