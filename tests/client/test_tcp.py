"""``mcpfast.Client`` over TCP (``tcp://``) and TLS (``tcps://``) to mcpfast's TCP server on
port 0, and the URL rules of the TCP transport."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from mcpfast import Client, MCPError
from mcpfast.client.tcp import TCPTransport, transport_from_url
from mcpfast.client.transport import transport_for
from mcpfast.testing import async_test
from mcpfast.transports.tcp import start_tcp_server

from ..interop import server_app
from ..transports.test_tcp import _self_signed


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@async_test
async def test_a_session_over_tcp(mode: str) -> None:
    core = server_app.build()
    server = await start_tcp_server(lambda: core, "127.0.0.1", 0)
    try:
        async with Client(f"tcp://127.0.0.1:{server.port}", mode=mode) as c:
            assert c.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            assert (await c.call_tool("echo", {"message": "over tcp"})).content[0].text == "over tcp"
            assert len((await c.list_tools()).tools) == 5
        async with Client(f"tcp://127.0.0.1:{server.port}", mode=mode) as c:  # a second connection
            assert (await c.call_tool("add", {"a": 1, "b": 1})).structured_content["sum"] == 2
    finally:
        await server.close()


def test_tls_verifies_by_default(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        core = server_app.build()
        server = await start_tcp_server(lambda: core, "127.0.0.1", 0, tls=(certfile, keyfile))
        try:
            url = f"tcps://localhost:{server.port}"
            with pytest.raises(ConnectionError, match="TLS handshake"):  # not trusted: refused
                async with Client(url):
                    pass
            trusted = ssl.create_default_context(cafile=certfile)
            async with Client(url, transport_options={"ssl": trusted}) as c:
                assert (await c.call_tool("echo", {"message": "secret"})).content[0].text == "secret"
        finally:
            await server.close()

    run()


@async_test
async def test_nobody_listening_is_a_clear_error() -> None:
    server = await start_tcp_server(lambda: server_app.build(), "127.0.0.1", 0)
    port = server.port
    await server.close()
    with pytest.raises(ConnectionError, match=f"cannot connect to tcp://127.0.0.1:{port}"):
        async with Client(f"tcp://127.0.0.1:{port}"):
            pass


@async_test
async def test_the_connection_closing_fails_calls() -> None:
    core = server_app.build()
    server = await start_tcp_server(lambda: core, "127.0.0.1", 0)
    async with Client(f"tcp://127.0.0.1:{server.port}", mode="legacy") as c:
        await server.close(grace=0)
        with pytest.raises(MCPError, match="Connection closed"):
            await c.call_tool("countdown", {"steps": 100})


def test_urls() -> None:
    t = transport_for("tcp://127.0.0.1:8765")
    assert isinstance(t, TCPTransport) and (t.host, t.port, t.ssl) == ("127.0.0.1", 8765, None)
    assert transport_from_url("tcps://example.org:443").ssl is True
    ctx = ssl.create_default_context()
    assert transport_from_url("tcps://example.org:443", ssl=ctx).ssl is ctx
    for bad, match in (("tcp://host", "host and a port"), ("tcp://:80", "host and a port"),
                       ("tcp://h:80/path", "no path"), ("tcp://h:99999", "bad port"), ("http://h:1", "not a tcp")):
        with pytest.raises(ValueError, match=match):
            transport_from_url(bad)
    with pytest.raises(ValueError, match="contradicts"):
        transport_from_url("tcps://h:1", ssl=False)
    with pytest.raises(ValueError, match="use tcps"):
        transport_from_url("tcp://h:1", ssl=True)
    with pytest.raises(TypeError):
        transport_from_url("tcp://h:1", headers={})  # type: ignore[call-arg]
