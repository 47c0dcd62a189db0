"""Tools, resources, prompts, completion and pagination, in both eras."""

from __future__ import annotations

import base64

import pytest

from mcpfast.errors import INVALID_PARAMS, METHOD_NOT_FOUND
from mcpfast.server import ToolResult
from mcpfast.testing import async_test

from .conftest import build_core
from .harness import Conn, err, make_core, ok

ERAS = ["legacy", "modern"]


async def open_conn(core, era):
    c = Conn(core)
    if era == "legacy":
        await c.initialize()
    return c


async def call(c, era, method, params=None, **kw):
    if era == "legacy":
        return await c.request(method, params)
    return await c.modern(method, params, **kw)


# ------------------------------------------------------------------------------ tools

@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_tools_list(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "tools/list"))
    names = [t["name"] for t in res["tools"]]
    assert names == ["add", "echo", "fail", "boom", "structured", "ask_name", "progress", "needs_sampling"]
    add = res["tools"][0]
    assert add == {"name": "add", "description": "Add two integers", "inputSchema": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}
    assert res["tools"][4]["outputSchema"]["properties"]["x"] == {"type": "integer"}
    assert "nextCursor" not in res


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_tools_call_sync_and_async(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}}))
    assert res["content"] == [{"type": "text", "text": "42"}]
    assert "isError" not in res
    res = ok(await call(c, era, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}))
    assert res["content"] == [{"type": "text", "text": "hi"}]


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_tools_call_validation(core, era):
    c = await open_conn(core, era)
    # by default (SEP-1303) a tool execution error the model can read and correct
    res = ok(await call(c, era, "tools/call", {"name": "add", "arguments": {"a": 1, "b": "2"}}))
    assert res["isError"] is True and "'b'" in res["content"][0]["text"]
    # invalid_arguments="error": JSON-RPC -32602 naming the argument
    core.invalid_arguments = "error"
    e = err(await call(c, era, "tools/call", {"name": "add", "arguments": {"a": 1}}), INVALID_PARAMS)
    assert "'b'" in e.message and e.data == {"argument": "b"}
    e = err(await call(c, era, "tools/call", {"name": "add", "arguments": {"a": 1, "b": "2"}}), INVALID_PARAMS)
    assert "'b'" in e.message and "integer" in e.message and "string" in e.message
    e = err(await call(c, era, "tools/call", {"name": "add", "arguments": {"a": True, "b": 2}}), INVALID_PARAMS)
    assert "boolean" in e.message
    e = err(await call(c, era, "tools/call", {"name": "add", "arguments": [1, 2]}), INVALID_PARAMS)
    e = err(await call(c, era, "tools/call", {"name": "nope"}), INVALID_PARAMS)
    assert "nope" in e.message
    err(await call(c, era, "tools/call", {}), INVALID_PARAMS)


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_tool_errors_become_is_error(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "tools/call", {"name": "fail"}))
    assert res["isError"] is True
    assert res["content"] == [{"type": "text", "text": "bad thing happened"}]
    res = ok(await call(c, era, "tools/call", {"name": "boom"}))
    assert res["isError"] is True
    assert res["content"] == [{"type": "text", "text": "Error executing tool boom"}]  # "kaboom" is logged only


@async_test
async def test_async_tool_errors_and_jsonrpc_errors():
    from mcpfast.errors import InvalidParams, ToolError

    core = make_core()

    async def afail():
        raise ToolError("async bad")

    async def proto():
        raise InvalidParams("deliberate", {"k": 1})

    core.add_tool("afail", afail, input_schema={"type": "object"})
    core.add_tool("proto", proto, input_schema={"type": "object"})
    c = await open_conn(core, "legacy")
    assert ok(await c.request("tools/call", {"name": "afail"}))["content"][0]["text"] == "async bad"
    e = err(await c.request("tools/call", {"name": "proto"}), INVALID_PARAMS)
    assert e.data == {"k": 1}


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_structured_content(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "tools/call", {"name": "structured", "arguments": {"n": 3}}))
    assert res["structuredContent"] == {"x": 3}
    assert res["content"] == [{"type": "text", "text": '{"x":3}'}]


@async_test
async def test_tool_result_shapes():
    core = make_core()
    schema = {"type": "object"}
    core.add_tool("none", lambda: None, input_schema=schema)
    core.add_tool("blocks", lambda: [{"type": "image", "data": "AA==", "mimeType": "image/png"}], input_schema=schema)
    core.add_tool("full", lambda: ToolResult(content=[], isError=True, _meta={"x": 1}), input_schema=schema)
    core.add_tool("obj", lambda: {"a": [1, 2]}, input_schema=schema)
    core.add_tool("conv", lambda: 5, input_schema=schema, convert=lambda v: {"content": [], "structuredContent": v})
    core.add_tool("extra", lambda a=0: a, input_schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    c = await open_conn(core, "legacy")

    async def res(name, **args):
        return ok(await c.request("tools/call", {"name": name, "arguments": args}))

    assert await res("none") == {"content": []}
    assert (await res("blocks"))["content"][0]["type"] == "image"
    assert await res("full") == {"content": [], "isError": True, "_meta": {"x": 1}}
    assert await res("obj") == {"content": [{"type": "text", "text": '{"a":[1,2]}'}]}
    assert await res("conv") == {"content": [], "structuredContent": 5}
    assert (await res("extra", a=4, junk=1))["content"][0]["text"] == "4"  # undeclared argument dropped
    m = ok(await c.modern("tools/call", {"name": "full"}))
    assert m["_meta"]["x"] == 1 and "io.modelcontextprotocol/serverInfo" in m["_meta"]


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_pagination(era):
    core = make_core(page_size=3)
    for i in range(7):
        core.add_tool(f"t{i}", lambda: "x", input_schema={"type": "object"})
    c = await open_conn(core, era)
    names, cursor, pages = [], None, 0
    while True:
        res = ok(await call(c, era, "tools/list", {"cursor": cursor} if cursor is not None else {}))
        pages += 1
        names += [t["name"] for t in res["tools"]]
        cursor = res.get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert names == [f"t{i}" for i in range(7)] and pages == 3
    e = err(await call(c, era, "tools/list", {"cursor": "bogus!"}), INVALID_PARAMS)
    assert "cursor" in e.message
    err(await call(c, era, "tools/list", {"cursor": 3}), INVALID_PARAMS)


@async_test
async def test_list_pages_are_rebuilt_after_changes():
    core = make_core()
    c = await open_conn(core, "legacy")
    assert ok(await c.request("tools/list")) == {"tools": []}
    core.add_tool("a", lambda: "x", input_schema={"type": "object"})
    assert [t["name"] for t in ok(await c.request("tools/list"))["tools"]] == ["a"]
    core.remove_tool("a")
    assert ok(await c.request("tools/list")) == {"tools": []}


# ------------------------------------------------------------------------------ resources

@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_resources_list_and_read(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "resources/list"))
    assert [r["uri"] for r in res["resources"]] == ["file:///readme.txt", "file:///logo.png"]
    assert res["resources"][0] == {"uri": "file:///readme.txt", "name": "readme", "mimeType": "text/plain"}
    res = ok(await call(c, era, "resources/templates/list"))
    assert [t["uriTemplate"] for t in res["resourceTemplates"]] == [
        "users://{id}/profile", "search://items{?q,limit}", "file:///docs/{+path}"]
    res = ok(await call(c, era, "resources/read", {"uri": "file:///readme.txt"}))
    assert res["contents"] == [{"uri": "file:///readme.txt", "text": "hello", "mimeType": "text/plain"}]
    res = ok(await call(c, era, "resources/read", {"uri": "file:///logo.png"}))
    assert base64.b64decode(res["contents"][0]["blob"]) == b"\x89PNG"


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_resource_templates_match(core, era):
    c = await open_conn(core, era)

    async def text(uri):
        return ok(await call(c, era, "resources/read", {"uri": uri}))["contents"][0]["text"]

    assert await text("users://42/profile") == "user 42"
    assert await text("users://a%20b/profile") == "user a b"
    assert await text("search://items?q=cats&limit=5") == "q=cats limit=5"
    assert await text("search://items") == "q= limit=10"
    assert await text("file:///docs/a/b/c.md") == "doc a/b/c.md"


@async_test
async def test_resource_not_found_per_era(core):
    c = await open_conn(core, "legacy")
    e = err(await c.request("resources/read", {"uri": "file:///missing"}), -32002)
    assert e.data == {"uri": "file:///missing"}
    e = err(await c.modern("resources/read", {"uri": "file:///missing"}), INVALID_PARAMS)
    assert e.data == {"uri": "file:///missing"}
    err(await c.modern("resources/read", {"uri": "users://1/other"}), INVALID_PARAMS)
    err(await c.modern("resources/read", {}), INVALID_PARAMS)


@async_test
async def test_async_resource_with_context():
    core = make_core()

    async def res(id, ctx):
        return {"text": f"{id} for {ctx.request_id}", "mimeType": "text/x"}

    core.add_resource_template("x://{id}", res, name="x", context_kwarg="ctx", ttl_ms=99)
    c = Conn(core)
    r = ok(await c.modern("resources/read", {"uri": "x://7"}))
    assert r["contents"] == [{"uri": "x://7", "text": "7 for 1", "mimeType": "text/x"}]
    assert r["ttlMs"] == 99


# ------------------------------------------------------------------------------ prompts

@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_prompts(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "prompts/list"))
    assert res["prompts"] == [{"name": "greet", "description": "Greets",
                               "arguments": [{"name": "who", "required": True}, {"name": "style"}]}]
    res = ok(await call(c, era, "prompts/get", {"name": "greet", "arguments": {"who": "Ann", "style": "warm"}}))
    assert res["messages"] == [{"role": "user", "content": {"type": "text", "text": "Hello Ann (warm)"}}]
    assert res["description"] == "Greets"
    e = err(await call(c, era, "prompts/get", {"name": "greet"}), INVALID_PARAMS)
    assert "'who'" in e.message
    err(await call(c, era, "prompts/get", {"name": "nope"}), INVALID_PARAMS)


@async_test
async def test_prompt_result_shapes():
    core = make_core()
    core.add_prompt("many", lambda: ["a", {"role": "assistant", "content": {"type": "text", "text": "b"}}])
    core.add_prompt("full", lambda: {"description": "d", "messages": []})

    async def later():
        return "async"

    core.add_prompt("later", later)
    c = await open_conn(core, "legacy")
    assert [m["role"] for m in ok(await c.request("prompts/get", {"name": "many"}))["messages"]] == ["user", "assistant"]
    assert ok(await c.request("prompts/get", {"name": "full"})) == {"description": "d", "messages": []}
    assert ok(await c.request("prompts/get", {"name": "later"}))["messages"][0]["content"]["text"] == "async"


# ------------------------------------------------------------------------------ completion

@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_completion(core, era):
    c = await open_conn(core, era)
    res = ok(await call(c, era, "completion/complete", {"ref": {"type": "ref/prompt", "name": "greet"},
                                                         "argument": {"name": "who", "value": "b"}}))
    assert res["completion"] == {"values": ["bob"]}
    err(await call(c, era, "completion/complete", {"ref": {"type": "x"}, "argument": {"name": "a"}}), INVALID_PARAMS)


@async_test
async def test_completion_truncates_and_async_and_absent():
    core = make_core()
    c = await open_conn(core, "legacy")
    params = {"ref": {"type": "ref/resource", "uri": "x://{a}"}, "argument": {"name": "a", "value": ""}}
    err(await c.request("completion/complete", params), METHOD_NOT_FOUND)

    async def many(ref, argument, context):
        return [str(i) for i in range(150)]

    core.set_completion_handler(many)
    res = ok(await c.request("completion/complete", params))["completion"]
    assert len(res["values"]) == 100 and res["total"] == 150 and res["hasMore"] is True


@async_test
async def test_capabilities_follow_registrations():
    core = make_core()
    c = Conn(core)
    caps = ok(await c.modern("server/discover"))["capabilities"]
    assert set(caps) == {"tools", "logging"}
    core.add_prompt("p", lambda: "x")
    caps = ok(await c.modern("server/discover"))["capabilities"]
    assert "prompts" in caps


def test_build_core_is_reusable():
    assert len(build_core().tools) == 8


@async_test
async def test_hot_path_returns_plain_values_and_unawaited_coroutines(core):
    """The dispatcher contract the peer's eager driving relies on."""
    import asyncio

    from mcpfast.wire import jsonrpc

    c = await open_conn(core, "legacy")
    sync_req = jsonrpc.Request(10, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    assert type(core.on_request(c.peer, sync_req)) is dict
    async_req = jsonrpc.Request(11, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    # by default an async tool runs in its own eager task (mcpfast.eager) so that asyncio.timeout
    # and anyio work before its first await; one done in that first step is answered with its
    # plain result (here inside the test's task, a 3.11 step cannot run at once: a task)
    started = core.on_request(c.peer, async_req)
    if isinstance(started, asyncio.Task):
        started = await started
    assert type(started) is dict and started["content"][0]["text"] == "x"
    core.eager_async_handlers = True
    try:
        coro = core.on_request(c.peer, async_req)
        assert asyncio.iscoroutine(coro)
        try:
            coro.send(None)
        except StopIteration as stop:
            assert stop.value["content"][0]["text"] == "x"
        else:  # pragma: no cover
            raise AssertionError("echo suspended")
    finally:
        core.eager_async_handlers = False
    # lists are pre-encoded once and reused
    list_req = jsonrpc.Request(12, "tools/list", None)
    first = core.on_request(c.peer, list_req)
    assert type(first) is bytes and core.on_request(c.peer, list_req) is first


@async_test
async def test_async_tool_can_use_asyncio_timeout(core):
    """A user's async tool runs inside its own task: asyncio.timeout() works before the first
    await (with the peer's task-free eager step it would raise RuntimeError)."""
    import asyncio

    async def guarded(text: str) -> str:
        async with asyncio.timeout(1):
            return text

    core.add_tool("guarded", guarded, input_schema={"type": "object", "properties": {"text": {"type": "string"}}})
    for era in ERAS:
        c = await open_conn(core, era)
        res = await call(c, era, "tools/call", {"name": "guarded", "arguments": {"text": "ok"}})
        assert ok(res)["content"][0]["text"] == "ok" and not ok(res).get("isError"), res


@async_test
async def test_async_tool_that_does_not_suspend_is_answered_inside_the_read(core):
    """An async tool's first step runs at once in its own task (mcpfast.eager, on 3.11 too):
    one that does not suspend is answered inside the feed that brought its request, with no
    trip through the loop, and one that suspends is answered when it finishes."""
    import asyncio

    from mcpfast.peer import JSONRPCPeer
    from mcpfast.wire import jsonrpc

    loop = asyncio.get_running_loop()
    gate = loop.create_future()
    tasks: list[object] = []

    async def quick(text: str) -> str:
        tasks.append(asyncio.current_task())
        return text

    async def waits(text: str) -> str:
        await gate
        return text

    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    core.add_tool("quick", quick, input_schema=schema)
    core.add_tool("waits", waits, input_schema=schema)
    sent: list[bytes] = []
    peer = JSONRPCPeer(core, sent.extend)
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    frames = [jsonrpc.encode_request(1, "initialize", init), jsonrpc.encode_notification("notifications/initialized"),
              jsonrpc.encode_request(2, "tools/call", {"name": "quick", "arguments": {"text": "a"}}),
              jsonrpc.encode_request(3, "tools/call", {"name": "waits", "arguments": {"text": "b"}})]
    fed: asyncio.Future[int] = loop.create_future()
    # from a plain callback, as a transport's data_received feeds it
    loop.call_soon(lambda: (peer.feed(jsonrpc.decode_all(frames)), fed.set_result(len(sent))))
    assert await fed == 2  # initialize and quick, in the feed's own send
    answer = jsonrpc.decode_all([sent[1]])[0]
    assert answer.id == 2 and answer.result["content"][0]["text"] == "a"
    assert len(tasks) == 1 and isinstance(tasks[0], asyncio.Task)  # it ran inside a task
    assert peer.in_flight == 1  # waits is suspended
    gate.set_result(None)
    while len(sent) < 3:
        await asyncio.sleep(0)
    late = jsonrpc.decode_all([sent[2]])[0]
    assert late.id == 3 and late.result["content"][0]["text"] == "b" and peer.in_flight == 0
