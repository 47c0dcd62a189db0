"""The README's client example runs as written, against the README's own server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def test_the_client_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    server = blocks[0]
    (client,) = [b for b in blocks if "from mcpfast import Client" in b]
    ns: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(server, "README.md", "exec"), ns)
    exec(compile(client, "README.md", "exec"), ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        asyncio.run(ns["main"](ns["mcp"]))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(" 3 {'result': 3}")
    assert lines[1].startswith("-32602 ")
