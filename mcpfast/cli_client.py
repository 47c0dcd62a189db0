"""The client side of the ``mcpfast`` command: ``tools``, ``call``, ``read`` and ``prompt``.

::

    mcpfast tools  [options] URL                      # or: mcpfast tools [options] -- command args...
    mcpfast call   [options] URL TOOL [key=value ...] [--json ARGS] [--task]
    mcpfast read   [options] URL URI
    mcpfast prompt [options] URL NAME [key=value ...]

    options: --header 'K: V' (repeatable)  --bearer TOKEN  --mode auto|legacy|2026-07-28
             --timeout SECONDS  --json

TARGET is a URL (``http(s)://`` Streamable HTTP, ``tcp(s)://``, ``ws(s)://``) or, after ``--``,
the command line of a server spoken to over stdio: everything after the first ``--`` is that
command, so the other words come before it (``mcpfast call echo message=hi -- python3
server.py``). The subprocess inherits this process's environment, as a shell would run it.

``key=value`` arguments are parsed as JSON when they parse (``n=3``, ``flag=true``,
``opts={"a": 1}``) and kept as strings otherwise; a property the tool's input schema types as
string keeps the text as typed (``zip=01234``). ``--json ARGS`` (a JSON object) gives all of the
arguments at once. Prompt arguments are strings, always.

Output is readable by default; ``--json`` prints the result as JSON instead. A tool result
with ``isError`` prints its message on stderr and exits 1; so does an error answer or a failed
connection (one line). Usage errors exit 2. While a call runs, the server's progress
notifications draw a bar on stderr when stderr is a terminal. ``call --task`` runs the call as a
task (``mcpfast.client.tasks``) and prints each status change on stderr (``task ID: working -
message``); Ctrl-C then cancels the task on the server too. The bearer token is never printed
or logged.

``mcpfast.cli`` builds the parser and dispatches here (this module imports no asyncio or
client code until a command runs); ``build_client`` is the one way a TARGET
becomes a ``Client``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from .errors import CONNECTION_CLOSED, MCPError

__all__ = ["COMMANDS", "UsageError", "add_client_commands", "build_client", "parse_pairs", "run_command",
           "split_argv"]

#: the subcommands this module adds to ``mcpfast``
COMMANDS = ("tools", "call", "read", "prompt")
HTTP_SCHEMES = ("http", "https")
WS_SCHEMES = ("ws", "wss")
TCP_SCHEMES = ("tcp", "tcps")
#: description column of ``mcpfast tools``: its first line, cut at this many characters
DESCRIPTION_WIDTH = 60

_TARGET_HELP = ("TARGET: a URL (http://, https://, tcp://, tcps://, ws://, wss://) or, after --, the"
                " command of a stdio server (everything after -- is that command)")


class UsageError(Exception):
    """A command line that cannot be run: one line on stderr, exit status 2."""


class CommandLine:
    """What ``split_argv`` takes out of the arguments before argparse sees them."""

    __slots__ = ("stdio_command", "json_args")

    def __init__(self, stdio_command: list[str] | None, json_args: str | None) -> None:
        #: the words after the first ``--`` (None: no ``--``)
        self.stdio_command = stdio_command
        #: the JSON object of ``--json ARGS`` (call only), as typed
        self.json_args = json_args


def split_argv(argv: Sequence[str]) -> tuple[list[str], CommandLine]:
    """Take the stdio command (after the first ``--``) and a ``--json ARGS`` value (a word
    starting with ``{``) out of ``argv``; what is left goes to argparse (``--json`` stays as
    the output flag). Done by hand because argparse would mix the words after ``--`` with the
    positionals and an optional ``--json`` value would swallow the URL."""
    words = list(argv)
    command: list[str] | None = None
    if "--" in words:
        at = words.index("--")
        command = words[at + 1:]
        words = words[:at]
    json_args: str | None = None
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--json="):
            json_args = word[len("--json="):]
            out.append("--json")
        elif word == "--json" and i + 1 < len(words) and words[i + 1].lstrip().startswith("{"):
            json_args = words[i + 1]
            out.append("--json")
            i += 1
        else:
            out.append(word)
        i += 1
    return out, CommandLine(command, json_args)


def add_client_commands(sub: Any) -> None:
    """Add ``tools``, ``call``, ``read`` and ``prompt`` to ``mcpfast``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--header", "-H", action="append", default=[], metavar="'NAME: VALUE'",
                        help="HTTP/WebSocket: a header sent with every request (repeatable)")
    common.add_argument("--bearer", metavar="TOKEN",
                        help="HTTP/WebSocket: send 'Authorization: Bearer TOKEN' (never printed)")
    common.add_argument("--mode", default="auto", metavar="auto|legacy|2026-07-28",
                        help="protocol era: auto (probe, fall back to initialize; default), legacy (the"
                             " initialize handshake) or a version to pin")
    common.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="give up on connecting or on an answer after this long (default: no limit)")
    common.add_argument("--json", action="store_true",
                        help="print the result as JSON (call: --json '{...}' also takes the arguments as one object)")
    epilog = _TARGET_HELP
    p = sub.add_parser("tools", parents=[common], help="list a server's tools", epilog=epilog,
                       usage="mcpfast tools [options] (URL | -- command args...)")
    p.add_argument("words", nargs="*", metavar="URL")
    p = sub.add_parser("call", parents=[common], help="call a tool", epilog=epilog,
                       usage="mcpfast call [options] URL TOOL [key=value ...] [--json ARGS]\n"
                             "       mcpfast call [options] TOOL [key=value ...] -- command args...",
                       description="Call TOOL. key=value values are JSON when they parse, else strings;"
                                   " --json ARGS (a JSON object) gives the arguments at once.")
    p.add_argument("words", nargs="*", metavar="URL TOOL key=value")
    p.add_argument("--task", action="store_true",
                   help="run the call as a task (2025-11-25 params.task; 2026-07-28 the Tasks extension) and"
                        " print its status changes on stderr")
    p = sub.add_parser("read", parents=[common], help="read a resource", epilog=epilog,
                       usage="mcpfast read [options] URL URI\n"
                             "       mcpfast read [options] URI -- command args...")
    p.add_argument("words", nargs="*", metavar="URL URI")
    p = sub.add_parser("prompt", parents=[common], help="get a prompt", epilog=epilog,
                       usage="mcpfast prompt [options] URL NAME [key=value ...]\n"
                             "       mcpfast prompt [options] NAME [key=value ...] -- command args...")
    p.add_argument("words", nargs="*", metavar="URL NAME key=value")


# ---------------------------------------------------------------------------- the target


def parse_headers(lines: Sequence[str]) -> dict[str, str]:
    """``['K: V', ...]`` as a dict; a line without a name and a colon is a ``UsageError``."""
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
            raise UsageError(f"--header takes 'Name: value', got {line!r}")
        headers[name] = value.strip()
    return headers


def build_client(target: str | None, stdio_command: list[str] | None, *, headers: Sequence[str] = (),
                 bearer: str | None = None, mode: str = "auto", timeout: float | None = None) -> Any:
    """The ``Client`` for a TARGET: a URL, or ``stdio_command`` (the words after ``--``).
    ``headers`` ('K: V' lines) and ``bearer`` go to HTTP and WebSocket only; ``timeout``
    bounds connecting and each answer. Raises ``UsageError`` for what cannot work."""
    from . import __version__
    from .client.client import Client

    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout must be seconds > 0, got {timeout}")
    parsed = parse_headers(headers)
    if bearer is not None:
        if not bearer or any(c in bearer for c in "\r\n"):
            raise UsageError("--bearer needs a token on one line")
        if any(k.lower() == "authorization" for k in parsed):
            raise UsageError("give --bearer or an Authorization header, not both")
    options: dict[str, Any] = {}
    server: Any
    if stdio_command is not None:
        if target is not None:
            raise UsageError(f"give a URL or -- command, not both (got {target!r} and a command)")
        if not stdio_command:
            raise UsageError("nothing after --: give the server's command (-- python3 server.py)")
        if parsed or bearer is not None:
            raise UsageError("--header and --bearer apply to http(s):// and ws(s):// targets, not stdio")
        from .client.stdio import StdioServerParameters

        # the command the user typed runs in the user's environment, as a shell would run it
        server = StdioServerParameters(stdio_command[0], stdio_command[1:], env=dict(os.environ))
    elif target is None:
        raise UsageError(f"no target. {_TARGET_HELP}")
    else:
        scheme = urlsplit(target).scheme.lower() if "://" in target else ""
        if scheme in HTTP_SCHEMES:
            options["headers"] = parsed
            if bearer is not None:
                options["bearer"] = bearer
            if timeout is not None:
                from .client.http import DEFAULT_READ_TIMEOUT

                options["connect_timeout"] = timeout
                # the answer's deadline is the request timeout (-32001); the transport's limit on a
                # silent response is never the shorter one
                options["read_timeout"] = max(timeout, DEFAULT_READ_TIMEOUT)
        elif scheme in WS_SCHEMES:
            if bearer is not None:
                parsed["Authorization"] = f"Bearer {bearer}"
            options["headers"] = parsed
            if timeout is not None:
                options["open_timeout"] = timeout
        elif scheme in TCP_SCHEMES:
            if parsed or bearer is not None:
                raise UsageError("--header and --bearer apply to http(s):// and ws(s):// targets, not tcp")
            if timeout is not None:
                options["connect_timeout"] = timeout
        else:
            hint = f" (a server file? run it: -- python3 {target})" if target.endswith(".py") else ""
            raise UsageError(f"{target!r} is not a target{hint}. {_TARGET_HELP}")
        from .client.transport import transport_for

        try:  # built here, so that a URL or header the transport refuses is a usage error
            server = transport_for(target, **options)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
    try:
        return Client(server, mode=mode, read_timeout_seconds=timeout, cache=None,
                      client_info={"name": "mcpfast-cli", "version": __version__})
    except ValueError as exc:
        raise UsageError(str(exc).replace("mode must be", "--mode must be")) from None


# ---------------------------------------------------------------------------- arguments


def _schema_types(schema: Any) -> set[str]:
    """The JSON types a property schema allows (``type``, or the branches of ``anyOf``/``oneOf``);
    empty when it does not say."""
    if not isinstance(schema, dict):
        return set()
    kind = schema.get("type")
    types = {kind} if isinstance(kind, str) else {t for t in kind if isinstance(t, str)} if isinstance(
        kind, list) else set()
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or ():
            types |= _schema_types(branch)
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fits(value: Any, types: set[str]) -> bool:
    kind = _json_type(value)
    return kind in types or (kind == "integer" and "number" in types)


def parse_pairs(pairs: Sequence[str], schema: Any = None, *, as_json: bool = True) -> dict[str, Any]:
    """``['k=v', ...]`` as arguments. With ``as_json`` a value is JSON when it parses, else the
    text; a property that ``schema`` (a tool's input schema) types as string, and not as the
    parsed value's type, keeps the text. Raises ``UsageError`` for a word without ``=``."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"arguments are key=value, got {pair!r}")
        value: Any = text
        if as_json:
            try:
                value = json.loads(text)
            except ValueError:
                value = text
            types = _schema_types(properties.get(key)) if isinstance(properties, dict) else set()
            if "string" in types and not _fits(value, types):
                value = text
        out[key] = value
    return out


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--json ARGS is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("--json ARGS must be a JSON object ({\"key\": value, ...})")
    return value


# ---------------------------------------------------------------------------- output


def _size(data: Any) -> int:
    """Decoded size of base64 ``data`` (its length / 4 * 3 if it does not decode)."""
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4


def describe_block(block: Any) -> str:
    """One content block as text: text as it is, binary content as a one-line summary."""
    if not isinstance(block, dict):
        return json.dumps(block)
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        return f"[{kind}: {block.get('mimeType', '?')}, {_size(block.get('data'))} bytes]"
    if kind == "resource_link":
        extra = f" ({block['mimeType']})" if block.get("mimeType") else ""
        return f"[resource link: {block.get('uri')} {block.get('name', '')}{extra}]".replace(" ]", "]")
    if kind == "resource":
        return describe_contents(block.get("resource") or {}, header=True)
    return json.dumps(block, ensure_ascii=False)


def describe_contents(contents: Any, *, header: bool) -> str:
    """One resource contents: its text (after a ``[uri (mime)]`` line when ``header``), or a
    summary of a blob."""
    uri = contents.get("uri", "?")
    mime = contents.get("mimeType")
    if "text" in contents:
        head = f"[resource: {uri}{f' ({mime})' if mime else ''}]\n" if header else ""
        return head + str(contents["text"])
    return f"[resource: {uri}, {mime or 'application/octet-stream'}, {_size(contents.get('blob'))} bytes]"


def _schema_label(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(json.dumps(v) for v in schema["enum"])
    types = sorted(_schema_types(schema))
    if types == ["array"] and isinstance(schema.get("items"), dict):
        return f"array[{_schema_label(schema['items'])}]"
    return "|".join(types) if types else "any"


def describe_parameters(schema: Any) -> str:
    """``a: integer, b?: string = "x"`` for an input schema (``?``: optional)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return ""
    required = set(schema.get("required") or ())
    parts = []
    for name, prop in schema["properties"].items():
        label = f"{name}{'' if name in required else '?'}: {_schema_label(prop)}"
        if isinstance(prop, dict) and "default" in prop:
            label += f" = {json.dumps(prop['default'])}"
        parts.append(label)
    return ", ".join(parts)


def tools_table(tools: Sequence[dict[str, Any]]) -> str:
    """The readable ``mcpfast tools`` listing: name, first line of the description, parameters."""
    if not tools:
        return "(no tools)"
    rows = [("NAME", "DESCRIPTION", "PARAMETERS")]
    for tool in tools:
        lines = str(tool.get("description") or "").strip().splitlines()
        desc = lines[0] if lines else ""
        if len(desc) > DESCRIPTION_WIDTH:
            desc = desc[:DESCRIPTION_WIDTH - 1] + "…"
        rows.append((str(tool.get("name", "?")), desc, describe_parameters(tool.get("inputSchema"))))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in rows)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def call_output(result: dict[str, Any]) -> str:
    """A tool result for reading: text content, binary summaries, structured content as
    indented JSON. Beside structured content, text blocks that are JSON (servers render the
    structured value, or each item of a list, as JSON text) or the wrapped string itself
    (``{"result": text}``) are left out: the value is shown once."""
    content = result.get("content") or []
    structured = result.get("structuredContent")
    parts = []
    for block in content:
        if structured is not None and isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text", "")
            if structured == {"result": text}:
                continue
            try:
                json.loads(text)
            except ValueError:
                pass
            else:
                continue
        parts.append(describe_block(block))
    if structured is not None:
        parts.append(_dump(structured))
    return "\n".join(parts)


def prompt_output(result: dict[str, Any]) -> str:
    """A prompt: its description, then each message as ``[role]`` and its content."""
    parts = []
    if result.get("description"):
        parts.append(f"# {result['description']}\n")
    for message in result.get("messages") or []:
        parts.append(f"[{message.get('role', '?')}]\n{describe_block(message.get('content'))}\n")
    return "\n".join(parts).rstrip("\n")


class ProgressBar:
    """The progress of a long call on a terminal: one line on ``stream``, redrawn in place."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        if total:
            done = max(0.0, min(1.0, progress / total))
            filled = int(done * self.WIDTH)
            line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress:g}/{total:g}"
        else:
            line = f"[{progress:g}]"
        if message:
            line += f" {message}"
        self.stream.write("\r" + line[:max(10, columns - 1)] + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


# ---------------------------------------------------------------------------- running


def _words(args: argparse.Namespace, line: CommandLine, names: Sequence[str],
           rest: bool) -> tuple[str | None, list[str], list[str]]:
    """(target, the required words ``names``, the remaining key=value words) of a command."""
    words = list(args.words)
    target = None if line.stdio_command is not None else (words.pop(0) if words else None)
    if target is None and line.stdio_command is None:
        raise UsageError(f"no target. {_TARGET_HELP}")
    if len(words) < len(names):
        where = " before --" if line.stdio_command is not None else ""
        raise UsageError(f"{args.command} needs {' '.join(names[len(words):])}{where}")
    fixed, extra = words[:len(names)], words[len(names):]
    if extra and not rest:
        raise UsageError(f"unexpected argument {extra[0]!r}")
    return target, fixed, extra


async def _run(args: argparse.Namespace, line: CommandLine, out: TextIO, err: TextIO) -> int:
    command = args.command
    if line.json_args is not None and command != "call":
        raise UsageError("--json ARGS (a JSON object) is for call; --json alone prints JSON")
    names = {"tools": (), "call": ("TOOL",), "read": ("URI",), "prompt": ("NAME",)}[command]
    target, fixed, pairs = _words(args, line, names, rest=command in ("call", "prompt"))
    client = build_client(target, line.stdio_command, headers=args.header, bearer=args.bearer, mode=args.mode,
                          timeout=args.timeout)
    json_args = _json_object(line.json_args) if line.json_args is not None else None
    # checked before connecting (a word without "=" is a usage error); call reads them again with the schema
    named = parse_pairs(pairs, as_json=command == "call")
    async with client:
        if command == "tools":
            tools = await _all_tools(client)
            print(_dump({"tools": tools}) if args.json else tools_table(tools), file=out)
            return 0
        if command == "read":
            res = (await client.read_resource(fixed[0])).raw
            text = _dump(res) if args.json else "\n".join(
                describe_contents(c, header=len(res.get("contents") or []) > 1) for c in res.get("contents") or [])
            print(text, file=out)
            return 0
        if command == "prompt":
            res = (await client.get_prompt(fixed[0], named)).raw
            print(_dump(res) if args.json else prompt_output(res), file=out)
            return 0
        return await _call(client, args, fixed[0], pairs, json_args, out, err)


async def _all_tools(client: Any) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await client.list_tools(cursor=cursor)).raw
        tools.extend(page.get("tools") or [])
        cursor = page.get("nextCursor")
        if not cursor:
            return tools


async def _call(client: Any, args: argparse.Namespace, name: str, pairs: list[str],
                json_args: dict[str, Any] | None, out: TextIO, err: TextIO) -> int:
    arguments: dict[str, Any] = dict(json_args or {})
    if pairs:
        schema = None
        try:  # the input schema says which values stay strings
            schema = next((t.get("inputSchema") for t in await _all_tools(client) if t.get("name") == name), None)
        except MCPError:
            pass  # a server that cannot list its tools: JSON where it parses
        arguments.update(parse_pairs(pairs, schema))
    if getattr(args, "task", False):
        res = await _call_as_task(client, name, arguments, err)
    else:
        bar = ProgressBar(err) if err.isatty() else None
        try:
            res = (await client.call_tool(name, arguments, progress_callback=bar)).raw
        finally:
            if bar is not None:
                bar.clear()
    if args.json:
        print(_dump(res), file=out)
    if res.get("isError"):
        message = " ".join(describe_block(b) for b in res.get("content") or []).strip() or "(no message)"
        print(f"mcpfast: error: tool {name!r} failed: {message}", file=err)
        return 1
    if not args.json:
        print(call_output(res), file=out)
    return 0


async def _call_as_task(client: Any, name: str, arguments: dict[str, Any], err: TextIO) -> dict[str, Any]:
    """``call --task``: start the task, print each status change, wait for the end; an
    interrupted wait cancels the task (the server would otherwise run it to its end)."""
    import asyncio

    def show(task: Any) -> None:
        if task.task_id is None:
            return  # a direct answer: said below
        line = f"task {task.task_id}: {task.status}"
        if task.status_message:
            line += f" - {task.status_message}"
        print(line, file=err, flush=True)

    task = await client.start_tool_task(name, arguments, on_status=show)
    if task.task_id is None:
        print(f"mcpfast: the server answered {name!r} directly (no task)", file=err, flush=True)
    try:
        return (await task.result()).raw  # type: ignore[no-any-return]
    except asyncio.CancelledError:
        if task.task_id is not None and not task.done:
            try:
                await asyncio.wait_for(task.cancel(), 2)
                print(f"mcpfast: cancelled task {task.task_id}", file=err, flush=True)
            except (MCPError, TimeoutError):
                pass  # the connection is going anyway
        raise


def _connection_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in text:
        return f"connection refused: {text}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return text


def run_command(args: argparse.Namespace, line: CommandLine, prog: str = "mcpfast") -> int:
    """Run a client subcommand; its exit status (0, 1: the server or the connection failed,
    2: usage). Every failure is one line on stderr."""
    import asyncio  # here: ``mcpfast run`` and ``version`` build the parser without it

    out, err = sys.stdout, sys.stderr
    try:
        return asyncio.run(_run(args, line, out, err))
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=err)
        return 2
    except MCPError as exc:
        hint = ""
        if exc.code == CONNECTION_CLOSED and line.stdio_command is not None:
            hint = "; the server process ended (its stderr is above)"
        print(f"{prog}: error: {exc.message} (MCP error {exc.code}){hint}", file=err)
        return 1
    except ImportError as exc:  # a transport whose extra is not installed says which
        print(f"{prog}: error: {exc}", file=err)
        return 1
    except (OSError, TimeoutError) as exc:  # ConnectionError and friends
        print(f"{prog}: error: {_connection_message(exc)}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130
