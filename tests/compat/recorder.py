"""Record what a server sends the official SDK client for a scripted sequence of requests.

A step is ``(step_id, method, arguments)`` where ``method`` names an SDK ``Client`` method
(``call_tool``, ``list_tools``, ``read_resource``...). Each step's outcome is taken from the wire
(the raw JSON-RPC result or error object the client received), so nothing the SDK's models
would drop or reshape escapes the comparison; an exception the SDK client raised on top
(output-schema validation, say) is recorded too, and so are the notifications, the
server->client requests (sessions) and the intermediate ``InputRequiredResult`` objects (2026-07-28)
that came during the step. The client declares elicitation, sampling and roots, answered by
fixed callbacks.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from . import sdk

RUNNER = str(Path(__file__).with_name("run_server.py"))
IMPLS = ("sdk", "mcpfast")

Step = tuple[str, str, tuple[Any, ...]]
Outcome = dict[str, Any]


class _Tap:
    """The read side of the SDK's stdio transport, keeping every incoming response."""

    def __init__(self, inner: Any, seen: list[dict[str, Any]]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        item = await self._inner.receive()
        if isinstance(item, SessionMessage):
            self._seen.append(item.message.model_dump(by_alias=True, mode="json", exclude_unset=True))
        return item

    def __aiter__(self) -> _Tap:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _Tap:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


@asynccontextmanager
async def _tapped(impl: str, server: Path, seen: list[dict[str, Any]], errlog: TextIO) -> AsyncIterator[tuple[Any, Any]]:
    async with stdio_client(sdk.params([RUNNER, impl, str(server)]), errlog=errlog) as (read, write):
        yield _Tap(read, seen), write


@asynccontextmanager
async def _tapped_transport(transport: Any, seen: list[dict[str, Any]]) -> AsyncIterator[tuple[Any, Any]]:
    async with transport as (read, write, *_):
        yield _Tap(read, seen), write


class _FellBack(Exception):
    """The ``auto`` client settled on the legacy era."""


async def record(impl: str, server: Path, mode: str, steps: list[Step], transport: Any = None) -> dict[str, Outcome]:
    """Run ``steps`` against ``server`` served by ``impl`` in ``mode`` -> step id -> outcome.
    ``transport``: an SDK client transport (``sse_client(url)``) to the server already serving
    it, instead of a stdio subprocess. A stdio recording whose ``auto`` client fell back to a
    session (its discover probe timed out on a loaded machine) is made once more."""
    for attempt in (1, 2):
        try:
            return await _record(impl, server, mode, steps, transport)
        except RuntimeError as exc:
            if not isinstance(exc.__cause__, _FellBack) or attempt == 2 or transport is not None:
                raise
    raise AssertionError("unreachable")


async def _record(impl: str, server: Path, mode: str, steps: list[Step], transport: Any) -> dict[str, Outcome]:
    seen: list[dict[str, Any]] = []
    out: dict[str, Outcome] = {}
    # the servers' stderr (tracebacks of the failing tools, logs) is kept out of the test output
    # and shown only if the recording fails
    errlog = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in the finally below
    # log_level: the 2026-07-28 opt-in to log messages (a session gets them all until setLevel)
    wire = _tapped(impl, server, seen, errlog) if transport is None else _tapped_transport(transport, seen)
    client = Client(wire, mode=mode, cache=None, read_timeout_seconds=30,
                    log_level="debug", elicitation_callback=_elicit, sampling_callback=_sample,
                    list_roots_callback=_roots)
    try:
        async with client:
            answers = [m for m in seen if "method" not in m]
            out["@handshake"] = {"result": answers[-1].get("result")} if answers else {}
            if mode == "auto" and "supportedVersions" not in (out["@handshake"].get("result") or {}):
                # the client's discover probe timed out (a loaded machine) and it fell back to a
                # session: that recording would compare the wrong era
                raise _FellBack(f"{impl} answered no server/discover in time")
            for step_id, method, args in steps:
                before = len(seen)
                outcome: Outcome = {}
                # a tool call asks for progress, so a server that reports it is heard
                kw: dict[str, Any] = {"progress_callback": _ignore} if method == "call_tool" else {}
                try:
                    await getattr(client, method)(*args, **kw)
                except MCPError:
                    pass  # the wire has it
                except Exception as exc:  # noqa: BLE001 - the SDK client refused the answer
                    outcome["client_exception"] = type(exc).__name__
                new = seen[before:]
                answers = [m for m in new if "method" not in m]
                last = answers[-1] if answers else {}
                notes = [{"method": m["method"], "params": m.get("params")} for m in new if "id" not in m]
                if notes:
                    outcome["notifications"] = notes
                asked = [{"method": m["method"], "params": m.get("params")} for m in new if "method" in m and "id" in m]
                if asked:  # server->client requests (sessions)
                    outcome["requests"] = asked
                rounds = [m["result"] for m in answers[:-1] if "result" in m]
                if rounds:  # InputRequiredResults before the final answer (2026-07-28)
                    outcome["rounds"] = rounds
                if "error" in last:
                    outcome["error"] = last["error"]
                elif "result" in last:
                    outcome["result"] = last["result"]
                out[step_id] = outcome
    except BaseException as exc:
        errlog.seek(0)
        tail = errlog.read()[-4000:]
        leaf = sdk.unwrap(exc) if isinstance(exc, BaseExceptionGroup) else exc
        raise RuntimeError(f"recording {server.name} on {impl} ({mode}) failed: {leaf!r}\n"
                           f"server stderr:\n{tail}") from leaf
    finally:
        errlog.close()
    return out


async def _elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"guests": 3, "vegetarian": True})


async def _sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    text = params.messages[0].content.text  # type: ignore[union-attr]
    return types.CreateMessageResult(role="assistant", model="echo-model",
                                     content=types.TextContent(type="text", text=f"[{text}]"))


async def _roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/a", name="a"), types.Root(uri="file:///work/b")])


async def _ignore(progress: float, total: float | None, message: str | None) -> None:
    pass


def record_all(server: Path, steps: list[Step]) -> dict[tuple[str, str], dict[str, Outcome]]:
    """Every (impl, mode) pair, concurrently (one subprocess each) -> their recordings."""

    async def main() -> list[dict[str, Outcome]]:
        return await asyncio.gather(*(record(i, server, m, steps) for i in IMPLS for m in sdk.MODES))

    if sys.platform == "win32":  # pragma: no cover - the suite's stdio tests are POSIX only
        raise RuntimeError("POSIX only")
    results = asyncio.run(main())
    keys = [(i, m) for i in IMPLS for m in sdk.MODES]
    return dict(zip(keys, results))
