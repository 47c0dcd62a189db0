"""The seam between the Streamable HTTP client transport and an authorization scheme.

The transport (``mcpfast.client.http``) knows HTTP; an ``HTTPAuth`` object knows credentials
(OAuth 2.1 access tokens, DPoP proofs, API keys). The transport asks it for headers before
each HTTP request it sends to the MCP endpoint (POST, GET, DELETE) and tells it about every
401 and 403 answer, so that it can read the challenge (``WWW-Authenticate``: resource metadata,
``insufficient_scope``, ``use_dpop_nonce``), fetch or refresh a token, and ask for the request
to be sent again.

Give one to the transport as ``auth=``: ``Client(url, auth=...)`` /
``transport_from_url(url, auth=...)``. For a fixed token, ``bearer="..."`` (or
``headers={"Authorization": "Bearer ..."}``) needs no object; ``BearerAuth`` is that as an
``HTTPAuth``.

Rules the transport keeps:

* ``headers(method, url)`` is awaited before every request, retries included (a DPoP proof is
  single-use and names the method and URL, so it is never cached by the transport). What it
  returns is added to (and overrides) the transport's own and user headers. It is driven
  eagerly: a coroutine that returns without suspending (a cached token) costs no task and no
  loop iteration, so the hot path stays cheap; one that suspends (a refresh) holds that
  request only.
* ``on_response(status, headers, method, url)`` is awaited for each 401 or 403 response, with
  the response headers (names lower-cased, repeated fields joined by ``", "``). Returning True
  sends the same request again, with fresh ``headers()``, at most ``AUTH_RETRIES`` (3) times
  (an authorization, a DPoP nonce and a step-up may each need one); a 401/403 after that is
  reported to ``on_response`` again but not retried, and the waiting call fails with the HTTP
  error (JSON-RPC error body if the server sent one). Returning False fails the
  call at once. An exception raised by either method fails the waiting call with that
  exception's text (a JSON-RPC error, code -32000, ``data.httpStatus`` when known).
* Both are called on the event loop that runs the transport, one request's calls in order;
  calls for different requests may interleave (many requests are in flight at once), so an
  implementation that refreshes a token should share one refresh among the waiting requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["HTTPAuth", "BearerAuth"]


@runtime_checkable
class HTTPAuth(Protocol):
    """Authorization for the Streamable HTTP client transport (see the module docstring)."""

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        """Headers for one HTTP request about to be sent: ``method`` is the HTTP method
        (``"POST"``, ``"GET"``, ``"DELETE"``), ``url`` the full target URL (what a DPoP proof's
        ``htm``/``htu`` name). Typically ``{"Authorization": "Bearer <token>"}``, or
        ``{"Authorization": "DPoP <token>", "DPoP": "<proof>"}``; an empty mapping sends none."""
        ...

    async def on_response(self, status: int, headers: Mapping[str, str], method: str, url: str) -> bool:
        """A 401 or 403 arrived for a request sent with ``headers(method, url)``. Read the
        challenge (``headers["www-authenticate"]``), obtain new credentials if possible, and
        return True to have the request sent again (bounded by ``AUTH_RETRIES``), False to fail it."""
        ...


class BearerAuth:
    """A fixed bearer token (what ``bearer=`` makes): no refresh, never retries."""

    __slots__ = ("_headers",)

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("bearer token must be a non-empty string without line breaks")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        return self._headers

    async def on_response(self, status: int, headers: Mapping[str, str], method: str, url: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"
