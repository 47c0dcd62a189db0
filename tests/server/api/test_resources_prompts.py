"""``@app.resource()``, ``@app.prompt()``, ``@app.completion()``."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import pytest
from pydantic import Field

from mcpfast import MCPServer
from mcpfast.errors import McpError
from mcpfast.server import AssistantMessage, Image, UserMessage
from mcpfast.testing import async_test

from .harness import ERAS, connect


def build() -> MCPServer:
    app = MCPServer("rp")

    @app.resource("data://greeting", title="Greeting", description="Says hi")
    def greeting() -> str:
        return "hello"

    @app.resource("data://logo", mime_type="image/png")
    def logo() -> bytes:
        return b"\x89PNG\x00"

    @app.resource("data://config")
    def config() -> dict[str, Any]:
        """The config."""
        return {"debug": True, "items": [1, 2]}

    @app.resource("users://{user_id}/profile", name="profile", mime_type="application/json")
    def profile(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": type(user_id).__name__}

    @app.resource("search://items{?q,limit}")
    async def search(q: str = "", limit: int = 10) -> str:
        return f"q={q} limit={limit}"

    @app.prompt(title="Review", description="Review code")
    def review(code: str, language: Annotated[str, Field(description="The language")] = "python") -> str:
        return f"Review this {language}:\n{code}"

    @app.prompt()
    def chat(topic: str) -> list[Any]:
        """A chat."""
        return [UserMessage(f"Tell me about {topic}"), AssistantMessage("Sure."),
                {"role": "user", "content": "More"}, Image(data=b"img")]

    @app.prompt()
    async def count(n: int) -> list[dict[str, Any]]:
        return [{"role": "user", "content": {"type": "text", "text": f"{n}:{type(n).__name__}"}}]

    @app.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Any:
        if argument.name == "language":
            return {"values": [v for v in ["python", "perl", "go"] if v.startswith(argument.value)]}
        return None

    return app


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_resources_read(era: str) -> None:
    async with connect(build(), era) as s:
        res = await s.call("resources/read", {"uri": "data://greeting"})
        assert res["contents"] == [{"uri": "data://greeting", "text": "hello", "mimeType": "text/plain"}]
        res = await s.call("resources/read", {"uri": "data://logo"})
        assert res["contents"] == [{"uri": "data://logo", "blob": base64.b64encode(b"\x89PNG\x00").decode(),
                                    "mimeType": "image/png"}]
        res = await s.call("resources/read", {"uri": "data://config"})
        assert res["contents"][0]["text"] == '{\n  "debug": true,\n  "items": [\n    1,\n    2\n  ]\n}'
        res = await s.call("resources/read", {"uri": "users://42/profile"})
        assert res["contents"] == [{"uri": "users://42/profile", "text": '{\n  "id": 42,\n  "type": "int"\n}',
                                    "mimeType": "application/json"}]
        res = await s.call("resources/read", {"uri": "search://items?limit=3"})
        assert res["contents"][0]["text"] == "q= limit=3"
        with pytest.raises(McpError) as info:
            await s.call("resources/read", {"uri": "data://missing"})
        assert info.value.code == (-32002 if era == "legacy" else -32602)


@async_test
async def test_resource_lists() -> None:
    app = build()
    async with connect(app) as s:
        res = await s.call("resources/list")
        by_uri = {r["uri"]: r for r in res["resources"]}
        assert by_uri["data://greeting"] == {"uri": "data://greeting", "name": "greeting", "title": "Greeting",
                                             "description": "Says hi", "mimeType": "text/plain"}
        assert by_uri["data://config"]["description"] == "The config."
        res = await s.call("resources/templates/list")
        names = {t["name"]: t for t in res["resourceTemplates"]}
        assert names["profile"]["uriTemplate"] == "users://{user_id}/profile"
        assert names["search"]["uriTemplate"] == "search://items{?q,limit}"
    contents = await app.read_resource("data://greeting")
    assert contents == [{"uri": "data://greeting", "text": "hello", "mimeType": "text/plain"}]
    assert len(await app.list_resources()) == 3 and len(await app.list_resource_templates()) == 2


def test_resource_registration_errors() -> None:
    app = MCPServer()
    with pytest.raises(ValueError, match="Mismatch"):
        @app.resource("x://{a}")
        def f(b: str) -> str:
            return b
    with pytest.raises(ValueError, match="no default value"):
        @app.resource("x://s{?q}")
        def g(q: str) -> str:
            return q
    with pytest.raises(ValueError, match="no URI template variables"):
        @app.resource("x://static")
        def h(a: str) -> str:
            return a
    with pytest.raises(TypeError, match="Did you forget"):
        app.resource(lambda: 1)  # type: ignore[arg-type]


@async_test
async def test_add_resource_objects_and_remove() -> None:
    app = MCPServer()

    class Text:
        uri = "mem://t"
        name = "t"
        text = "some text"
        mime_type = "text/markdown"

    app.add_resource(Text())
    app.add_resource("mem://f", lambda: "from fn", name="f")
    async with connect(app) as s:
        res = await s.call("resources/read", {"uri": "mem://t"})
        assert res["contents"] == [{"uri": "mem://t", "text": "some text", "mimeType": "text/markdown"}]
        res = await s.call("resources/read", {"uri": "mem://f"})
        assert res["contents"][0]["text"] == "from fn"
        app.remove_resource("mem://t")
        res = await s.call("resources/list")
        assert [r["uri"] for r in res["resources"]] == ["mem://f"]


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_prompts(era: str) -> None:
    app = build()
    async with connect(app, era) as s:
        listed = {p["name"]: p for p in (await s.call("prompts/list"))["prompts"]}
        assert listed["review"] == {"name": "review", "title": "Review", "description": "Review code",
                                    "arguments": [{"name": "code", "required": True},
                                                  {"name": "language", "description": "The language",
                                                   "required": False}]}
        res = await s.call("prompts/get", {"name": "review", "arguments": {"code": "x=1"}})
        assert res["messages"] == [{"role": "user", "content": {"type": "text", "text": "Review this python:\nx=1"}}]
        assert res["description"] == "Review code"
        res = await s.call("prompts/get", {"name": "chat", "arguments": {"topic": "owls"}})
        assert [m["role"] for m in res["messages"]] == ["user", "assistant", "user", "user"]
        assert res["messages"][0]["content"]["text"] == "Tell me about owls"
        assert res["messages"][2]["content"] == {"type": "text", "text": "More"}
        assert res["messages"][3]["content"]["type"] == "image"
        res = await s.call("prompts/get", {"name": "count", "arguments": {"n": "3"}})
        assert res["messages"][0]["content"]["text"] == "3:int"  # wire strings cast like validate_call
        with pytest.raises(McpError) as info:
            await s.call("prompts/get", {"name": "review", "arguments": {}})
        assert info.value.code == -32602 and "code" in info.value.message


@async_test
async def test_prompt_direct_calls_and_removal() -> None:
    app = build()
    res = await app.get_prompt("review", {"code": "y"})
    assert res["messages"][0]["content"]["text"].endswith("y")
    assert [p["name"] for p in await app.list_prompts()] == ["review", "chat", "count"]
    with pytest.raises(ValueError, match="Unknown prompt"):
        await app.get_prompt("nope")
    app.remove_prompt("chat")
    with pytest.raises(ValueError, match="Unknown prompt"):
        app.remove_prompt("chat")


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_completion(era: str) -> None:
    app = build()
    async with connect(app, era) as s:
        res = await s.call("completion/complete", {"ref": {"type": "ref/prompt", "name": "review"},
                                                   "argument": {"name": "language", "value": "p"}})
        assert res["completion"]["values"] == ["python", "perl"]
        res = await s.call("completion/complete", {"ref": {"type": "ref/resource", "uri": "users://{user_id}/profile"},
                                                   "argument": {"name": "user_id", "value": ""}})
        assert res["completion"] == {"values": []}
    init_caps = app.core.capabilities()
    assert "completions" in init_caps and "prompts" in init_caps and "resources" in init_caps


@async_test
async def test_completion_with_sdk_types() -> None:
    from mcp_types import Completion, ResourceTemplateReference

    app = MCPServer()
    seen: list[Any] = []

    @app.completion()
    def complete(ref: Any, argument: Any, context: Any) -> Any:
        seen.append((type(ref).__name__, context))
        if isinstance(ref, ResourceTemplateReference):
            return Completion(values=["a", "b"], total=2)
        return None

    async with connect(app) as s:
        res = await s.call("completion/complete", {"ref": {"type": "ref/resource", "uri": "x://{y}"},
                                                   "argument": {"name": "y", "value": ""},
                                                   "context": {"arguments": {"z": "1"}}})
    assert res["completion"] == {"values": ["a", "b"], "total": 2}
    assert seen[0][0] == "ResourceTemplateReference" and seen[0][1].arguments == {"z": "1"}
