"""Tools that ask the client for input (elicitation, sampling, roots), written for the
official SDK: server->client requests in a session, input requests (multi round-trip) at
2026-07-28."""

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel, Field

mcp = MCPServer("compat-interactive", version="0.3")


class Booking(BaseModel):
    guests: int = Field(description="How many guests", ge=1, le=8)
    vegetarian: bool = False
    note: str | None = None


@mcp.tool()
async def book(restaurant: str, ctx: Context) -> str:
    """Ask the user for the booking details."""
    answer = await ctx.elicit(f"Book a table at {restaurant}?", Booking)
    if answer.action != "accept":
        return f"not booked ({answer.action})"
    return f"booked {answer.data.guests} at {restaurant} (vegetarian: {answer.data.vegetarian})"


@mcp.tool()
async def haiku(topic: str, ctx: Context) -> str:
    """Ask the client's model for a haiku."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"A haiku about {topic}"))],
        max_tokens=50,
    )
    return result.content.text


@mcp.tool()
async def workspace(ctx: Context) -> list[str]:
    """The client's roots."""
    roots = await ctx.session.list_roots()
    return [str(r.uri) for r in roots.roots]


if __name__ == "__main__":
    mcp.run()
