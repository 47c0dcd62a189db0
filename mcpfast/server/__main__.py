"""``python -m mcpfast.server``: serve the demo tools (``mcpfast.server.demo``) or ``--app``.

::

    python -m mcpfast.server                                   # the demo, over stdio
    python -m mcpfast.server --transport http --host 0.0.0.0 --port 8000
    python -m mcpfast.server --app mypkg.server:mcp --transport tcp --port 0

The flags and the launch are ``mcpfast run``'s (``mcpfast.cli.add_serve_arguments`` and
``launch``): ``--app`` takes what ``mcpfast run`` takes as its target (``module[:obj]`` or
``path/to/file.py[:obj]``). A socket transport prints ``mcpfast: serving <transport> on <url>``
on stderr once it listens (``--port 0`` tells the chosen port there).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..cli import add_serve_arguments, launch, load_or_fail, setup_logging

PROG = "python -m mcpfast.server"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="Serve an MCP server: the demo tools (echo, add, sleep)"
                                                        " or the one --app names.")
    ap.add_argument("--app", metavar="MODULE[:OBJ]",
                    help="the server to serve: module[:obj] or path/to/server.py[:obj] (default: the demo)")
    add_serve_arguments(ap)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args)
    if args.app is None:
        from .demo import demo_server

        obj = demo_server()
    else:
        try:
            obj = load_or_fail(args.app, PROG)
        except KeyboardInterrupt:
            return 130
    return launch(obj, args, PROG)


if __name__ == "__main__":
    sys.exit(main())
