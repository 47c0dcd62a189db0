"""The ``mcpfast`` command (also ``python -m mcpfast``).

::

    mcpfast run path/to/server.py[:obj] [--transport stdio|tcp|http] [--host H] [--port P]
                [--workers N] [--json-response] [--stateless] [--log-level LEVEL]
    mcpfast run package.module[:obj] ...          # an importable module instead of a file
    mcpfast version

``run`` loads the file as a module (its directory goes first on ``sys.path``, so its sibling
imports work), finds the server object and serves it: ``obj`` if given, else a module-level
``MCPServer``/``FastMCP`` (or ``ServerCore``) instance named ``mcp``, ``app`` or ``server``, else
the only one. An ``MCPServer`` is served with its own ``run(transport=...)`` (so its lifespan and
settings apply); a bare ``ServerCore`` with the transports directly. ``--host``/``--port``
default to the server's own settings (127.0.0.1:8000). A missing file, a failing import (its
traceback is shown) or no server found exits with status 2 and a one-line reason.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

__all__ = ["main", "load_server", "CLIError"]

#: names tried, in order, when the object is not named on the command line
PREFERRED_NAMES = ("mcp", "app", "server")
TRANSPORTS = ("stdio", "tcp", "http", "streamable-http")


class CLIError(Exception):
    """A usage problem reported as one line on stderr with exit status 2."""


def _is_server(obj: Any) -> bool:
    from .server.app import MCPServer
    from .server.core import ServerCore

    return isinstance(obj, (MCPServer, ServerCore))


def _describe(obj: Any) -> str:
    return type(obj).__name__


def _split_target(target: str) -> tuple[str, str | None]:
    """``"dir/x.py:app"`` -> ``("dir/x.py", "app")``; a Windows drive colon is not a separator."""
    head, sep, tail = target.rpartition(":")
    if sep and head and tail.isidentifier() and not (len(head) == 1 and head.isalpha()):
        return head, tail
    return target, None


def _load_module(spec: str) -> ModuleType:
    path = Path(spec)
    looks_like_file = spec.endswith(".py") or os.sep in spec or (os.altsep is not None and os.altsep in spec)
    if path.is_dir():
        raise CLIError(f"{spec} is a directory; give a Python file (path/to/server.py)")
    if path.is_file():
        path = path.resolve()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = path.stem if path.stem.isidentifier() else "mcpfast_server"
        mspec = importlib.util.spec_from_file_location(name, path)
        if mspec is None or mspec.loader is None:
            raise CLIError(f"cannot load {spec} as a Python module")
        module = importlib.util.module_from_spec(mspec)
        # registered before it runs, as a normal import would (dataclasses and pickling look it up)
        sys.modules[name] = module
        mspec.loader.exec_module(module)
        return module
    if looks_like_file:
        raise CLIError(f"file not found: {spec}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise CLIError(f"no such file or module: {spec}") from None
        raise


def load_server(target: str) -> Any:
    """The server object ``target`` (``path.py[:name]`` or ``module[:name]``) names; raises
    ``CLIError`` when it cannot be found (an import error propagates as it is)."""
    spec, name = _split_target(target)
    module = _load_module(spec)
    if name is not None:
        if not hasattr(module, name):
            raise CLIError(f"{spec} has no attribute {name!r}")
        obj = getattr(module, name)
        if not _is_server(obj):
            raise CLIError(f"{spec}:{name} is a {_describe(obj)}, not an MCPServer, FastMCP or ServerCore")
        return obj
    found = {k: v for k, v in vars(module).items() if not k.startswith("__") and _is_server(v)}
    for preferred in PREFERRED_NAMES:
        if preferred in found:
            return found[preferred]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise CLIError(f"no MCPServer, FastMCP or ServerCore instance at module level in {spec}"
                       f" (looked for {', '.join(PREFERRED_NAMES)} or any instance); name it: {spec}:obj")
    listing = ", ".join(f"{k} ({_describe(v)})" for k, v in found.items())
    raise CLIError(f"several servers in {spec}: {listing}; choose one: {spec}:{next(iter(found))}")


def serve(obj: Any, *, transport: str = "stdio", host: str | None = None, port: int | None = None,
          workers: int | None = None, json_response: bool = False, stateless: bool = False,
          idle_timeout: float | None = None, metrics_port: int | None = None) -> None:
    """Serve ``obj`` (an ``MCPServer`` or a ``ServerCore``) until stopped. ``idle_timeout``
    (tcp, http; None: the transport's default, 0: never) closes connections idle that long.
    ``metrics_port`` serves the metrics as Prometheus text on that port too (any transport)."""
    from .server.app import MCPServer

    if transport == "streamable-http":
        transport = "http"
    if transport not in ("stdio", "tcp", "http"):
        raise CLIError(f"unknown transport {transport!r}; expected stdio, tcp or http")
    if transport == "stdio" and (host is not None or port is not None or workers is not None):
        raise CLIError("--host, --port and --workers apply to --transport tcp or http, not stdio")
    if transport != "http" and (json_response or stateless or workers is not None):
        raise CLIError("--json-response, --stateless and --workers apply to --transport http only")
    if workers is not None and workers < 1:
        raise CLIError(f"--workers must be at least 1, got {workers}")
    if idle_timeout is not None and transport == "stdio":
        raise CLIError("--idle-timeout applies to --transport tcp or http, not stdio")
    if idle_timeout is not None and not idle_timeout >= 0:
        raise CLIError(f"--idle-timeout must be seconds >= 0 (0: never), got {idle_timeout}")
    if workers is not None and workers > 1 and not (
            stateless or getattr(getattr(obj, "settings", None), "stateless_http", False)):
        # a legacy session lives in one process; the kernel spreads connections over the workers
        raise CLIError(f"--workers {workers} needs --stateless (sessions cannot span processes)")
    net: dict[str, Any] = {}
    if host is not None:
        net["host"] = host
    if port is not None:
        net["port"] = port
    # the transports' own names: TCPServer's idle_timeout, HTTPSettings.keep_alive_timeout
    idle: dict[str, Any] = {}
    if idle_timeout is not None:
        idle["idle_timeout" if transport == "tcp" else "keep_alive_timeout"] = idle_timeout or None
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise CLIError(f"--metrics-port must be a port number, got {metrics_port}")
    if metrics_port is not None and workers is not None and workers > 1:
        raise CLIError("--metrics-port serves one process; with --workers scrape each worker's /metrics")
    if metrics_port is not None:
        core = obj.core if isinstance(obj, MCPServer) else obj
        if getattr(core, "metrics", None) is None:
            raise CLIError("--metrics-port: this server was made with metrics=False")
    if isinstance(obj, MCPServer):
        if metrics_port is not None:
            obj.settings.metrics_port = metrics_port
        if transport == "stdio":
            obj.run("stdio")
        elif transport == "tcp":
            obj.run("tcp", **net, **idle)
        else:
            http: dict[str, Any] = dict(net, **idle)
            if workers is not None:
                http["workers"] = workers
            if json_response:
                http["json_response"] = True
            if stateless:
                http["stateless_http"] = True
            obj.run("streamable-http", **http)
        return
    # a bare ServerCore: the transports directly
    if metrics_port is not None:
        _serve_core_with_metrics(obj, transport, net, idle, metrics_port, json_response, stateless)
    elif transport == "stdio":
        from .transports.stdio import run_stdio

        run_stdio(obj)
    elif transport == "tcp":
        import asyncio

        from .transports.tcp import start_tcp_server

        async def run_tcp() -> None:
            server = await start_tcp_server(lambda: obj, net.get("host", "127.0.0.1"), net.get("port", 8000), **idle)
            await server.serve_forever()

        try:
            asyncio.run(run_tcp())
        except KeyboardInterrupt:
            pass
    else:
        from .transports.http import HTTPSettings, run_http

        h = net.get("host", "127.0.0.1")
        settings = HTTPSettings(json_response=json_response, stateless=stateless, bind_host=h, **idle)
        run_http(obj, host=h, port=net.get("port", 8000), settings=settings, workers=workers or 1)


def _serve_core_with_metrics(core: Any, transport: str, net: dict[str, Any], idle: dict[str, Any], metrics_port: int,
                             json_response: bool, stateless: bool) -> None:
    """A bare ``ServerCore`` on ``transport`` with its metrics port beside it, in one loop."""
    import asyncio

    from .transports.http.metrics_port import start_metrics_server

    host = net.get("host", "127.0.0.1")

    async def run() -> None:
        metrics = await start_metrics_server(core.metrics, host=host, port=metrics_port)
        try:
            if transport == "stdio":
                from .transports.stdio import serve_stdio

                await serve_stdio(core)
            elif transport == "tcp":
                from .transports.tcp import start_tcp_server

                server = await start_tcp_server(lambda: core, host, net.get("port", 8000), **idle)
                await server.serve_forever()
            else:
                from .transports.http import HTTPSettings, serve_http

                settings = HTTPSettings(json_response=json_response, stateless=stateless, bind_host=host, **idle)
                await serve_http(core, host=host, port=net.get("port", 8000), settings=settings)
        finally:
            await metrics.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mcpfast", description="mcpfast: run MCP servers.")
    sub = ap.add_subparsers(dest="command", metavar="{run,version}")
    run = sub.add_parser("run", help="serve an MCPServer defined in a Python file",
                         description="Serve the MCPServer (or ServerCore) in a Python file or module.")
    run.add_argument("target", help="path/to/server.py[:obj] or package.module[:obj]")
    run.add_argument("--transport", "-t", choices=TRANSPORTS, default="stdio", help="default: stdio")
    run.add_argument("--host", help="address to bind (tcp, http); default: the server's (127.0.0.1)")
    run.add_argument("--port", "-p", type=int, help="port to bind (tcp, http); default: the server's (8000)")
    run.add_argument("--workers", type=int, help="HTTP worker processes sharing the port (needs --stateless)")
    run.add_argument("--json-response", action="store_true", help="HTTP: answer POSTs with JSON, never SSE")
    run.add_argument("--stateless", action="store_true", help="HTTP: serve legacy requests without sessions")
    run.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                     help="tcp, http: close a connection with no request in flight and no traffic for this long"
                          " (0: never; default: tcp 300, http 5 between keep-alive requests)")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="also serve the metrics as Prometheus text at http://HOST:PORT/metrics (any transport)")
    run.add_argument("--log-level", default="WARNING", type=str.upper,
                     choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                     help="log level of mcpfast's logs on stderr (default: WARNING)")
    sub.add_parser("version", help="print the mcpfast version")
    return ap


def _print_user_traceback(exc: BaseException) -> None:
    """The import's traceback without this module's and importlib's frames."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__,)
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen")):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__, file=sys.stderr)


def _fail(message: str) -> NoReturn:
    print(f"mcpfast: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mcpfast`` and ``python -m mcpfast``; returns the exit status."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command == "version":
        from . import EXTENSIONS, __version__

        core = "compiled" if EXTENSIONS else "pure Python"
        print(f"mcpfast {__version__} ({core} wire core, Python {sys.version.split()[0]})")
        return 0
    if args.command != "run":
        ap.print_help(sys.stderr)
        return 2
    # stdout may be the protocol (stdio): logs always go to stderr
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        obj = load_server(args.target)
    except CLIError as exc:
        _fail(str(exc))
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's module failed to import
        if isinstance(exc, KeyboardInterrupt):
            return 130
        _print_user_traceback(exc)
        _fail(f"importing {args.target} failed: {type(exc).__name__}: {exc}")
    try:
        serve(obj, transport=args.transport, host=args.host, port=args.port, workers=args.workers,
              json_response=args.json_response, stateless=args.stateless, idle_timeout=args.idle_timeout,
              metrics_port=args.metrics_port)
    except CLIError as exc:
        _fail(str(exc))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            where = f"{args.host or '127.0.0.1'}:{args.port if args.port is not None else 8000}"
            _fail(f"cannot listen on {where}: {exc.strerror or exc}")
        raise
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m mcpfast.cli
    sys.exit(main())
