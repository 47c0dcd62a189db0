"""Resources, resource templates and prompts, written for the official SDK."""

from typing import Annotated

from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer
from pydantic import Field

# caching hints at 2026-07-28: the methods not named keep the default (ttl 0, private)
mcp = MCPServer("compat-resources", version="2.0", instructions="Resources and prompts for the comparison.",
                cache_hints={"resources/list": CacheHint(ttl_ms=30_000, scope="public"),
                             "resources/read": CacheHint(ttl_ms=5_000)})

DOCS = {"intro": "Welcome.", "usage": "Call the tools."}


@mcp.resource("docs://index")
def index() -> str:
    """The list of documents."""
    return ", ".join(sorted(DOCS))


@mcp.resource("docs://logo", mime_type="image/png")
def logo() -> bytes:
    return b"\x89PNG\r\n\x1a\n fake"


@mcp.resource("config://app", name="app_config", title="App configuration", mime_type="application/json")
def config() -> str:
    return '{"debug": false}'


@mcp.resource("docs://{name}")
def doc(name: str) -> str:
    """One document by name."""
    if name not in DOCS:
        raise ValueError(f"no document {name}")
    return DOCS[name]


@mcp.resource("users://{user_id}/posts/{post_id}", mime_type="text/plain")
def post(user_id: str, post_id: str) -> str:
    return f"post {post_id} of {user_id}"


@mcp.prompt()
def review(code: str) -> str:
    """Review some code."""
    return f"Please review:\n{code}"


@mcp.prompt(title="Translate")
def translate(text: Annotated[str, Field(description="What to translate")], language: str = "French") -> str:
    return f"Translate to {language}: {text}"


@mcp.prompt()
def conversation(topic: str) -> list[dict[str, object]]:
    return [
        {"role": "user", "content": {"type": "text", "text": f"Tell me about {topic}"}},
        {"role": "assistant", "content": {"type": "text", "text": "Sure."}},
    ]


@mcp.completion()
async def complete(ref, argument, context):  # noqa: ANN001, ANN201 - as SDK users write it
    if argument.name == "language":
        return {"values": [lang for lang in ("French", "Frisian", "German") if lang.startswith(argument.value)]}
    return None


if __name__ == "__main__":
    mcp.run()
