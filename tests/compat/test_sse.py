"""The deprecated HTTP+SSE transport (2024-11-05): mcpfast's ``sse_app()`` against the SDK's,
serving the same server file, seen by the SDK's own ``sse_client``.

Both servers run in this process under uvicorn on 127.0.0.1 (an ephemeral port each). The
scripted steps of ``test_compat`` for ``tools_server`` and ``context_server`` are replayed over
SSE in both client modes and compared as there (same normalisation); then the transport's own
answers (statuses of the error paths, the endpoint event) are compared request by request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sys
import types as pytypes
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2 as httpx
import pytest

from mcpfast import Context, MCPServer

from ..support.served import UvicornInThread
from . import recorder, sdk
from .run_server import source_for
from .test_compat import SERVERS, STEPS, normalise

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX only, as the rest of the suite"),
    # the SDK's server runs in this process here (not a subprocess as in test_compat): its
    # Context.info warns that logging is deprecated at 2026-07-28, which must not fail its tool
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

SSE_SERVERS = ("tools_server", "context_server")


def _load(impl: str, server: str) -> Any:
    """The server file's ``mcp`` object, built by the SDK or (import swapped) by mcpfast."""
    path = SERVERS / f"{server}.py"
    name = f"_sse_{impl}_{server}"
    module = pytypes.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # pydantic resolves annotations through the module
    exec(compile(source_for(impl, path), str(path), "exec"), module.__dict__)
    return module.mcp


def _served(app: Any) -> UvicornInThread:
    """``app`` under uvicorn; its open SSE streams get 2 s to end at shutdown."""
    return UvicornInThread(app, "", graceful=2)


@contextlib.contextmanager
def serving(server: str) -> Iterator[dict[str, UvicornInThread]]:
    with _served(_load("sdk", server).sse_app()) as theirs, _served(_load("mcpfast", server).sse_app()) as ours:
        yield {"sdk": theirs, "mcpfast": ours}


@functools.cache
def recorded(server: str) -> dict[tuple[str, str], dict[str, recorder.Outcome]]:
    """The scripted steps of ``server`` over SSE, per (impl, mode)."""
    from mcp.client.sse import sse_client

    steps = [(sid, method, args) for sid, method, args, kind in STEPS[server] if kind != "interactive"]
    out = {}
    with serving(server) as served:
        for impl, srv in served.items():
            for mode in sdk.MODES:
                url = srv.base + "/sse"
                out[(impl, mode)] = asyncio.run(recorder.record(impl, SERVERS / f"{server}.py", mode, steps,
                                                                transport=sse_client(url)))
    return out


def _cases() -> list[Any]:
    return [pytest.param(server, sid, kind, mode, id=f"{server}-{sid}-{mode}")
            for server in SSE_SERVERS for sid, _m, _a, kind in STEPS[server] if kind != "interactive"
            for mode in sdk.MODES]


@pytest.mark.parametrize(("server", "step", "kind", "mode"), _cases())
def test_same_answer_over_sse(server: str, step: str, kind: str, mode: str) -> None:
    """Each step answers over SSE as over stdio: compared with the SDK's SSE server the way
    ``test_compat.test_same_answer`` compares them (it is reused for the comparison)."""
    from . import test_compat

    rec = recorded(server)
    assert rec[("sdk", mode)][step], f"the SDK's SSE server gave no answer to {step}"
    theirs, ours = rec[("sdk", mode)][step], rec[("mcpfast", mode)][step]
    test_compat.compare(kind, server, step, mode, theirs, ours)
    if kind == "list":  # and every item (test_compat compares them one by one)
        assert test_compat._items(normalise(ours))[1] == test_compat._items(normalise(theirs))[1]


@pytest.mark.parametrize("mode", sdk.MODES)
@pytest.mark.parametrize("server", SSE_SERVERS)
def test_same_handshake_over_sse(server: str, mode: str) -> None:
    from . import test_compat

    rec = recorded(server)
    test_compat.compare_handshake(server, mode, rec[("sdk", mode)]["@handshake"], rec[("mcpfast", mode)]["@handshake"])


# ------------------------------------------------------------------------------ the transport


async def _endpoint(client: httpx.AsyncClient, url: str, **kw: Any) -> AsyncIterator[str]:
    """Open the event stream and yield the data of each event (the first: the endpoint)."""
    async with client.stream("GET", url, **kw) as response:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        data = None
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line[6:]
            elif line == "" and data is not None:
                yield data
                data = None


INIT = ('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05",'
        '"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}')
JSON = {"content-type": "application/json"}

#: (name, how to alter the POST: a function of (url with session) -> (method, url, headers, body))
POSTS: list[tuple[str, Any]] = [
    ("ok", lambda u: ("POST", u, JSON, INIT)),
    ("no-session-id", lambda u: ("POST", u.split("?")[0], JSON, INIT)),
    ("bad-session-id", lambda u: ("POST", u.split("?")[0] + "?session_id=zz", JSON, INIT)),
    ("unknown-session", lambda u: ("POST", u.split("?")[0] + "?session_id=" + "0" * 32, JSON, INIT)),
    ("not-json", lambda u: ("POST", u, JSON, "{nope")),
    ("not-json-rpc", lambda u: ("POST", u, JSON, '{"hello": 1}')),
    ("text-content-type", lambda u: ("POST", u, {"content-type": "text/plain"}, INIT)),
    ("get-messages", lambda u: ("GET", u, {}, None)),
    ("bad-host", lambda u: ("POST", u, {**JSON, "host": "evil.example"}, INIT)),
    ("bad-origin", lambda u: ("POST", u, {**JSON, "origin": "http://evil.example"}, INIT)),
    ("too-large", lambda u: ("POST", u, JSON, '{"x": "' + "a" * (4 * 1024 * 1024 + 10) + '"}')),
]


async def _post_outcomes(base: str) -> dict[str, tuple[int, str]]:
    out = {}
    async with httpx.AsyncClient(timeout=10) as client:
        stream = _endpoint(client, base + "/sse")
        endpoint = await stream.__anext__()
        out["@endpoint"] = (0, re.sub("[0-9a-f]{32}", "<hex>", endpoint))
        url = base + endpoint
        for name, alter in POSTS:
            method, target, headers, body = alter(url)
            r = await client.request(method, target, headers=headers, content=body)
            out[name] = (r.status_code, r.text)
        answer = await asyncio.wait_for(stream.__anext__(), 10)  # the "ok" initialize, on the stream
        out["@answer"] = (0, '"id":1' if '"id":1' in answer.replace(" ", "") and '"result"' in answer else answer)
        await stream.aclose()
        # once the stream is gone, its session is too
        for _ in range(100):
            r = await client.post(url, headers=JSON, content=INIT)
            if r.status_code == 404:
                break
            await asyncio.sleep(0.02)
        out["after-close"] = (r.status_code, r.text)
        r = await client.post(base + "/sse", headers=JSON, content=INIT)
        out["post-sse"] = (r.status_code, "")
    return out


@functools.cache
def transport_outcomes() -> dict[str, dict[str, tuple[int, str]]]:
    with serving("tools_server") as served:
        return {impl: asyncio.run(_post_outcomes(srv.base)) for impl, srv in served.items()}


@pytest.mark.parametrize("name", ["@endpoint", "@answer", *[n for n, _ in POSTS], "after-close", "post-sse"])
def test_same_transport_answer(name: str) -> None:
    """Each request gets the SDK's status; the plain-text bodies are the SDK's too, except the
    Host/Origin refusals (mcpfast's guard answers a JSON-RPC error naming the setting, as on
    Streamable HTTP) and a body that is not JSON-RPC (mcpfast says why after the SDK's text)."""
    outcomes = transport_outcomes()
    (their_status, their_text), (our_status, our_text) = outcomes["sdk"][name], outcomes["mcpfast"][name]
    assert our_status == their_status, (name, outcomes["sdk"][name], outcomes["mcpfast"][name])
    if name in ("bad-host", "bad-origin"):
        assert "Invalid" in their_text and ("evil.example" in our_text)
    elif name in ("not-json", "not-json-rpc"):
        assert our_text.startswith(their_text), (their_text, our_text)
    elif name not in ("get-messages", "post-sse"):
        assert our_text == their_text


def test_the_endpoint_event() -> None:
    assert transport_outcomes()["mcpfast"]["@endpoint"] == (0, "/messages/?session_id=<hex>")


# ------------------------------------------------------------------------------ mcpfast only


def test_paths_mount_path_and_root_path() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = MCPServer("paths")
    sse = app.sse_app(sse_path="/events", message_path="/post/", mount_path="/api")
    parent = Starlette(routes=[Mount("/outer", app=app.sse_app())])

    async def main() -> tuple[str, str]:
        out = []
        for asgi, url in ((sse, "/events"), (parent, "/outer/sse")):
            with _served(asgi) as served:
                async with httpx.AsyncClient(timeout=10) as client:
                    stream = _endpoint(client, served.base + url)
                    out.append(await stream.__anext__())
                    await stream.aclose()
        return out[0], out[1]

    direct, mounted = asyncio.run(main())
    assert re.fullmatch("/api/post/\\?session_id=[0-9a-f]{32}", direct), direct
    assert re.fullmatch("/outer/messages/\\?session_id=[0-9a-f]{32}", mounted), mounted


def test_run_sse_async_serves_the_sdk_client_and_stops_with_a_stream_open() -> None:
    from mcp import Client
    from mcp.client.sse import sse_client

    app = MCPServer("sse-run")
    seen = []

    @app.tool()
    async def slow(ctx: Context) -> str:
        await ctx.info("working")
        return "done"

    async def main() -> None:
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(app.run_sse_async(port=0, ready=ready.set_result))
        info = await asyncio.wait_for(ready, 10)

        async def on_log(params: Any) -> None:
            seen.append(params.data)

        async with Client(sse_client(f"http://127.0.0.1:{info.port}/sse"), mode="legacy",
                          logging_callback=on_log) as client:
            result = await client.call_tool("slow", {})
            assert result.content[0].text == "done"
        # a raw stream left open: stopping the server must not wait for it
        async with httpx.AsyncClient(timeout=10) as raw:
            stream = _endpoint(raw, f"http://127.0.0.1:{info.port}/sse")
            await stream.__anext__()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
            await stream.aclose()

    asyncio.run(main())
    assert seen == ["working"]


def test_run_sse_is_run_sse_async(monkeypatch: pytest.MonkeyPatch) -> None:
    app = MCPServer("t")
    calls: list[dict[str, Any]] = []

    async def run_sse_async(**kw: Any) -> None:
        calls.append(kw)

    monkeypatch.setattr(app, "run_sse_async", run_sse_async)
    app.run("sse", mount_path="/x", port=0, sse_path="/events")
    assert calls == [{"mount_path": "/x", "port": 0, "sse_path": "/events"}]


@pytest.mark.parametrize("bad", ["http://elsewhere/messages/", "//elsewhere/x", "/m?x=1", "/m#f"])
def test_paths_must_be_paths(bad: str) -> None:
    with pytest.raises(ValueError, match="must be a path"):
        MCPServer("p").sse_app(message_path=bad)


def test_slow_readers_are_cut_off() -> None:
    from mcpfast.transports.http.sse_legacy import LegacySSEApp

    class Echo:
        def on_request(self, peer: Any, request: Any) -> Any:
            return {"echo": "x" * 1000}

        def on_notification(self, peer: Any, note: Any) -> None:
            pass

        def on_batch(self, peer: Any, batch: Any) -> bool:
            return False

        closed = 0

        def on_close(self, peer: Any, exc: Any) -> None:
            Echo.closed += 1

    sse = LegacySSEApp(Echo(), max_buffered=10_000)

    async def main() -> int:
        sent: list[Any] = []
        gate = asyncio.Event()

        async def receive() -> Any:
            await gate.wait()  # the client never goes away on its own
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)
            if len(sent) >= 2:
                await asyncio.sleep(3600)  # a reader that stopped reading after the endpoint event

        stream_task = asyncio.ensure_future(sse({"type": "http", "method": "GET", "path": "/sse", "headers": [],
                                                 "query_string": b""}, receive, send))
        while len(sent) < 2:
            await asyncio.sleep(0.01)
        sid = re.search(rb"session_id=([0-9a-f]{32})", sent[1]["body"]).group(1)  # type: ignore[union-attr]

        async def post(n: int) -> int:
            out: list[Any] = []
            body = b'{"jsonrpc":"2.0","id":%d,"method":"x"}' % n

            async def recv() -> Any:
                return {"type": "http.request", "body": body, "more_body": False}

            async def snd(message: Any) -> None:
                out.append(message)

            await sse({"type": "http", "method": "POST", "path": "/messages/", "headers": [(b"content-type",
                       b"application/json")], "query_string": b"session_id=" + sid}, recv, snd)
            return int(out[0]["status"])

        statuses = []
        for n in range(40):
            statuses.append(await post(n))
            await asyncio.sleep(0)
        stream_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream_task
        assert statuses[0] == 202 and statuses[-1] == 404, statuses  # closed once over the limit
        return sse.sessions

    assert asyncio.run(main()) == 0
    assert Echo.closed == 1


async def _asgi_post(app: Any, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> int:
    out: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        out.append(message)

    await app({"type": "http", "method": "POST", "path": "/messages/", "headers": headers, "query_string": query},
              receive, send)
    return int(out[0]["status"])


def test_host_guard_defaults_follow_the_bind_address_as_in_the_sdk() -> None:
    from mcp.server.transport_security import TransportSecuritySettings

    evil = [(b"host", b"evil.example"), (b"content-type", b"application/json")]
    app = MCPServer("g")
    assert asyncio.run(_asgi_post(app.sse_app(), evil)) == 421  # loopback: protected
    assert asyncio.run(_asgi_post(app.sse_app(host="0.0.0.0"), evil)) == 400  # (no session_id) not guarded
    allowed = app.sse_app(transport_security=TransportSecuritySettings(allowed_hosts=["evil.example"]))
    assert asyncio.run(_asgi_post(allowed, evil)) == 400
    off = app.sse_app(transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    assert asyncio.run(_asgi_post(off, evil)) == 400


def test_custom_routes_are_served_beside_the_transport() -> None:
    from starlette.responses import PlainTextResponse

    app = MCPServer("routes")

    @app.custom_route("/health", methods=["GET"])
    async def health(request: Any) -> Any:
        return PlainTextResponse("ok")

    async def main(base: str) -> tuple[str, str]:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(base + "/health")
            stream = _endpoint(client, base + "/sse")
            endpoint = await stream.__anext__()
            await stream.aclose()
            return r.text, endpoint

    with _served(app.sse_app()) as served:
        text, endpoint = asyncio.run(main(served.base))
    assert text == "ok" and endpoint.startswith("/messages/?session_id=")


def test_auth_is_refused_with_a_reason() -> None:
    app = MCPServer("a", auth=object())
    with pytest.raises(ValueError, match="Streamable HTTP"):
        app.sse_app()
