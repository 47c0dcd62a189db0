"""A notes server: tools, resources (a static one and a template), prompts and completion, on
mcpfast's ``MCPServer`` (the official SDK's decorator API).

    python examples/notes_server.py                       # stdio
    mcpfast run examples/notes_server.py -t http -p 8000  # Streamable HTTP at /mcp

Tools ``add_note``, ``list_notes``, ``delete_note`` and ``search`` (structured output); the
resource ``notes://index`` (every title, as JSON) and the template ``notes://{title}`` (one note);
the prompts ``summarize`` and ``rewrite``; completion of note titles and styles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from mcpfast import Context, MCPServer, ToolError

mcp = MCPServer("notes", version="1.0", instructions="Keep short notes: add, search, read and summarize them.")

#: title -> text; a real server would use a database
NOTES: dict[str, str] = {"welcome": "Notes live in memory until the server stops."}
STYLES = ["concise", "formal", "friendly", "pirate"]


@dataclass
class Match:
    """One search hit."""

    title: str
    excerpt: str


@mcp.tool(annotations={"idempotentHint": True})
async def add_note(
    title: Annotated[str, Field(description="A short unique title", min_length=1, max_length=64)],
    text: Annotated[str, Field(description="The note itself")],
    ctx: Context,
) -> str:
    """Add a note, or replace the note with this title."""
    replaced = title in NOTES
    NOTES[title] = text
    await ctx.info(f"note {title!r} {'replaced' if replaced else 'added'}")
    await ctx.session.send_resource_list_changed()
    return f"{'Replaced' if replaced else 'Added'} note {title!r}"


@mcp.tool()
def list_notes() -> list[str]:
    """The titles of every note, sorted."""
    return sorted(NOTES)


@mcp.tool(annotations={"destructiveHint": True})
def delete_note(title: str) -> str:
    """Delete a note (an error if there is none with this title)."""
    if title not in NOTES:
        # ToolError: a message meant for the client (any other exception's text stays in the log)
        raise ToolError(f"no note titled {title!r}")
    del NOTES[title]
    return f"Deleted note {title!r}"


@mcp.tool()
def search(query: str, limit: Annotated[int, Field(ge=1, le=50)] = 10) -> list[Match]:
    """Notes whose title or text contains ``query`` (case-insensitive)."""
    q = query.lower()
    hits = [Match(t, NOTES[t][:40]) for t in sorted(NOTES) if q in t.lower() or q in NOTES[t].lower()]
    return hits[:limit]


@mcp.resource("notes://index", mime_type="application/json")
def index() -> str:
    """Every note title."""
    return json.dumps(sorted(NOTES))


@mcp.resource("notes://{title}", mime_type="text/plain")
def note(title: str) -> str:
    """One note's text."""
    if title not in NOTES:
        raise ValueError(f"no note titled {title!r}")
    return NOTES[title]


@mcp.prompt()
def summarize(title: str) -> str:
    """Ask the model to summarize one note."""
    return f"Summarize this note in one sentence:\n\n{NOTES.get(title, '(no such note)')}"


@mcp.prompt()
def rewrite(title: str, style: Literal["concise", "formal", "friendly", "pirate"] = "concise") -> list[dict[str, object]]:
    """Ask the model to rewrite a note in a style."""
    return [
        {"role": "user", "content": {"type": "text", "text": f"Rewrite in a {style} style:"}},
        {"role": "user", "content": {"type": "text", "text": NOTES.get(title, "(no such note)")}},
    ]


@mcp.completion()
async def complete(ref, argument, context):  # type: ignore[no-untyped-def]
    """Titles for ``title`` arguments (prompts and the template), styles for ``style``."""
    prefix = argument.value.lower()
    if argument.name == "title":
        return [t for t in sorted(NOTES) if t.lower().startswith(prefix)]
    if argument.name == "style":
        return [s for s in STYLES if s.startswith(prefix)]
    return []


if __name__ == "__main__":
    mcp.run()
