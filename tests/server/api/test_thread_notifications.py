"""Where MCPServer tools run: a pooled ``def`` tool that changes the server's lists has the
notifications it causes sent from the loop's thread (peers are not thread-safe), and str tools
take the core's one-frame path."""

from __future__ import annotations

import asyncio
import threading

from mcpfast import MCPServer
from mcpfast.testing import async_test

from .harness import connect


@async_test
async def test_list_changed_from_a_pool_thread_reaches_the_client_via_the_loop() -> None:
    app = MCPServer("threads")
    sent_from: list[str] = []
    core = app.core
    real = core.notify_list_changed

    def spy(kind: str) -> None:
        sent_from.append(threading.current_thread().name)
        real(kind)

    core.notify_list_changed = spy  # type: ignore[method-assign]

    @app.tool(blocking=True)
    def grow(name: str) -> str:
        app.add_tool(lambda: "hi", name=name)
        app.core.notify_resource_updated("test://x")
        return threading.current_thread().name

    async with connect(app) as s:
        res = await s.tool("grow", {"name": "extra"})
        worker = res["content"][0]["text"]
        assert worker != "MainThread"
        for _ in range(50):
            if s.client.notifications("notifications/tools/list_changed"):
                break
            await asyncio.sleep(0.01)
        assert s.client.notifications("notifications/tools/list_changed")
        names = [t["name"] for t in (await s.call("tools/list"))["tools"]]
        assert "extra" in names
    # called once from the worker (handed over), then run again on the loop's thread
    assert sent_from[-1] == "MainThread" and worker in sent_from, sent_from


def test_str_tools_take_the_one_frame_path_with_or_without_structured_output() -> None:
    # a str result is answered at once as one text block (+ {"result": ...} when structured):
    # the converter is not needed for it, so the core's one-frame path serves such a tool
    app = MCPServer("fast")

    @app.tool(structured_output=False)
    def plain(message: str) -> str:
        return message

    @app.tool()
    def structured(message: str) -> str:
        return message

    @app.tool()
    def obj(message: str) -> dict[str, str]:
        return {"m": message}

    tools = app.core.tools
    assert tools["plain"].fast and tools["structured"].fast
    assert not tools["obj"].fast  # a dict result needs the converter
