"""Run a server file written for the official SDK, as the SDK or as mcpfast.

    python run_server.py sdk|mcpfast|mcpfast-error path/to/server.py

``mcpfast`` swaps the SDK's import of the server API (``from mcp.server.mcpserver import ...``)
for ``from mcpfast import ...`` before running the file as ``__main__``: the only change a user
makes to move a server over. ``mcpfast-error`` does the same with ``MCPServer``'s
``validation_errors`` defaulting to ``"error"`` (invalid arguments answered with JSON-RPC -32602
rather than the ``isError`` result of SEP-1303), so the same file is checked in that mode too.
"""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path
from typing import Any

SDK_IMPORT = "from mcp.server.mcpserver import "
OURS_IMPORT = "from mcpfast import "


def source_for(impl: str, path: Path) -> str:
    src = path.read_text()
    if impl in ("mcpfast", "mcpfast-error"):
        if SDK_IMPORT not in src:
            raise SystemExit(f"{path} does not import {SDK_IMPORT.strip()}")
        src = src.replace(SDK_IMPORT, OURS_IMPORT)
    elif impl != "sdk":
        raise SystemExit(f"unknown implementation {impl!r}: sdk or mcpfast")
    return src


def main() -> None:
    impl, file = sys.argv[1], Path(sys.argv[2]).resolve()
    sys.argv = [str(file)]
    sys.path.insert(0, str(file.parent))
    code = compile(source_for(impl, file), str(file), "exec")
    if impl == "mcpfast-error":
        _default_validation_errors("error")
    # a real __main__ module in sys.modules: pydantic resolves annotations through it
    module = types.ModuleType("__main__")
    module.__file__ = str(file)
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


def _default_validation_errors(value: str) -> None:
    """Make ``validation_errors=value`` the default of mcpfast's ``MCPServer`` in this process."""
    from mcpfast.server.app import MCPServer

    init = MCPServer.__init__

    @functools.wraps(init)
    def __init__(self: MCPServer[Any], *args: Any, **kw: Any) -> None:
        kw.setdefault("validation_errors", value)
        init(self, *args, **kw)

    MCPServer.__init__ = __init__  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
