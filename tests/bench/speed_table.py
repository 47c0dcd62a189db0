"""The speed goals of the wire core, measured as ratios in one process, printed as markdown.

    python tests/bench/speed_table.py [--rounds 15] [--min-time 0.03]

Goals (the compiled twin unless said otherwise):

(a) ``decode`` of a 100 B tools/call request     <= 1.3x bare ``orjson.loads`` of the same bytes
(b) ``encode_result`` of a 100 B result envelope <= 1.3x ``orjson.dumps`` of the equivalent
    (already built) ``{"jsonrpc": "2.0", "id": .., "result": ..}`` dict
(c) splitting 64 KiB of 100 B NDJSON lines: pure-twin time / compiled time >= 5x
(d) pure-twin ``decode`` on the stdlib backend (``MCPFAST_JSON=json``) <= 2x bare ``json.loads``;
    the backend is chosen at import, so (d) runs in a child process started with
    ``MCPFAST_JSON=json MCPFAST_NO_EXTENSIONS=1``.

Then the bare libraries: orjson / ujson / json decode and encode at 100 B and 10 KB, in ns.

Method: every figure is the median over ``--rounds`` rounds of ``timeit.repeat(stmt,
globals=..., number=n, repeat=1)``, ``n`` picked once per statement so that a round lasts about
``--min-time`` seconds. The two sides of a ratio run alternately, round by round, and use
statements of the same shape (a global function called on global arguments), so machine noise
and call overhead fall on both. The ratio is median(A) / median(B); the range after it is the
lowest and highest per-round ratio, a measure of how noisy the machine was.

Payloads come from tests/bench/payloads.py (seeded, built before any timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import timeit
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[1]

if __package__:
    from . import payloads
else:  # run as a script: this file's folder is sys.path[0]
    import payloads  # type: ignore[import-not-found,no-redef]

try:
    import mcpfast
except ImportError:  # an uninstalled checkout: use it
    sys.path.insert(0, str(_ROOT))
    import mcpfast

CHILD_FLAG = "--child-stdlib-json"


@dataclass(frozen=True)
class Figure:
    """One statement's time per call: median over rounds, in ns."""

    ns: float
    rounds: list[float]


@dataclass(frozen=True)
class Ratio:
    a: Figure
    b: Figure

    @property
    def value(self) -> float:
        return self.a.ns / self.b.ns

    @property
    def low(self) -> float:
        return min(x / y for x, y in zip(self.a.rounds, self.b.rounds))

    @property
    def high(self) -> float:
        return max(x / y for x, y in zip(self.a.rounds, self.b.rounds))

    def as_dict(self) -> dict[str, Any]:
        return {"a": [self.a.ns, self.a.rounds], "b": [self.b.ns, self.b.rounds]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Ratio:
        return Ratio(Figure(d["a"][0], d["a"][1]), Figure(d["b"][0], d["b"][1]))


def _number(stmt: str, glb: dict[str, Any], min_time: float) -> int:
    """Calls per round so that a round lasts about ``min_time`` seconds (``autorange`` logic)."""
    timer = timeit.Timer(stmt, globals=glb)
    number, took = timer.autorange()  # at least 0.2 s; also warms caches up
    return max(1, int(number * min_time / took))


def measure(
    stmts: list[tuple[str, dict[str, Any]]], rounds: int, min_time: float
) -> list[Figure]:
    """Time several statements alternately, round by round; one Figure each."""
    numbers = [_number(stmt, glb, min_time) for stmt, glb in stmts]
    samples: list[list[float]] = [[] for _ in stmts]
    for _ in range(rounds):
        for (stmt, glb), number, out in zip(stmts, numbers, samples):
            (t,) = timeit.repeat(stmt, number=number, repeat=1, globals=glb)
            out.append(t / number * 1e9)
    return [Figure(statistics.median(s), s) for s in samples]


def ratio(
    a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]], rounds: int, min_time: float
) -> Ratio:
    fa, fb = measure([a, b], rounds, min_time)
    return Ratio(fa, fb)


def _ns(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:,.2f} ms"
    if x >= 1e4:
        return f"{x / 1e3:,.1f} µs"
    return f"{x:,.0f} ns"


# ----------------------------------------------------------------------------------- goals


def goal_decode(rounds: int, min_time: float) -> Ratio:
    import orjson

    _jsonrpc = import_module("mcpfast.wire._jsonrpc")
    data = payloads.tools_call_request("100B")
    return ratio(
        ("f(data)", {"f": _jsonrpc.decode, "data": data}),
        ("f(data)", {"f": orjson.loads, "data": data}),
        rounds,
        min_time,
    )


def goal_encode(rounds: int, min_time: float) -> tuple[Ratio, Ratio]:
    """(b) against a prebuilt envelope dict, and (for information) against building it too."""
    import orjson

    _jsonrpc = import_module("mcpfast.wire._jsonrpc")
    result = payloads.tools_call_result("100B")
    envelope = payloads.result_envelope("100B")
    assert _jsonrpc.encode_result(payloads.RESULT_ID, result) == orjson.dumps(envelope)
    g_mcp = {"f": _jsonrpc.encode_result, "i": payloads.RESULT_ID, "r": result}
    g_orj = {"f": orjson.dumps, "env": envelope, "i": payloads.RESULT_ID, "r": result}
    mcp, prebuilt, inline = measure(
        [
            ("f(i, r)", g_mcp),
            ("f(env)", g_orj),
            ('f({"jsonrpc": "2.0", "id": i, "result": r})', g_orj),
        ],
        rounds,
        min_time,
    )
    return Ratio(mcp, prebuilt), Ratio(mcp, inline)


def goal_split(rounds: int, min_time: float) -> Ratio:
    """(c) as pure / compiled."""
    from mcpfast.wire import _framing_py

    _framing = import_module("mcpfast.wire._framing")

    data = payloads.ndjson_stream(64 * 1024, 100)
    c_split = _framing.LineSplitter()
    py_split = _framing_py.LineSplitter()
    assert c_split.feed(data) == py_split.feed(data)
    return ratio(
        ("f(data)", {"f": py_split.feed, "data": data}),
        ("f(data)", {"f": c_split.feed, "data": data}),
        rounds,
        min_time,
    )


def goal_stdlib_child(rounds: int, min_time: float) -> dict[str, Any]:
    """Runs in the child: pure decode on the stdlib backend vs bare json.loads."""
    from mcpfast.wire import _json, jsonrpc

    assert _json.BACKEND == "json", _json.BACKEND
    from mcpfast.wire import _jsonrpc_py

    assert jsonrpc.decode is _jsonrpc_py.decode, "the selector did not pick the pure twin"
    out: dict[str, Any] = {"backend": _json.BACKEND}
    for size in ("100B", "10KB"):
        data = payloads.tools_call_request(size)
        r = ratio(
            ("f(data)", {"f": jsonrpc.decode, "data": data}),
            ("f(data)", {"f": json.loads, "data": data}),
            rounds,
            min_time,
        )
        out[size] = r.as_dict()
    return out


def goal_stdlib(rounds: int, min_time: float) -> dict[str, Ratio]:
    env = dict(os.environ, MCPFAST_JSON="json", MCPFAST_NO_EXTENSIONS="1")
    if _from_root():  # the child must import the same (uninstalled) checkout
        paths = (str(_ROOT), os.environ.get("PYTHONPATH"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    script = str(Path(__file__).resolve())
    proc = subprocess.run(
        [sys.executable, script, CHILD_FLAG, "--rounds", str(rounds), "--min-time", str(min_time)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(proc.stdout)
    return {size: Ratio.from_dict(data[size]) for size in ("100B", "10KB")}


def _from_root() -> bool:
    """Whether the mcpfast in use is the checkout this script sits in."""
    return Path(mcpfast.__file__).resolve().parents[1] == _ROOT


# ------------------------------------------------------------------------------- libraries


def libraries(rounds: int, min_time: float) -> list[tuple[str, str, dict[str, Figure | None]]]:
    """(library, operation, {size: figure}) for orjson / ujson / json, loads and dumps."""
    import orjson

    ujson: ModuleType | None
    try:
        ujson = import_module("ujson")
    except ImportError:
        ujson = None
    sizes = ("100B", "10KB")
    rows: list[tuple[str, str, dict[str, Figure | None]]] = []
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for size in sizes:
        data = payloads.tools_call_request(size)
        env = payloads.result_envelope(size)
        expected = payloads.envelope_bytes(size)
        assert orjson.dumps(env) == expected and encode(env).encode() == expected
    specs: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("orjson", "loads", "f(data)", {"f": orjson.loads}),
        ("ujson", "loads", "f(data)", {"f": ujson.loads} if ujson else None),
        ("json", "loads", "f(data)", {"f": json.loads}),
        ("orjson", "dumps", "f(env)", {"f": orjson.dumps}),
        (
            "ujson",
            "dumps (+ .encode())",
            "f(env, ensure_ascii=False, escape_forward_slashes=False).encode()",
            {"f": ujson.dumps} if ujson else None,
        ),
        ("json", "dumps (compact, + .encode())", "f(env).encode()", {"f": encode}),
    ]
    for lib, op, stmt, glb in specs:
        figures: dict[str, Figure | None] = {}
        if glb is None:
            rows.append((lib, op, {size: None for size in sizes}))
            continue
        stmts = []
        for size in sizes:
            data, env = payloads.tools_call_request(size), payloads.result_envelope(size)
            stmts.append((stmt, dict(glb, data=data, env=env)))
        for size, fig in zip(sizes, measure(stmts, rounds, min_time)):
            figures[size] = fig
        rows.append((lib, op, figures))
    return rows


# ------------------------------------------------------------------------------------ main


def _verdict(value: float, limit: float, at_most: bool) -> str:
    ok = value <= limit if at_most else value >= limit
    return "meets" if ok else "**misses**"


def _row(key: str, what: str, r: Ratio, limit: float, at_most: bool, a: str, b: str) -> str:
    target = f"<= {limit}x" if at_most else f">= {limit}x"
    return (
        f"| {key} | {what} | {a} {_ns(r.a.ns)} / {b} {_ns(r.b.ns)} | **{r.value:.2f}x** "
        f"({r.low:.2f}-{r.high:.2f}) | {target} | {_verdict(r.value, limit, at_most)} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per figure (default 15)")
    parser.add_argument(
        "--min-time", type=float, default=0.03, help="seconds per round and statement (default 0.03)"
    )
    parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds: int = args.rounds
    min_time: float = args.min_time

    if getattr(args, CHILD_FLAG.lstrip("-").replace("-", "_")):
        print(json.dumps(goal_stdlib_child(rounds, min_time)))
        return 0

    import orjson

    from mcpfast.wire import _json

    if not mcpfast.EXTENSIONS:
        print("The compiled wire modules are not in use (not built, or MCPFAST_NO_EXTENSIONS set):"
              " goals (a)-(c) need them.", file=sys.stderr)
        return 2
    # Payloads first, so that no timing pays for building them.
    for size in ("100B", "10KB"):
        payloads.tools_call_request(size)
        payloads.result_envelope(size)
    payloads.ndjson_stream(64 * 1024, 100)

    dec = goal_decode(rounds, min_time)
    enc, enc_inline = goal_encode(rounds, min_time)
    split = goal_split(rounds, min_time)
    std = goal_stdlib(rounds, min_time)
    libs = libraries(rounds, min_time)

    print(
        f"mcpfast {mcpfast.__version__} ({Path(mcpfast.__file__).parent}), Python "
        f"{platform.python_version()} on {platform.machine()}, orjson {orjson.__version__}, "
        f"JSON backend {_json.BACKEND} (child for (d): json); {rounds} rounds of "
        f"~{min_time * 1e3:.0f} ms per statement. Ratio: median A / median B, "
        f"(lowest-highest per-round ratio).\n"
    )
    goals: list[tuple[str, str, Ratio, float, bool, str, str]] = [
        ("a", "`decode`, 100 B tools/call request, compiled", dec, 1.3, True, "c", "orjson.loads"),
        ("b", "`encode_result`, 100 B result envelope, compiled", enc, 1.3, True, "c",
         "orjson.dumps(prebuilt dict)"),
        ("b'", "(info) same, orjson also building the dict", enc_inline, 1.3, True, "c",
         "orjson.dumps({...})"),
        ("c", "split 64 KiB of 100 B lines, pure / compiled", split, 5.0, False, "py", "c"),
        ("d", "`decode`, 100 B, pure twin on MCPFAST_JSON=json", std["100B"], 2.0, True, "py",
         "json.loads"),
        ("d'", "(info) same at 10 KB", std["10KB"], 2.0, True, "py", "json.loads"),
    ]
    print("| # | goal | A / B (median per call) | ratio | target | verdict |")
    print("|---|---|---|---|---|---|")
    for goal in goals:
        print(_row(*goal))
    print()
    print("| library | operation | 100 B | 10 KB |")
    print("|---|---|---|---|")
    for lib, op, figures in libs:
        cells = [_ns(f.ns) if f is not None else "not installed" for f in figures.values()]
        print(f"| {lib} | {op} | {' | '.join(cells)} |")
    print(
        "\nloads: the tools/call request bytes; dumps: the result envelope dict, to the same wire"
        " bytes as orjson gives (compact, UTF-8, non-ASCII unescaped)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
