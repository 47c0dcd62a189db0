"""``@app.tool()``: registration options, schemas, validation, conversions, results."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, TypedDict

import pytest
from pydantic import BaseModel, Field

from mcpfast import MCPServer, ToolError
from mcpfast.errors import McpError
from mcpfast.server import Audio, Image, ToolResult
from mcpfast.testing import async_test

from .harness import ERAS, connect, text


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int


class User(BaseModel):
    name: str
    age: int = Field(ge=0)


def build(**kw: Any) -> MCPServer:
    app = MCPServer("tools-test", version="1.0", **kw)

    @app.tool()
    def echo(message: str) -> str:
        """Echo it."""
        return message

    @app.tool(name="renamed", title="A title", description="Explicit", annotations={"readOnlyHint": True},
              icons=[{"src": "https://x/i.png", "mimeType": "image/png"}], meta={"k": 1})
    def original(x: int) -> int:
        return x

    @app.tool(structured_output=False)
    def unstructured(x: int) -> int:
        return x * 2

    @app.tool()
    def no_annotation(x: int):  # type: ignore[no-untyped-def]
        return {"doubled": x * 2}

    @app.tool()
    def kinds(s: str, i: int, f: float, b: bool, opt: int | None = None, lst: list[str] | None = None,
              d: dict[str, int] | None = None, t: tuple[int, str] | None = None,
              lit: Literal["a", "b"] = "a", color: Color = Color.RED,
              desc: Annotated[int, Field(description="described", ge=1, le=10)] = 5) -> dict[str, Any]:
        return {"s": s, "i": i, "f": f, "b": b, "opt": opt, "lst": lst, "d": d,
                "t": list(t) if t else None, "lit": lit, "color": color.value, "f_type": type(f).__name__,
                "t_type": type(t).__name__, "color_type": type(color).__name__, "desc": desc}

    @app.tool()
    def shapes(p: Point, m: Movie, u: User) -> str:
        return f"{type(p).__name__}({p.x},{p.y}) {m['title']}:{m['year']} {type(u).__name__}({u.name},{u.age})"

    @app.tool()
    def make_point(x: int) -> Point:
        return Point(x, x + 1)

    @app.tool()
    def make_user(name: str) -> User:
        return User(name=name, age=3)

    @app.tool()
    def make_movie() -> Movie:
        return {"title": "M", "year": 1999}

    @app.tool()
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @app.tool()
    def image() -> Image:
        return Image(data=b"\x89PNG", format="png")

    @app.tool()
    def audio() -> Audio:
        return Audio(data=b"RIFF")

    @app.tool()
    def mixed() -> list[Any]:
        return ["one", Image(data=b"x"), {"type": "text", "text": "three"}]

    @app.tool()
    def raw() -> ToolResult:
        return ToolResult(content=[{"type": "text", "text": "raw"}], isError=False)

    @app.tool()
    def nothing() -> None:
        return None

    @app.tool()
    def fails_tool_error() -> str:
        raise ToolError("bad input, try again")

    @app.tool()
    def crashes() -> str:
        raise ValueError("kaboom")

    @app.tool()
    async def async_add(a: int, b: int) -> int:
        return a + b

    return app


@async_test
async def test_list_entries_match_the_sdk_shapes() -> None:
    app = build()
    tools = {t["name"]: t for t in await app.list_tools()}
    assert tools["echo"] == {
        "name": "echo", "description": "Echo it.",
        "inputSchema": {"properties": {"message": {"type": "string", "title": "Message"}}, "required": ["message"],
                        "title": "echoArguments", "type": "object"},
        "outputSchema": {"properties": {"result": {"type": "string", "title": "Result"}}, "required": ["result"],
                         "title": "echoOutput", "type": "object"},
    }
    r = tools["renamed"]
    assert r["title"] == "A title" and r["description"] == "Explicit"
    assert r["annotations"] == {"readOnlyHint": True} and r["_meta"] == {"k": 1}
    assert r["icons"] == [{"src": "https://x/i.png", "mimeType": "image/png"}]
    assert "original" not in tools
    assert "outputSchema" not in tools["unstructured"]
    assert "outputSchema" not in tools["no_annotation"]
    assert "outputSchema" not in tools["image"] and "outputSchema" not in tools["raw"]
    assert tools["make_point"]["outputSchema"]["properties"]["x"] == {"type": "integer", "title": "X"}
    assert tools["make_user"]["outputSchema"]["title"] == "User"
    assert tools["numbers"]["outputSchema"]["properties"]["result"]["type"] == "array"


def test_schema_kinds() -> None:
    app = build()
    props = app.core.tools["kinds"].entry["inputSchema"]["properties"]
    assert props["s"]["type"] == "string" and props["i"]["type"] == "integer"
    assert props["f"]["type"] == "number" and props["b"]["type"] == "boolean"
    assert props["opt"]["anyOf"] == [{"type": "integer"}, {"type": "null"}] and props["opt"]["default"] is None
    assert props["lst"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert props["d"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["t"]["anyOf"][0]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["lit"]["enum"] == ["a", "b"]
    assert props["color"] == {"$ref": "#/$defs/Color", "default": "red"}
    assert props["desc"]["description"] == "described" and props["desc"]["minimum"] == 1
    schema = app.core.tools["shapes"].entry["inputSchema"]
    assert set(schema["$defs"]) == {"Point", "Movie", "User"}
    assert schema["required"] == ["p", "m", "u"]


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_str_result_is_text_and_structured(era: str) -> None:
    async with connect(build(), era) as s:
        res = await s.tool("echo", {"message": "hé"})
    assert res["content"] == [{"type": "text", "text": "hé"}]
    assert res["structuredContent"] == {"result": "hé"}
    assert ("resultType" in res) == (era == "modern")


@async_test
async def test_results_convert_like_the_sdk() -> None:
    app = build()
    r = await app.call_tool("unstructured", {"x": 4})
    assert r == {"content": [{"type": "text", "text": "8"}]}
    r = await app.call_tool("no_annotation", {"x": 2})
    assert r == {"content": [{"type": "text", "text": '{\n  "doubled": 4\n}'}]}
    r = await app.call_tool("make_point", {"x": 1})
    assert r["structuredContent"] == {"x": 1, "y": 2} and text(r) == '{\n  "x": 1,\n  "y": 2\n}'
    r = await app.call_tool("make_user", {"name": "ann"})
    assert r["structuredContent"] == {"name": "ann", "age": 3}
    r = await app.call_tool("make_movie", {})
    assert r["structuredContent"] == {"title": "M", "year": 1999}
    r = await app.call_tool("numbers", {"n": 3})
    assert r["structuredContent"] == {"result": [0, 1, 2]}
    assert r["content"] == [{"type": "text", "text": str(i)} for i in range(3)]
    r = await app.call_tool("image", {})
    assert r == {"content": [{"type": "image", "data": "iVBORw==", "mimeType": "image/png"}]}
    r = await app.call_tool("audio", {})
    assert r["content"][0]["type"] == "audio" and r["content"][0]["mimeType"] == "audio/wav"
    r = await app.call_tool("mixed", {})
    assert [b["type"] for b in r["content"]] == ["text", "image", "text"]
    r = await app.call_tool("raw", {})
    assert r == {"content": [{"type": "text", "text": "raw"}], "isError": False}
    r = await app.call_tool("nothing", {})
    assert r == {"content": [], "structuredContent": {"result": None}}
    r = await app.call_tool("async_add", {"a": 2, "b": 3})
    assert r["structuredContent"] == {"result": 5}


@async_test
async def test_arguments_are_converted_to_the_annotated_types() -> None:
    app = build()
    r = await app.call_tool("kinds", {"s": "x", "i": 1, "f": 2, "b": True, "t": [1, "a"], "color": "green"})
    sc = r["structuredContent"]
    assert sc["f_type"] == "float" and sc["f"] == 2.0
    assert sc["t_type"] == "tuple" and sc["color_type"] == "Color" and sc["color"] == "green"
    assert sc["desc"] == 5
    r = await app.call_tool("shapes", {"p": {"x": 1}, "m": {"title": "T", "year": 2000}, "u": {"name": "n", "age": 4}})
    assert text(r) == "Point(1,0) T:2000 User(n,4)"


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_invalid_arguments_are_minus_32602_naming_the_argument(era: str) -> None:
    # validation_errors="error": the opt-in to JSON-RPC errors (the default is SEP-1303's isError result)
    async with connect(build(validation_errors="error"), era) as s:
        with pytest.raises(McpError) as info:
            await s.tool("kinds", {"s": "x", "i": "nope", "f": 1.0, "b": True})
        assert info.value.code == -32602 and "'i'" in info.value.message
        assert info.value.data == {"argument": "i"}
        with pytest.raises(McpError) as info:
            await s.tool("kinds", {"i": 1, "f": 1.0, "b": True})
        assert info.value.code == -32602 and "'s'" in info.value.message
        with pytest.raises(McpError) as info:
            await s.tool("kinds", {"s": "x", "i": 1, "f": 1.0, "b": True, "color": "blue"})
        assert info.value.code == -32602 and "'color'" in info.value.message
        with pytest.raises(McpError) as info:  # nested: pydantic's constraint
            await s.tool("shapes", {"p": {"x": 1}, "m": {"title": "T", "year": 1}, "u": {"name": "n", "age": -1}})
        assert info.value.code == -32602 and "'u'" in info.value.message
        with pytest.raises(McpError) as info:  # nested dataclass field missing
            await s.tool("shapes", {"p": {"y": 1}, "m": {"title": "T", "year": 1}, "u": {"name": "n", "age": 1}})
        assert info.value.code == -32602 and "'p'" in info.value.message


@async_test
async def test_lax_coercion_like_pydantic() -> None:
    app = build()
    r = await app.call_tool("kinds", {"s": "x", "i": "7", "f": "2.5", "b": "true", "lst": '["a", "b"]'})
    sc = r["structuredContent"]
    assert (sc["i"], sc["f"], sc["b"], sc["lst"]) == (7, 2.5, True, ["a", "b"])
    with pytest.raises(ToolError, match="'i'"):
        await app.call_tool("kinds", {"s": "x", "i": "7.5", "f": 1, "b": True})
    with pytest.raises(ToolError, match="Unknown tool"):
        await app.call_tool("nope", {})


@async_test
async def test_validation_errors_as_results() -> None:
    app = MCPServer("x")  # the default, as explicit validation_errors="result"

    @app.tool()
    def add(a: int, b: int) -> int:
        return a + b

    async with connect(app) as s:
        res = await s.tool("add", {"a": 1, "b": "three"})
    assert res["isError"] is True and "'b'" in text(res)
    assert app.get_metrics()["totals"]["rejected"] == 1
    with pytest.raises(ValueError):
        MCPServer("x", validation_errors="maybe")


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_tool_failures_are_error_results(era: str) -> None:
    async with connect(build(), era) as s:
        res = await s.tool("fails_tool_error")
        assert res["isError"] is True and text(res) == "bad input, try again"
        res = await s.tool("crashes")
        assert res["isError"] is True and text(res) == "Error executing tool crashes"  # "kaboom" is logged only


@async_test
async def test_add_and_remove_tools_at_run_time_notify_list_changed() -> None:
    app = build()
    async with connect(app) as s:
        def late(x: int) -> int:
            return x

        app.add_tool(late, title="Late")
        listed = await s.call("tools/list")
        assert "late" in [t["name"] for t in listed["tools"]]
        app.remove_tool("late")
        listed = await s.call("tools/list")
        assert "late" not in [t["name"] for t in listed["tools"]]
        assert len(s.client.notifications("notifications/tools/list_changed")) == 2
    with pytest.raises(ToolError, match="Unknown tool"):
        app.remove_tool("late")


def test_registration_errors_and_duplicates(caplog: pytest.LogCaptureFixture) -> None:
    app = MCPServer()
    assert app.name == "mcp-server" and app.version == ""
    with pytest.raises(TypeError, match="Did you forget to call it"):
        app.tool(lambda: 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lambda"):
        app.add_tool(lambda: 1)

    def f() -> str:
        return "first"

    def g() -> str:
        return "second"

    app.add_tool(f)
    app.add_tool(g, name="f")
    assert app.core.tools["f"].source is f  # the first one stays, as in the SDK
    assert "Tool already exists: f" in caplog.text

    def no_ann(x: int):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(TypeError, match="return annotation required"):
        app.add_tool(no_ann, structured_output=True)


def test_constructor_options() -> None:
    app = MCPServer("n", "T", "D", "Instr", website_url="https://w", icons=[{"src": "a"}], version="2",
                    host="0.0.0.0", port=9000, max_connections=5, request_timeout=3.0, tls=None, workers=2,
                    thread_pool_size=3, json_response=True, stateless_http=True, debug=False, log_level="DEBUG",
                    dependencies=["x"], middleware=[object()])
    assert (app.name, app.title, app.description, app.instructions, app.website_url, app.version) == \
        ("n", "T", "D", "Instr", "https://w", "2")
    assert app.icons == [{"src": "a"}]
    assert app.core.server_info == {"name": "n", "version": "2", "title": "T", "description": "D",
                                    "websiteUrl": "https://w", "icons": [{"src": "a"}]}
    s = app.settings
    assert (s.host, s.port, s.max_connections, s.request_timeout, s.workers, s.json_response, s.stateless_http) == \
        ("0.0.0.0", 9000, 5, 3.0, 2, True, True)
    assert app.core.runner.size == 3 and app.dependencies == ["x"] and "middleware" in app.unsupported


def test_sdk_pydantic_annotations_and_icons_are_dumped() -> None:
    from mcp_types import Icon, ToolAnnotations

    app = MCPServer("x", icons=[Icon(src="https://i")])

    @app.tool(annotations=ToolAnnotations(read_only_hint=True, title="T"))
    def t() -> str:
        return ""

    assert app.core.tools["t"].entry["annotations"] == {"readOnlyHint": True, "title": "T"}
    assert app.icons == [{"src": "https://i"}]


def test_pydantic_is_imported_only_when_a_signature_needs_it() -> None:
    import subprocess
    import sys

    code = (
        "import sys, asyncio\n"
        "from mcpfast import MCPServer, Context\n"
        "app = MCPServer('x')\n"
        "@app.tool()\n"
        "def echo(message: str, n: int = 1, ctx: Context = None) -> str:\n"
        "    return message * n\n"
        "@app.resource('r://{a}')\n"
        "def r(a: int) -> dict:\n"
        "    return {'a': a}\n"
        "print(asyncio.run(app.call_tool('echo', {'message': 'ab', 'n': '2'}))['content'][0]['text'])\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["abab", "False"], out.stderr
