"""The ``mcpfast`` command (also ``python -m mcpfast``).

::

    mcpfast run path/to/server.py[:obj] [--transport stdio|tcp|http|ws] [--host H] [--port P]
                [--max-connections N] [--request-timeout S] [--tls-cert PEM --tls-key PEM]
                [--idle-timeout S] [--workers N] [--json-response] [--stateless] [--log-level LEVEL]
                [--store URL]
    mcpfast run package.module[:obj] ...          # an importable module instead of a file
    mcpfast version
    mcpfast tools|call|read|prompt ...            # a client: see mcpfast.cli_client

``python -m mcpfast.server`` takes the same flags (``add_serve_arguments``) and serves through
the same ``launch``/``serve``; every socket transport goes through ``start()``
(``mcpfast.server.serving``), for an ``MCPServer`` and a bare ``ServerCore`` alike.

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

__all__ = ["main", "load_server", "CLIError", "add_serve_arguments", "launch", "serve"]

#: names tried, in order, when the object is not named on the command line
PREFERRED_NAMES = ("mcp", "app", "server")
TRANSPORTS = ("stdio", "tcp", "http", "streamable-http", "ws")


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


#: the option that closes idle connections, by transport (each transport's own name)
_IDLE_OPTION = {"tcp": "idle_timeout", "http": "keep_alive_timeout", "ws": "idle_timeout"}


def _announce(transport: str) -> Any:
    """The ``ready`` callback of a socket transport: one line on stderr saying where it listens
    (``--port 0`` tells the chosen port there)."""

    def ready(server: Any) -> None:
        where = getattr(server, "url", None) or f"{getattr(server, 'host', '?')}:{server.port}"
        print(f"mcpfast: serving {transport} on {where}", file=sys.stderr, flush=True)

    return ready


def _check_options(transport: str, *, host: str | None, port: int | None, workers: int | None, json_response: bool,
                   stateless: bool, idle_timeout: float | None, max_connections: int | None,
                   request_timeout: float | None, tls_cert: str | None, tls_key: str | None) -> None:
    """Every flag checked against the transport, with the reason as a ``CLIError``."""
    if transport == "stdio":
        for flags, values in (("--host, --port and --workers apply", (host, port, workers)),
                              ("--max-connections, --tls-cert and --tls-key apply",
                               (max_connections, tls_cert, tls_key)),
                              ("--idle-timeout applies", (idle_timeout,))):
            if any(v is not None for v in values):
                raise CLIError(f"{flags} to a socket transport (tcp, http, ws), not stdio")
    if transport != "http" and (json_response or stateless or workers is not None):
        raise CLIError("--json-response, --stateless and --workers apply to --transport http only")
    if port is not None and not 0 <= port <= 65535:
        raise CLIError(f"--port must be 0..65535 (0: any free port), got {port}")
    if workers is not None and workers < 1:
        raise CLIError(f"--workers must be at least 1, got {workers}")
    if max_connections is not None and max_connections < 1:
        raise CLIError(f"--max-connections must be at least 1, got {max_connections}")
    if request_timeout is not None and not request_timeout > 0:
        raise CLIError(f"--request-timeout must be seconds > 0, got {request_timeout}")
    if idle_timeout is not None and not idle_timeout >= 0:
        raise CLIError(f"--idle-timeout must be seconds >= 0 (0: never), got {idle_timeout}")
    if (tls_cert is None) != (tls_key is None):
        raise CLIError("--tls-cert and --tls-key go together (the certificate chain and its private key)")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not os.path.isfile(path):
            raise CLIError(f"{flag}: file not found: {path}")


def serve(obj: Any, *, transport: str = "stdio", host: str | None = None, port: int | None = None,
          workers: int | None = None, json_response: bool = False, stateless: bool = False,
          idle_timeout: float | None = None, max_connections: int | None = None,
          request_timeout: float | None = None, tls_cert: str | None = None, tls_key: str | None = None,
          announce: bool = False, metrics_port: int | None = None, store: str | None = None) -> None:
    """Serve ``obj`` (an ``MCPServer`` or a ``ServerCore``) until stopped: the one launch path of
    ``mcpfast run`` and ``python -m mcpfast.server``. ``idle_timeout`` (socket transports; None:
    the transport's default, 0: never) closes connections idle that long; ``tls_cert`` and
    ``tls_key`` serve TLS; ``announce`` prints where a socket transport listens on stderr;
    ``metrics_port`` also serves the metrics as Prometheus text on that port (any transport);
    ``store`` is the shared store's URL (``mcpfast.stores``; None: the server's own setting, else
    ``$MCPFAST_STORE``, else in memory). Invalid combinations raise ``CLIError``."""
    from .server.app import MCPServer
    from .server.serving import TransportUnavailable, canonical_transport

    if transport not in TRANSPORTS:
        raise CLIError(f"unknown transport {transport!r}; expected {', '.join(TRANSPORTS)}")
    if transport != "stdio":
        try:
            transport = canonical_transport(transport)
        except TransportUnavailable as exc:
            raise CLIError(str(exc)) from None
    _check_options(transport, host=host, port=port, workers=workers, json_response=json_response,
                   stateless=stateless, idle_timeout=idle_timeout, max_connections=max_connections,
                   request_timeout=request_timeout, tls_cert=tls_cert, tls_key=tls_key)
    from .transports.http.workers import shared_store_configured

    if workers is not None and workers > 1 and not (
            stateless or getattr(getattr(obj, "settings", None), "stateless_http", False)
            or (store is not None and store.partition("://")[0].lower() != "memory")
            or shared_store_configured(None, obj.core if isinstance(obj, MCPServer) else obj)):
        # a legacy session lives in one process (unless a shared store holds the sessions); the
        # kernel spreads connections over the workers
        raise CLIError(f"--workers {workers} needs --stateless or a shared --store (sessions cannot span"
                       " processes otherwise)")
    if store is not None:
        from .stores import check_store_url

        try:
            check_store_url(store)
        except ValueError as exc:
            raise CLIError(f"--store: {exc}") from None
    if metrics_port is not None:
        if not 0 <= metrics_port <= 65535:
            raise CLIError(f"--metrics-port must be a port number, got {metrics_port}")
        if workers is not None and workers > 1:
            raise CLIError("--metrics-port serves one process; with --workers scrape each worker's /metrics")
        if getattr(obj.core if isinstance(obj, MCPServer) else obj, "metrics", None) is None:
            raise CLIError("--metrics-port: this server was made with metrics=False")
    kw: dict[str, Any] = {}
    if request_timeout is not None:
        kw["request_timeout"] = request_timeout
    if transport != "stdio":
        for name, value in (("host", host), ("port", port), ("max_connections", max_connections)):
            if value is not None:
                kw[name] = value
        if tls_cert is not None:
            kw["tls"] = (tls_cert, tls_key)
        if idle_timeout is not None:
            kw[_IDLE_OPTION.get(transport, "idle_timeout")] = idle_timeout or None
        if workers is not None:
            kw["workers"] = workers
        if announce:
            kw["ready"] = _announce(transport)
    if isinstance(obj, MCPServer):
        if metrics_port is not None:
            obj.settings.metrics_port = metrics_port
        if store is not None:
            obj.settings.store = store
        if json_response:
            kw["json_response"] = True
        if stateless:
            kw["stateless_http"] = True
        obj.run(transport, **kw)
        return
    # a bare ServerCore: the transports directly, through the same start() as MCPServer's
    if metrics_port is not None:
        kw["metrics_port"] = metrics_port
    from .stores import ENV_VAR

    store = store or os.environ.get(ENV_VAR) or None  # a bare core reads the env var here
    if store is not None:
        kw["store"] = store
    if transport == "stdio" and metrics_port is None and store is None:
        from .transports.stdio import run_stdio

        run_stdio(obj, **kw)
        return
    if json_response:
        kw["json_response"] = True
    if stateless:
        kw["stateless"] = True
    kw.setdefault("host", "127.0.0.1")
    kw.setdefault("port", 8000)
    if kw.get("workers", 1) != 1:
        from .transports.http import HTTPSettings, run_http

        net = {k: kw.pop(k) for k in ("host", "port", "workers", "tls", "max_connections") if k in kw}
        kw.pop("ready", None)
        if "store" in kw:  # each worker attaches the store in its own loop
            url = kw.pop("store")
            kw["lifespan"] = lambda: obj.using_store(url)
            kw["store"] = url  # (what check_workers reads: the sessions are shared)
        run_http(obj, settings=HTTPSettings(bind_host=net["host"], **kw), **net)
        return
    kw.pop("workers", None)
    import asyncio
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_core(obj, transport, kw))


async def _serve_core(core: Any, transport: str, kw: dict[str, Any]) -> None:
    ready = kw.pop("ready", None)
    metrics_port = kw.pop("metrics_port", None)
    async with core.using_store(kw.pop("store", None)):
        await _serve_core_in(core, transport, kw, ready, metrics_port)


async def _serve_core_in(core: Any, transport: str, kw: dict[str, Any], ready: Any, metrics_port: int | None) -> None:
    from .server.serving import start_server
    from .transports.listener import notify_ready

    metrics = None
    if metrics_port is not None:
        from .transports.http.metrics_port import start_metrics_server

        metrics = await start_metrics_server(core.metrics, host=kw.get("host", "127.0.0.1"), port=metrics_port)
    try:
        if transport == "stdio":
            from .transports.stdio import serve_stdio

            await serve_stdio(core, **kw)
            return
        handle = await start_server(core, transport, **kw)
        notify_ready(ready, handle.listener)
        await handle.serve_forever()
    finally:
        if metrics is not None:
            await metrics.close()


def add_serve_arguments(ap: argparse.ArgumentParser) -> None:
    """The serving flags shared by ``mcpfast run`` and ``python -m mcpfast.server``."""
    ap.add_argument("--transport", "-t", choices=TRANSPORTS, default="stdio", help="default: stdio")
    ap.add_argument("--host", help="address to bind (socket transports); default: the server's (127.0.0.1);"
                                   " 0.0.0.0 in a container")
    ap.add_argument("--port", "-p", type=int,
                    help="port to bind (socket transports; 0: any free port); default: the server's (8000)")
    ap.add_argument("--max-connections", type=int, metavar="N",
                    help="socket transports: connections served at once (past it: refused with an error)")
    ap.add_argument("--request-timeout", type=float, metavar="SECONDS",
                    help="answer a request still running after this long with an error (default: no limit)")
    ap.add_argument("--tls-cert", metavar="PEM", help="socket transports: serve TLS with this certificate chain")
    ap.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    ap.add_argument("--workers", type=int, help="HTTP worker processes sharing the port (needs --stateless)")
    ap.add_argument("--json-response", action="store_true", help="HTTP: answer POSTs with JSON, never SSE")
    ap.add_argument("--stateless", action="store_true", help="HTTP: serve legacy requests without sessions")
    ap.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                    help="socket transports: close a connection with no request in flight and no traffic for"
                         " this long (0: never; default: tcp 300, http 5 between keep-alive requests)")
    ap.add_argument("--metrics-port", type=int, metavar="PORT",
                    help="also serve the metrics as Prometheus text at http://HOST:PORT/metrics (any transport)")
    ap.add_argument("--store", metavar="URL",
                    help="where state shared by server processes lives: redis://HOST:PORT/DB, or memory"
                         " (default: $MCPFAST_STORE, else memory)")
    ap.add_argument("--log-level", default="WARNING", type=str.upper,
                    choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                    help="log level of mcpfast's logs on stderr (default: WARNING)")


def setup_logging(args: argparse.Namespace) -> None:
    """Logs on stderr at ``--log-level`` (stdout may be the protocol: stdio)."""
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def launch(obj: Any, args: argparse.Namespace, prog: str = "mcpfast") -> int:
    """Serve ``obj`` with the flags of ``add_serve_arguments``; the exit status (usage errors
    and a port that cannot be bound exit 2 with one line on stderr)."""
    try:
        serve(obj, transport=args.transport, host=args.host, port=args.port, workers=args.workers,
              json_response=args.json_response, stateless=args.stateless, idle_timeout=args.idle_timeout,
              max_connections=args.max_connections, request_timeout=args.request_timeout,
              tls_cert=args.tls_cert, tls_key=args.tls_key, announce=True, metrics_port=args.metrics_port,
              store=args.store)
    except CLIError as exc:
        _fail(str(exc), prog)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            where = f"{args.host or '127.0.0.1'}:{args.port if args.port is not None else 8000}"
            _fail(f"cannot listen on {where}: {exc.strerror or exc}", prog)
        raise
    except KeyboardInterrupt:
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    from .cli_client import add_client_commands

    ap = argparse.ArgumentParser(prog="mcpfast", description="mcpfast: run MCP servers, and talk to them.")
    sub = ap.add_subparsers(dest="command", metavar="{run,version,tools,call,read,prompt}")
    run = sub.add_parser("run", help="serve an MCPServer defined in a Python file",
                         description="Serve the MCPServer (or ServerCore) in a Python file or module.")
    run.add_argument("target", help="path/to/server.py[:obj] or package.module[:obj]")
    add_serve_arguments(run)
    sub.add_parser("version", help="print the mcpfast version")
    add_client_commands(sub)
    return ap


def _print_user_traceback(exc: BaseException) -> None:
    """The import's traceback without this module's and importlib's frames."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__,)
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen")):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__, file=sys.stderr)


def _fail(message: str, prog: str = "mcpfast") -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_or_fail(target: str, prog: str = "mcpfast") -> Any:
    """``load_server(target)``; a usage problem or a failing import exits 2 with its reason
    (and the import's traceback)."""
    try:
        return load_server(target)
    except CLIError as exc:
        _fail(str(exc), prog)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's module failed to import
        _print_user_traceback(exc)
        _fail(f"importing {target} failed: {type(exc).__name__}: {exc}", prog)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mcpfast`` and ``python -m mcpfast``; returns the exit status."""
    from .cli_client import COMMANDS, run_command, split_argv

    ap = _parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in COMMANDS:  # a client command: the stdio command after -- is set aside
        words, line = split_argv(words)
        return run_command(ap.parse_args(words), line)
    args = ap.parse_args(words)
    if args.command == "version":
        from . import EXTENSIONS, __version__

        core = "compiled" if EXTENSIONS else "pure Python"
        print(f"mcpfast {__version__} ({core} wire core, Python {sys.version.split()[0]})")
        return 0
    if args.command != "run":
        ap.print_help(sys.stderr)
        return 2
    setup_logging(args)
    try:
        obj = load_or_fail(args.target)
    except KeyboardInterrupt:
        return 130
    return launch(obj, args)


if __name__ == "__main__":  # pragma: no cover - python -m mcpfast.cli
    sys.exit(main())
