"""NDJSON JSON-RPC over TCP and TLS."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from mcpfast.errors import ConnectionClosed
from mcpfast.testing import async_test
from mcpfast.transports.tcp import DEFAULT_IDLE_TIMEOUT, connect_tcp, start_tcp_server

from ..support.dispatchers import EchoDispatcher
from ..support.fakes import req


@async_test
async def test_round_trip_and_nodelay() -> None:
    server = await start_tcp_server(EchoDispatcher)
    try:
        client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
        assert await client.peer.request("echo", {"a": 1}) == {"a": 1}
        assert await client.peer.request("ask", {"b": 2}) == {"b": 2}  # server -> client
        results = await asyncio.gather(*(client.peer.request("slow", {"delay": 0.05, "tag": i}) for i in range(20)))
        assert [r["tag"] for r in results] == list(range(20))
        (conn,) = server.protocols
        for t in (conn.transport, client.transport):
            sock = t.get_extra_info("socket")  # type: ignore[union-attr]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        client.close()
        await client.wait_closed()
    finally:
        await server.close()


@async_test
async def test_one_dispatcher_per_connection_or_shared() -> None:
    made: list[EchoDispatcher] = []

    def factory() -> EchoDispatcher:
        made.append(EchoDispatcher())
        return made[-1]

    server = await start_tcp_server(factory)
    try:
        clients = [await connect_tcp("127.0.0.1", server.port, EchoDispatcher()) for _ in range(3)]
        for c in clients:
            await c.peer.request("echo")
        assert len(made) == 3
        for c in clients:
            c.close()
            await c.wait_closed()
    finally:
        await server.close()


@async_test
async def test_max_connections_refusal() -> None:
    server = await start_tcp_server(EchoDispatcher, max_connections=2)
    try:
        clients = [await connect_tcp("127.0.0.1", server.port, EchoDispatcher()) for _ in range(2)]
        for c in clients:
            await c.peer.request("echo")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        refusal = await asyncio.wait_for(reader.read(), 5)  # one line, then the server closes
        assert json.loads(refusal) == {
            "jsonrpc": "2.0", "id": None,
            "error": {"code": -32005, "message": "Server at max_connections (2); try again later"},
        }
        assert refusal.endswith(b"\n") and refusal.count(b"\n") == 1
        writer.close()
        await writer.wait_closed()
        assert server.refused == 1
        # a slot frees up when a client leaves
        clients[0].close()
        await clients[0].wait_closed()
        await asyncio.sleep(0.05)
        again = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
        assert await again.peer.request("echo", {"ok": 1}) == {"ok": 1}
        for c in (clients[1], again):
            c.close()
            await c.wait_closed()
    finally:
        await server.close()


@async_test
async def test_idle_timeout_closes_quiet_connections_only() -> None:
    server = await start_tcp_server(EchoDispatcher, idle_timeout=0.2)
    try:
        busy = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
        idle = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
        await idle.peer.request("echo")
        # in flight for longer than the idle timeout: not closed
        assert await busy.peer.request("slow", {"delay": 0.5}) == {"slept": 0.5, "tag": None}
        await asyncio.wait_for(idle.wait_closed(), 2)
        with pytest.raises(ConnectionClosed):
            await idle.peer.request("echo")
        assert await busy.peer.request("echo", {"still": "open"}) == {"still": "open"}
        await asyncio.wait_for(busy.wait_closed(), 2)  # and it goes once quiet
    finally:
        await server.close()


@async_test
async def test_silent_sockets_are_closed_by_default_and_free_their_slot() -> None:
    assert start_tcp_server.__kwdefaults__["idle_timeout"] == DEFAULT_IDLE_TIMEOUT == 300.0
    server = await start_tcp_server(EchoDispatcher, max_connections=1, idle_timeout=0.2)
    try:
        assert server.idle_timeout == 0.2 and server.tick == 0.05
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # says nothing
        t0 = loop.time()
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed, without a word
        assert 0.15 < loop.time() - t0 < 1.5
        writer.close()
        await asyncio.sleep(0.05)
        assert server.connections == 0
        client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())  # the slot is free
        assert await client.peer.request("echo", {"n": 1}) == {"n": 1}  # type: ignore[union-attr]
        assert server.refused == 0
        client.close()
        await client.wait_closed()
    finally:
        await server.close()


@async_test
async def test_a_long_tool_call_is_not_idle() -> None:
    server = await start_tcp_server(EchoDispatcher, idle_timeout=0.1)
    try:
        client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
        # no byte either way for eight idle timeouts, but a request in flight
        assert await client.peer.request("slow", {"delay": 0.8}) == {"slept": 0.8, "tag": None}  # type: ignore[union-attr]
        assert server.connections == 1
        client.close()
        await client.wait_closed()
    finally:
        await server.close()


@async_test
async def test_graceful_shutdown_answers_in_flight() -> None:
    server = await start_tcp_server(EchoDispatcher)
    client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher())
    quick = asyncio.ensure_future(client.peer.request("slow", {"delay": 0.2}))
    stuck = asyncio.ensure_future(client.peer.request("slow", {"delay": 30}))
    await asyncio.sleep(0.05)
    await server.close(grace=0.5)
    assert (await quick)["slept"] == 0.2
    with pytest.raises(Exception) as info:
        await stuck
    assert getattr(info.value, "code", None) == -32000
    await asyncio.wait_for(client.wait_closed(), 2)
    # no longer accepting
    with pytest.raises(OSError):
        await connect_tcp("127.0.0.1", server.port, EchoDispatcher())


@async_test
async def test_half_close_still_answers() -> None:
    server = await start_tcp_server(EchoDispatcher)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(req(1, "slow", {"delay": 0.1}) + req(2, "echo", {}))
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 5)
        assert sorted(json.loads(x)["id"] for x in data.splitlines()) == [1, 2]
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()


def _self_signed(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        return str(cert), str(key)
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(pkey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(pkey, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert), str(key)


def test_tls_round_trip(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        server = await start_tcp_server(EchoDispatcher, tls=(certfile, keyfile))
        try:
            ctx = ssl.create_default_context(cafile=certfile)
            client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher(), tls=ctx, server_hostname="localhost")
            assert await client.peer.request("echo", {"secure": True}) == {"secure": True}
            assert client.transport.get_extra_info("ssl_object") is not None  # type: ignore[union-attr]
            (conn,) = server.protocols
            sock = conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            # an untrusting client fails the handshake; the server keeps serving
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect_tcp("127.0.0.1", server.port, EchoDispatcher(), tls=True, server_hostname="localhost")
            assert await client.peer.request("echo", {"n": 2}) == {"n": 2}
            client.close()
            await client.wait_closed()
        finally:
            await server.close()

    run()


def test_a_silent_tls_client_is_cut_after_the_handshake_timeout(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        server = await start_tcp_server(EchoDispatcher, tls=(certfile, keyfile), max_connections=1,
                                        tls_handshake_timeout=0.3)
        try:
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # no ClientHello
            t0 = loop.time()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert loop.time() - t0 < 2.0
            writer.close()
            await asyncio.sleep(0.2)  # the slot it held is free again
            ctx = ssl.create_default_context(cafile=certfile)
            client = await connect_tcp("127.0.0.1", server.port, EchoDispatcher(), tls=ctx, server_hostname="localhost")
            assert await client.peer.request("echo", {"ok": 1}) == {"ok": 1}  # type: ignore[union-attr]
            assert server.refused == 0
            client.close()
            await client.wait_closed()
        finally:
            await server.close()

    run()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32", reason="POSIX signals")
@async_test
async def test_serve_forever_sigterm_is_graceful() -> None:
    env = dict(os.environ, MCPFAST_TEST_GRACE="0.5")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("tcp_server.py")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        header = await asyncio.wait_for(proc.stdout.readline(), 10)  # type: ignore[union-attr]
        port = int(header.split()[1])
        client = await connect_tcp("127.0.0.1", port, EchoDispatcher())
        quick = asyncio.ensure_future(client.peer.request("slow", {"delay": 0.2}))
        stuck = asyncio.ensure_future(client.peer.request("slow", {"delay": 30}))
        await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert (await asyncio.wait_for(quick, 5))["slept"] == 0.2
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(stuck, 5)
        assert getattr(info.value, "code", None) == -32000
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert b"clean exit" in await proc.stderr.read()  # type: ignore[union-attr]
        await asyncio.wait_for(client.wait_closed(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
