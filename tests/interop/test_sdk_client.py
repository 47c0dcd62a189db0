"""Interoperability: the official Python SDK's client (``mcp``) against an mcpfast server over stdio.

The server is ``server_app.py`` in a subprocess; the client is the SDK's ``Client`` over its own
``stdio_client`` transport (and once its lower-level ``ClientSession``). Every scenario runs in
both protocol eras, chosen the way the SDK chooses them:

* ``legacy``: ``Client(mode="legacy")`` -> ``initialize`` at 2025-11-25, then
  ``notifications/initialized``; requests carry no ``_meta`` envelope;
* ``modern``: ``Client(mode="auto")`` (the SDK's default) -> the ``server/discover`` probe
  succeeds, the client adopts 2026-07-28 and stamps every request with the ``_meta`` envelope
  (protocol version, client info, client capabilities); no handshake at all.

The SDK's transport is wrapped in a tap that records every JSON-RPC message both ways (as the
SDK serialises and parses them), so the tests check what crossed the pipe as well as what the
SDK made of it.

``mcp`` is a test dependency: a missing SDK is an ImportError, not a skip. The server runs on
the twins this test session runs on: ``MCPFAST_*`` variables (``MCPFAST_NO_EXTENSIONS``) are
passed on to it, and the ``whoami`` tool reports back which ones it got.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import SessionMessage

from mcpfast.testing import async_test

from . import server_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")

SERVER = str(Path(__file__).with_name("server_app.py"))
NO_EXTENSIONS = os.environ.get("MCPFAST_NO_EXTENSIONS", "") not in ("", "0")

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"

CLIENT_INFO = types.Implementation(name="sdk-interop", version="9.9")

#: the SDK's ``mode=`` for each era (``auto`` probes ``server/discover``, which mcpfast answers)
ERAS = [pytest.param("legacy", id="legacy"), pytest.param("auto", id="modern")]


def server_params() -> StdioServerParameters:
    """The server subprocess. The SDK passes only a few safe variables (HOME, PATH...) plus
    ``env``: every MCPFAST_* variable, and the path settings that make it import the same
    installed mcpfast as this process, must be given explicitly."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MCPFAST_") or k in ("PYTHONPATH", "PYTHONSAFEPATH")}
    return StdioServerParameters(command=sys.executable, args=[SERVER], env=env)


# ------------------------------------------------------------------------------ the wire tap

Wire = list[tuple[str, dict[str, Any]]]  # ("out" | "in", the JSON-RPC message as on the wire)


def _as_wire(item: Any) -> dict[str, Any]:
    if isinstance(item, SessionMessage):
        # what stdio_client writes (model_dump_json(by_alias=True, exclude_unset=True)); an
        # incoming message parses into a model whose params/result are the raw JSON objects
        return item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
    return {"transport-error": repr(item)}


class _TapRead:
    def __init__(self, inner: Any, wire: Wire) -> None:
        self._inner = inner
        self._wire = wire

    def __getattr__(self, name: str) -> Any:  # last_context and friends
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        item = await self._inner.receive()
        self._wire.append(("in", _as_wire(item)))
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _TapRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _TapRead:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class _TapWrite:
    def __init__(self, inner: Any, wire: Wire) -> None:
        self._inner = inner
        self._wire = wire

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send(self, item: Any, /) -> None:
        self._wire.append(("out", _as_wire(item)))
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _TapWrite:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


@asynccontextmanager
async def tapped_stdio(wire: Wire) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's ``stdio_client`` with every message recorded in ``wire``."""
    async with stdio_client(server_params()) as (read, write):
        yield _TapRead(read, wire), _TapWrite(write, wire)


class Conn:
    """An SDK ``Client`` connected to the server, with the wire and the log messages it got."""

    def __init__(self, client: Client, wire: Wire, logs: list[types.LoggingMessageNotificationParams]) -> None:
        self.client = client
        self.wire = wire
        self.logs = logs

    @property
    def modern(self) -> bool:
        return self.client.protocol_version == MODERN_VERSION

    def sent(self, method: str | None = None) -> list[dict[str, Any]]:
        return [m for d, m in self.wire if d == "out" and "method" in m and (method is None or m["method"] == method)]

    def received(self) -> list[dict[str, Any]]:
        return [m for d, m in self.wire if d == "in"]

    def response_to(self, request: dict[str, Any]) -> dict[str, Any]:
        [resp] = [m for m in self.received() if "method" not in m and m.get("id") == request["id"]]
        return resp


@asynccontextmanager
async def connect(mode: str, **kw: Any) -> AsyncIterator[Conn]:
    wire: Wire = []
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    kw.setdefault("log_level", "debug")  # the 2026-07-28 opt-in; no effect on a legacy session
    client = Client(tapped_stdio(wire), mode=mode, logging_callback=on_log, client_info=CLIENT_INFO,
                    read_timeout_seconds=10, **kw)
    try:
        async with client:
            conn = Conn(client, wire, logs)
            assert client.protocol_version == (LEGACY_VERSION if mode == "legacy" else MODERN_VERSION)
            yield conn
    except BaseExceptionGroup as group:
        # the SDK's task groups wrap a failing assertion of the test body: report it bare
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if leaf is group:
            raise
        raise leaf from None


def text_of(result: Any) -> str:
    [block] = result.content
    assert isinstance(block, types.TextContent), block
    return block.text


# ------------------------------------------------------------------------------ negotiation


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_negotiation(mode: str) -> None:
    async with connect(mode) as c:
        client = c.client
        first = c.sent()[0]
        if not c.modern:
            # initialize at the SDK's latest handshake version, echoed back, then initialized
            assert [m["method"] for m in c.sent()][:2] == ["initialize", "notifications/initialized"]
            assert first["params"]["protocolVersion"] == LEGACY_VERSION
            assert first["params"]["clientInfo"] == {"name": "sdk-interop", "version": "9.9"}
            result = c.response_to(first)["result"]
            assert result["protocolVersion"] == LEGACY_VERSION
            assert result["serverInfo"] == {"name": server_app.SERVER_NAME, "version": server_app.SERVER_VERSION}
            assert c.sent("server/discover") == []
            assert client.session.initialize_result is not None and client.session.discover_result is None
        else:
            # the probe: server/discover with the envelope at 2026-07-28, no handshake ever
            assert first["method"] == "server/discover"
            meta = first["params"]["_meta"]
            assert meta[PROTOCOL_VERSION_KEY] == MODERN_VERSION
            assert meta[CLIENT_INFO_KEY] == {"name": "sdk-interop", "version": "9.9"}
            assert CLIENT_CAPABILITIES_KEY in meta
            assert c.sent("initialize") == [] and c.sent("notifications/initialized") == []
            discover = client.session.discover_result
            assert discover is not None and client.session.initialize_result is None
            assert discover.supported_versions == [MODERN_VERSION]
            assert discover.result_type == "complete" and discover.cache_scope == "private"
            raw = c.response_to(first)["result"]
            assert raw["_meta"][SERVER_INFO_KEY] == {"name": server_app.SERVER_NAME, "version": server_app.SERVER_VERSION}
        assert client.server_info is not None
        assert (client.server_info.name, client.server_info.version) == (server_app.SERVER_NAME, server_app.SERVER_VERSION)
        caps = client.server_capabilities
        assert caps.tools is not None and caps.prompts is not None and caps.resources is not None
        assert caps.completions is not None and caps.logging is not None
        assert client.instructions == server_app.INSTRUCTIONS


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_the_server_sees_the_era_and_runs_the_selected_twins(mode: str) -> None:
    async with connect(mode) as c:
        seen = json.loads(text_of(await c.client.call_tool("whoami", {})))
        assert seen == {
            "protocolVersion": MODERN_VERSION if c.modern else LEGACY_VERSION,
            "modern": c.modern,
            "clientName": "sdk-interop",  # from initialize, or from this request's _meta envelope
            "extensions": not NO_EXTENSIONS,  # MCPFAST_NO_EXTENSIONS reached the subprocess
        }


@async_test
async def test_pinned_modern_version_needs_no_probe() -> None:
    # Client(mode="2026-07-28") adopts the version with no wire traffic: the first request the
    # server ever sees is a plain stateless tools/call
    async with connect(MODERN_VERSION) as c:
        assert text_of(await c.client.call_tool("echo", {"message": "first"})) == "first"
        assert c.sent()[0]["method"] == "tools/call"
        assert c.sent()[0]["params"]["_meta"][PROTOCOL_VERSION_KEY] == MODERN_VERSION
        assert c.sent("server/discover") == [] and c.sent("initialize") == []


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_low_level_client_session(mode: str) -> None:
    # the same through ClientSession: initialize() for the handshake, discover() for 2026-07-28
    async with (
        stdio_client(server_params()) as (read, write),
        ClientSession(read, write, client_info=CLIENT_INFO) as session,
    ):
        if mode == "legacy":
            init = await session.initialize()
            assert init.protocol_version == LEGACY_VERSION
        else:
            disc = await session.discover()
            assert disc.supported_versions == [MODERN_VERSION]
        assert session.protocol_version == (LEGACY_VERSION if mode == "legacy" else MODERN_VERSION)
        result = await session.call_tool("echo", {"message": "low level"})
        assert text_of(result) == "low level" and result.is_error is False
        add = await session.call_tool("add", {"a": 40, "b": 2})
        assert add.structured_content == {"sum": 42, "operands": [40, 2]}


# ------------------------------------------------------------------------------ tools


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_list_tools(mode: str) -> None:
    async with connect(mode) as c:
        listed = await c.client.list_tools()
        tools = {t.name: t for t in listed.tools}
        assert set(tools) == {"echo", "add", "countdown", "fail", "whoami"}
        assert listed.next_cursor is None
        echo = tools["echo"]
        assert echo.input_schema == {
            "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"],
        }
        assert echo.description == "Return the message unchanged."
        assert echo.output_schema is None
        assert tools["add"].output_schema == server_app.ADD_OUTPUT_SCHEMA
        raw = c.response_to(c.sent("tools/list")[0])["result"]
        if c.modern:
            assert raw["resultType"] == "complete" and raw["cacheScope"] == "private"
            assert isinstance(raw["ttlMs"], int)
        else:
            assert "resultType" not in raw and "ttlMs" not in raw


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_call_echo_and_add(mode: str) -> None:
    async with connect(mode) as c:
        res = await c.client.call_tool("echo", {"message": "héllo wörld ✓"})
        assert res.is_error is False and text_of(res) == "héllo wörld ✓"
        assert res.structured_content is None

        res = await c.client.call_tool("add", {"a": 2, "b": 3})
        assert res.is_error is False
        assert res.structured_content == {"sum": 5, "operands": [2, 3]}  # validated by the SDK too
        assert json.loads(text_of(res)) == res.structured_content  # the text mirror of it

        [call] = [m for m in c.sent("tools/call") if m["params"]["name"] == "add"]
        assert call["params"]["arguments"] == {"a": 2, "b": 3}
        raw = c.response_to(call)["result"]
        assert raw["structuredContent"] == {"sum": 5, "operands": [2, 3]}


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_failing_tool_is_an_error_result(mode: str) -> None:
    async with connect(mode) as c:
        res = await c.client.call_tool("fail", {"reason": "boom"})
        assert res.is_error is True
        assert text_of(res) == "Error executing tool fail"  # an unexpected exception's text is not sent
        raw = c.response_to(c.sent("tools/call")[-1])
        assert "error" not in raw and raw["result"]["isError"] is True  # a result, not a JSON-RPC error


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_unknown_tool_is_a_protocol_error(mode: str) -> None:
    async with connect(mode) as c:
        with pytest.raises(MCPError) as info:
            await c.client.call_tool("no_such_tool", {})
        assert info.value.code == types.INVALID_PARAMS
        assert "Unknown tool" in info.value.error.message and "no_such_tool" in info.value.error.message
        assert info.value.error.data == {"name": "no_such_tool"}


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_invalid_arguments_are_a_tool_execution_error(mode: str) -> None:
    async with connect(mode) as c:
        try:
            res = await c.client.call_tool("add", {"a": 2, "b": "three"})
        except MCPError as exc:  # what mcpfast's ServerCore did before it followed SEP-1303: -32602
            outcome: tuple[Any, ...] = ("JSON-RPC error", exc.code, exc.error.message)
        else:
            outcome = ("result", res.is_error, text_of(res))
    assert outcome[:2] == ("result", True), outcome
    assert "'b'" in outcome[2], outcome


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_progress_and_log_messages(mode: str) -> None:
    async with connect(mode) as c:
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append((p, total, message))

        res = await c.client.call_tool("countdown", {"steps": 3}, progress_callback=on_progress)
        assert text_of(res) == "counted 3"
        assert progress == [(1.0, 3.0, "step 1/3"), (2.0, 3.0, "step 2/3"), (3.0, 3.0, "step 3/3")]
        assert [(m.level, m.logger, m.data) for m in c.logs] == [
            ("debug", "countdown", {"start": 3}),
            ("info", "countdown", "step 1"),
            ("info", "countdown", "step 2"),
            ("info", "countdown", "step 3"),
            ("warning", "countdown", "done"),
        ]
        # on the wire: the token the SDK put in the request is the one every notification names,
        # and every notification precedes the response
        [call] = c.sent("tools/call")
        token = call["params"]["_meta"]["progressToken"]
        if c.modern:
            assert call["params"]["_meta"]["io.modelcontextprotocol/logLevel"] == "debug"
        notes = [(i, m) for i, (d, m) in enumerate(c.wire) if d == "in" and m.get("method") == "notifications/progress"]
        assert [m["params"]["progressToken"] for _, m in notes] == [token] * 3
        answered = next(i for i, (d, m) in enumerate(c.wire) if d == "in" and m.get("id") == call["id"] and "method" not in m)
        assert all(i < answered for i, _ in notes)


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_log_threshold(mode: str) -> None:
    # legacy: the session's logging/setLevel; 2026-07-28: the per-request _meta logLevel opt-in
    kw = {} if mode == "legacy" else {"log_level": "warning"}
    async with connect(mode, **kw) as c:
        if mode == "legacy":
            with pytest.warns(MCPDeprecationWarning):
                await c.client.set_logging_level("warning")
            assert c.sent("logging/setLevel")[0]["params"] == {"level": "warning"}
        assert text_of(await c.client.call_tool("countdown", {"steps": 2})) == "counted 2"
        assert [(m.level, m.data) for m in c.logs] == [("warning", "done")]


@async_test
async def test_modern_log_messages_are_opt_in() -> None:
    async with connect("auto", log_level=None) as c:
        assert text_of(await c.client.call_tool("countdown", {"steps": 2})) == "counted 2"
        assert c.logs == []
        assert [m for d, m in c.wire if m.get("method") == "notifications/message"] == []


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_ping_only_in_a_legacy_session(mode: str) -> None:
    async with connect(mode) as c:
        with pytest.warns(MCPDeprecationWarning):
            if mode == "legacy":
                assert isinstance(await c.client.send_ping(), types.EmptyResult)
            else:
                with pytest.raises(MCPError) as info:
                    await c.client.send_ping()  # removed in 2026-07-28
                assert info.value.code == types.METHOD_NOT_FOUND


# ------------------------------------------------------------------------------ resources


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_resources_and_template(mode: str) -> None:
    async with connect(mode) as c:
        [res] = (await c.client.list_resources()).resources
        assert (res.uri, res.name, res.mime_type, res.description) == (
            "test://static", "static", "text/plain", "A fixed text.")
        [tpl] = (await c.client.list_resource_templates()).resource_templates
        assert (tpl.uri_template, tpl.name, tpl.mime_type) == ("test://item/{id}", "item", "application/json")

        [content] = (await c.client.read_resource("test://static")).contents
        assert isinstance(content, types.TextResourceContents)
        assert (content.uri, content.mime_type, content.text) == ("test://static", "text/plain", "static content")

        [content] = (await c.client.read_resource("test://item/42")).contents
        assert isinstance(content, types.TextResourceContents)
        assert (content.uri, content.mime_type) == ("test://item/42", "application/json")
        assert json.loads(content.text) == {"id": "42", "label": "item 42"}

        for read in c.sent("resources/read"):
            raw = c.response_to(read)["result"]
            if c.modern:
                assert raw["resultType"] == "complete" and raw["_meta"][SERVER_INFO_KEY]["name"] == server_app.SERVER_NAME
                assert raw["ttlMs"] == 0 and raw["cacheScope"] == "private"
            else:
                assert set(raw) == {"contents"}


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_unknown_resource_is_an_error(mode: str) -> None:
    async with connect(mode) as c:
        with pytest.raises(MCPError) as info:
            await c.client.read_resource("test://nope")
        # <= 2025-11-25: -32002 (resource not found); 2026-07-28: -32602 with data.uri (SEP-2164)
        assert info.value.code == (types.INVALID_PARAMS if c.modern else -32002)
        assert info.value.error.data == {"uri": "test://nope"}
        assert "test://nope" in info.value.error.message


# ------------------------------------------------------------------------------ prompts, completion


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_prompts(mode: str) -> None:
    async with connect(mode) as c:
        [prompt] = (await c.client.list_prompts()).prompts
        assert prompt.name == "greet" and prompt.description == "Greet someone."
        assert prompt.arguments is not None
        assert [(a.name, a.required) for a in prompt.arguments] == [("name", True), ("style", None)]

        got = await c.client.get_prompt("greet", {"name": "Ann", "style": "warm"})
        assert got.description == "Greet someone."
        assert [(m.role, m.content) for m in got.messages] == [
            ("user", types.TextContent(type="text", text="Hello, Ann! (warm)")),
            ("assistant", types.TextContent(type="text", text="Hi, how can I help?")),
        ]

        with pytest.raises(MCPError) as info:
            await c.client.get_prompt("greet", {})  # the required argument is missing
        assert info.value.code == types.INVALID_PARAMS
        assert info.value.error.data == {"argument": "name"}

        with pytest.raises(MCPError) as info:
            await c.client.get_prompt("no_such_prompt", {})
        assert info.value.code == types.INVALID_PARAMS


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_completion(mode: str) -> None:
    async with connect(mode) as c:
        done = await c.client.complete(types.PromptReference(type="ref/prompt", name="greet"),
                                       {"name": "name", "value": "al"})
        assert done.completion.values == ["alice", "alfred"]
        assert done.completion.total is None and done.completion.has_more is None

        done = await c.client.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="test://item/{id}"),
            {"name": "id", "value": "1"}, context_arguments={"other": "x"})
        assert done.completion.values == ["1", "12", "123"]
        assert (done.completion.total, done.completion.has_more) == (3, False)

        last = c.sent("completion/complete")[-1]
        assert last["params"]["context"] == {"arguments": {"other": "x"}}
        raw = c.response_to(last)["result"]
        assert raw["completion"] == {"values": ["1", "12", "123"], "total": 3, "hasMore": False}


# ------------------------------------------------------------------------------ the envelope


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_every_message_is_of_its_era(mode: str) -> None:
    """After a mixed session: in 2026-07-28 every request carries the envelope and every result
    says ``resultType: complete`` and names the server; in a legacy session neither appears."""
    async with connect(mode) as c:
        client = c.client
        await client.list_tools()
        await client.call_tool("echo", {"message": "x"})
        await client.call_tool("fail", {"reason": "y"})
        await client.list_prompts()
        await client.get_prompt("greet", {"name": "Bo"})
        await client.list_resources()
        await client.read_resource("test://item/1")
        await client.complete(types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": ""})

        requests = [m for m in c.sent() if "id" in m]
        responses = [m for m in c.received() if "method" not in m]
        assert len(requests) == len(responses) >= 9
        assert all("result" in r for r in responses), [r for r in responses if "result" not in r]
        for req in requests:
            meta = (req.get("params") or {}).get("_meta") or {}
            res = c.response_to(req)["result"]
            if c.modern:
                assert meta[PROTOCOL_VERSION_KEY] == MODERN_VERSION, req
                assert type(meta[CLIENT_CAPABILITIES_KEY]) is dict, req
                assert res["resultType"] == "complete", (req["method"], res)
                assert res["_meta"][SERVER_INFO_KEY] == {
                    "name": server_app.SERVER_NAME, "version": server_app.SERVER_VERSION}, req["method"]
            else:
                assert PROTOCOL_VERSION_KEY not in meta, req
                assert "resultType" not in res and SERVER_INFO_KEY not in (res.get("_meta") or {}), (req["method"], res)
        notes = [m["method"] for m in c.sent() if "id" not in m]
        assert notes == ([] if c.modern else ["notifications/initialized"])
