"""Tools returning content rather than data (images, audio, mixed lists), prompts returning the
SDK's message classes, and icons, written for the official SDK."""

import mcp.types as types
from mcp.server.mcpserver import AssistantMessage, Audio, Image, MCPServer, UserMessage

mcp = MCPServer("compat-content", version="1.0", website_url="https://example.com/compat")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


@mcp.tool()
def picture() -> Image:
    """One image."""
    return Image(data=PNG, format="png")


@mcp.tool()
def sound() -> Audio:
    return Audio(data=b"RIFF0000WAVE", format="wav")


@mcp.tool()
def mixed():  # type: ignore[no-untyped-def]  # no annotation: no output schema, content as returned
    """Text and an image together."""
    return ["caption", Image(data=PNG, format="png")]


@mcp.tool()
def blocks() -> list[types.ContentBlock]:
    return [types.TextContent(type="text", text="one"), types.TextContent(type="text", text="two")]


@mcp.tool()
def call_result() -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text="custom")], structured_content={"k": 1})


@mcp.prompt()
def dialogue(question: str) -> list[UserMessage | AssistantMessage]:
    return [UserMessage(question), AssistantMessage("Let me think."), UserMessage("Go on.")]


if __name__ == "__main__":
    mcp.run()
