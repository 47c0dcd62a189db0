"""The core runs every request through the peer's public ``call`` with the exchange as its reply
sink, from a plain event-loop callback (as the built-in server's ``data_received`` runs it) and
from inside a task (as under the ASGI front end) alike: the answers must be the same, and
nothing goes through ``feed``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from mcpfast.errors import METHOD_NOT_FOUND
from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPSettings, StreamableHTTP

from ...support.waiting import until
from .fakes import Client, FakeResponder, build_core, open_gate, result_of

T = TypeVar("T")


async def outside_task(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a plain loop callback (no current task), like a Protocol callback."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def cb() -> None:
        assert asyncio.current_task() is None
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting test
            fut.set_exception(exc)

    loop.call_soon(cb)
    return await fut


async def started(**kw: Any) -> tuple[Any, StreamableHTTP, Client, list[Any], list[str]]:
    """A started core with one initialized session whose peer counts ``feed`` calls (requests
    never take that path) and ``call`` calls."""
    core = build_core()
    http = StreamableHTTP(core, HTTPSettings(**kw))
    await http.startup()
    c = Client(http)
    await outside_task(c.initialize)
    assert c.session_id is not None
    peer = http.table.sessions[c.session_id].peer
    fed: list[Any] = []
    real_feed = peer.feed

    def feed(messages: list[Any]) -> None:
        fed.append(messages)
        real_feed(messages)

    peer.feed = feed
    real_call = peer.call

    def call(request: Any, sink: Any = None) -> None:
        assert sink is not None  # every HTTP request has its exchange's sink
        calls.append(request.method)
        real_call(request, sink)

    peer.call = call
    calls: list[str] = []
    return core, http, c, fed, calls


@async_test
async def test_immediate_answers_match_the_task_path() -> None:
    _, http, c, fed, calls = await started()
    add = {"name": "add", "arguments": {"a": 1, "b": 2}}
    direct = await outside_task(lambda: c.call("tools/call", add))
    assert direct.status == 200 and direct.calls == ["respond"]
    assert result_of(direct) == {"content": [{"type": "text", "text": "3"}]}
    who = await outside_task(lambda: c.call("tools/call", {"name": "who", "arguments": {}}))
    assert result_of(who)["content"][0]["text"] == "POST /mcp None"  # request variables were set
    missing = await outside_task(lambda: c.call("no/such/method"))
    assert missing.status == 200 and missing.error_code() == METHOD_NOT_FOUND
    assert calls == ["tools/call", "tools/call", "no/such/method"]
    in_task = c.call("tools/call", add)  # inside this test's task: the same path
    assert calls[-1] == "tools/call" and fed == []
    assert in_task.status == direct.status and in_task.headers == direct.headers
    assert result_of(in_task) == result_of(direct)
    await http.shutdown()


@async_test
async def test_suspended_handler_is_answered_later_on_its_exchange() -> None:
    core, http, c, fed, calls = await started()
    r: FakeResponder = await outside_task(lambda: c.call("tools/call", {"name": "wait", "arguments": {}}))
    assert r.status is None  # suspended: no answer yet
    await until(lambda: "g" in core.gate)
    other = await outside_task(lambda: c.call("ping"))  # the session serves others meanwhile
    assert result_of(other) == {}
    open_gate(core)
    await until(lambda: r.status is not None)
    assert r.status == 200 and result_of(r)["content"][0]["text"] == "opened g"
    assert fed == []
    await http.shutdown()


@async_test
async def test_messages_sent_while_handling_switch_to_sse() -> None:
    _, http, c, fed, calls = await started()
    r = await outside_task(lambda: c.call("tools/call", {"name": "progress", "arguments": {},
                                                          "_meta": {"progressToken": 7}}))
    assert r.streaming and r.ended and r.header("content-type") == "text/event-stream"
    kinds = [getattr(m, "method", "response") for m in r.messages()]
    assert kinds == ["notifications/progress", "notifications/progress", "notifications/message", "response"]
    assert result_of(r)["content"][0]["text"] == "ok"
    assert fed == []
    await http.shutdown()
