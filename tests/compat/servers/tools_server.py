"""Tools with varied signatures, written for the official SDK (``mcp.server.mcpserver``)."""
# ruff: noqa: UP042, UP045 - written the way SDK users write them (Optional, str + Enum)

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal, Optional, TypedDict

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

mcp = MCPServer("compat-tools", version="1.2.3")


class Color(str, Enum):
    """A colour the picker knows.

        Indented text stays indented relative to the rest.
    """

    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    """A point on the plane."""

    x: int
    y: int = 0
    label: Optional[str] = None


class Stats(TypedDict):
    """Summary statistics."""

    count: int
    mean: float


@dataclass
class Box:
    """A box,
    in two lines."""

    width: float
    height: float
    name: str = "box"


class Reply(BaseModel):
    ok: bool
    items: list[str]


@mcp.tool()
def echo(message: str) -> str:
    """Return the message unchanged."""
    return message


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
def scale(value: float, factor: float = 2.0, clamp: bool = False) -> float:
    return min(value * factor, 100.0) if clamp else value * factor


@mcp.tool()
def greet(name: Optional[str] = None, times: int | None = None) -> str:
    return ("hello " + (name or "world") + "!") * (times or 1)


@mcp.tool()
def total(numbers: list[int], weights: dict[str, float] | None = None) -> dict[str, float]:
    w = weights or {}
    return {"sum": float(sum(numbers)), "weighted": sum(n * w.get(str(i), 1.0) for i, n in enumerate(numbers))}


@mcp.tool()
def pick(mode: Literal["fast", "slow"], color: Color = Color.RED) -> str:
    return f"{mode}:{color.value}"


@mcp.tool(description="Constrained arguments")
def constrained(
    name: Annotated[str, Field(description="A short name", min_length=2, max_length=8)],
    age: Annotated[int, Field(ge=0, le=150, description="Age in years")] = 30,
    tags: Annotated[list[str], Field(max_length=3)] = [],  # noqa: B006 - the SDK copies defaults
) -> str:
    return f"{name}/{age}/{','.join(tags)}"


@mcp.tool()
def distance(p: Point, q: Point | None = None) -> float:
    q = q or Point(x=0, y=0)
    return float(abs(p.x - q.x) + abs(p.y - q.y))


@mcp.tool()
def stats(values: list[float]) -> Stats:
    return {"count": len(values), "mean": sum(values) / len(values) if values else 0.0}


@mcp.tool()
def make_box(width: float, height: float) -> Box:
    return Box(width, height)


@mcp.tool()
async def reply(items: list[str]) -> Reply:
    """An async tool returning a pydantic model."""
    return Reply(ok=bool(items), items=items)


@mcp.tool()
def names() -> list[str]:
    return ["a", "b"]


@mcp.tool()
def untyped(x, y=1):  # type: ignore[no-untyped-def]
    return {"x": x, "y": y}


@mcp.tool()
def nothing() -> None:
    return None


@mcp.tool(structured_output=False)
def raw_dict() -> dict[str, Any]:
    return {"k": [1, 2, 3]}


@mcp.tool()
def fail(message: str = "boom") -> str:
    """Always raises."""
    raise ValueError(message)


@mcp.tool()
def refuse(reason: str = "not allowed") -> str:
    """Raises the SDK's ToolError: its message is meant for the model."""
    raise ToolError(reason)


@mcp.tool(title="Annotated tool", annotations={"readOnlyHint": True, "openWorldHint": False})
def described() -> str:
    return "ok"


if __name__ == "__main__":
    mcp.run()
