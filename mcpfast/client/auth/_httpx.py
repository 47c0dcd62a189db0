"""``OAuthClientProvider`` as an ``httpx2.Auth``: for code that makes its own HTTP requests
(or the official SDK's transports). Imported only through ``provider.httpx_auth()``."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    from .provider import OAuthClientProvider

__all__ = ["ProviderAuth"]

#: one request is sent at most this often (the first try plus the provider's retries)
MAX_SENDS = 4


class ProviderAuth(httpx2.Auth):
    """Runs the provider's two hooks around each request httpx2 sends, as the Streamable HTTP
    transport does: ``headers`` before each send, ``on_response`` for a 401 or 403, the request
    sent again while it answers True (at most ``MAX_SENDS`` sends)."""

    def __init__(self, provider: OAuthClientProvider) -> None:
        self.provider = provider

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        method, url = request.method, str(request.url)
        for _ in range(MAX_SENDS):
            for name in ("Authorization", "DPoP"):
                request.headers.pop(name, None)
            request.headers.update(await self.provider.headers(method, url))
            response = yield request
            if response.status_code not in (401, 403):
                return
            if not await self.provider.on_response(response.status_code, response.headers, method, url):
                return
