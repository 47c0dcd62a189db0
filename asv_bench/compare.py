"""mcpfast against its peers on this machine: one table and PNG plots from one run.

Runs the shared benchmark harness (``stdio_bench.py`` and, with ``wrk`` on PATH,
``http_bench.py``; ``--harness``, default ``../shared/bench`` beside the repository or
``$MCPFAST_BENCH_HARNESS``) against mcpfast's echo servers and every peer installed under
``--peers`` (default ``$B`` or ``~/.cache/mcpfast-bench``, filled by the harness's
``setup_peers.sh``): the official Python SDK, fastmcp, the TypeScript SDK when ``node`` is
there, and the floor reference (not MCP-complete: what the machine can do at all). All servers
of a transport are measured in one run, interleaved, so the ratios compare like with like.

It writes into ``--out`` (default ``bench-results/``, not committed):

* ``compare-stdio.json`` / ``compare-http.json``: the harness's raw results;
* ``compare.md``: one table per transport (median calls/s, the ratio to the official SDK,
  latency percentiles, server CPU per call);
* ``compare-throughput.png``: calls/s per phase and server, on a log scale;
* ``compare-latency.png``: p50 and p99 latency, one call in flight (stdio) and per HTTP
  connection count.

Each plot carries the date, the machine (CPU model and count) and the versions. Plotting needs
``matplotlib`` (``pip install 'mcpfast[bench]'``); without it only the JSON and the table are
written. ``--from-json`` re-plots results from an earlier run without measuring::

    python asv_bench/compare.py                              # stdio and HTTP, every peer found
    python asv_bench/compare.py --transports stdio --sizes 100 --repeats 1 --duration 1
    python asv_bench/compare.py --from-json bench-results     # plots and table only

Compare only figures of one run: the machine's load changes them all together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: the peer that ratios are taken against
REF = "mcp-sdk"


def _default_harness() -> Path:
    env = os.environ.get("MCPFAST_BENCH_HARNESS")
    return Path(env) if env else REPO.parent / "shared" / "bench"


def _default_peers() -> Path:
    env = os.environ.get("B")
    return Path(env) if env else Path.home() / ".cache" / "mcpfast-bench"


def servers(transport: str, harness: Path, peers: Path, python: str, extra: list[str]) -> list[tuple[str, str]]:
    """``(name, command)`` of every server to measure over ``transport``: mcpfast's, then each
    peer whose runtime is installed (a missing one is skipped with a note on stderr)."""
    s = harness / "servers"
    echo = shlex.quote(str(REPO / "examples" / "echo_mcpserver.py"))
    http = transport == "http"
    port = " --http {port} --json-response" if http else ""
    out = [("mcpfast", f"{shlex.quote(python)} {echo}{port}")]
    candidates = [
        (REF, peers / "venv-mcp" / "bin" / "python", f"{s / 'mcp_sdk_server.py'}{port}"),
        ("fastmcp", peers / "venv-fastmcp" / "bin" / "python", f"{s / 'fastmcp_server.py'}{port}"),
        ("floor", peers / "venv-floor" / "bin" / "python",
         f"{s / 'floor_http.py'} --port {{port}}" if http else f"{s / 'floor_server.py'} --json orjson"),
    ]
    for name, exe, args in candidates:
        if exe.exists():
            out.append((name, f"{exe} {args}"))
        else:
            print(f"compare: {name} skipped: {exe} not found (run the harness's setup_peers.sh)", file=sys.stderr)
    node = shutil.which("node")
    if node and (peers / "node" / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        out.append(("ts-sdk", f"{node} {s / 'ts_server.cjs'}{port}"))
    else:
        print("compare: ts-sdk skipped: node or the npm @modelcontextprotocol/sdk is missing", file=sys.stderr)
    for spec in extra:
        name, _, cmd = spec.partition("=")
        if not cmd:
            raise SystemExit(f"compare: --server wants NAME=COMMAND, got {spec!r}")
        out.append((name, cmd))
    return out


def run_harness(transport: str, a: argparse.Namespace) -> Path:
    """Run the harness for one transport; its JSON results go to ``--out``."""
    harness, peers = Path(a.harness), Path(a.peers)
    script = harness / ("stdio_bench.py" if transport == "stdio" else "http_bench.py")
    if not script.exists():
        raise SystemExit(f"compare: no harness at {script} (--harness or MCPFAST_BENCH_HARNESS)")
    floor_py = peers / "venv-floor" / "bin" / "python"
    hpy = str(floor_py) if floor_py.exists() else sys.executable  # the harness needs orjson
    out = Path(a.out) / f"compare-{transport}.json"
    cmd = [hpy, str(script), "--repeats", str(a.repeats), "--out", str(out)]
    for name, server in servers(transport, harness, peers, a.python, a.server):
        cmd += ["--server", f"{name}={server}"]
    if transport == "stdio":
        cmd += ["--sizes", a.sizes, "--duration", str(a.duration), "--no-list", "--mem-calls", "0"]
    else:
        cmd += ["--conns", a.conns, "--duration", str(max(1, round(a.duration))), "--mem-calls", "0"]
    print("compare: running", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    return out


# ---------------------------------------------------------------------------------- reading


def _median(runs: list[dict[str, Any]], field: str) -> float | None:
    vals = [r[field] for r in runs if r.get(field) is not None]
    return statistics.median(vals) if vals else None


def summarize(data: dict[str, Any], transport: str) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{phase: {server: {calls_per_s, ratio, p50_us, p99_us, server_cpu_us}}}``: medians over
    the repeats; ``ratio`` is the median of the per-repeat ratios to ``REF``."""
    rate = "calls_per_s" if transport == "stdio" else "rps"
    results = data["results"]
    phases: list[str] = []
    for r in results.values():
        for k in r.get("runs", {}):
            if k not in phases:
                phases.append(k)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for k in phases:
        ref_runs = results.get(REF, {}).get("runs", {}).get(k, [])
        row: dict[str, dict[str, float | None]] = {}
        for name, r in results.items():
            runs = r.get("runs", {}).get(k, [])
            if not runs:
                continue
            ratios = [x[rate] / y[rate] for x, y in zip(runs, ref_runs) if y.get(rate)]
            row[name] = {
                "calls_per_s": _median(runs, rate),
                "ratio": statistics.median(ratios) if ratios else None,
                "p50_us": _median(runs, "p50_us"),
                "p99_us": _median(runs, "p99_us"),
                "server_cpu_us": _median(runs, "server_cpu_us"),
            }
        out[k] = row
    return out


def _fmt(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def table(summary: dict[str, dict[str, dict[str, float | None]]], transport: str) -> str:
    """The markdown table of one transport."""
    lines = [f"| {transport} phase | server | calls/s | x vs {REF} | p50 µs | p99 µs | server CPU µs/call |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for phase, row in summary.items():
        for name, m in row.items():
            lines.append(f"| {phase} | {name} | {_fmt(m['calls_per_s'])} | {_fmt(m['ratio'], 2)} | "
                         f"{_fmt(m['p50_us'])} | {_fmt(m['p99_us'])} | {_fmt(m['server_cpu_us'], 1)} |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    """The CPU model and count, for the plots' footers."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def versions(python: str, peers: Path) -> str:
    """The versions of mcpfast (in ``python``) and of each installed peer library."""
    seen = []
    for label, exe, dist in (("mcpfast", Path(python), "mcpfast"),
                             ("mcp", peers / "venv-mcp" / "bin" / "python", "mcp"),
                             ("fastmcp", peers / "venv-fastmcp" / "bin" / "python", "fastmcp")):
        if not exe.exists():
            continue
        proc = subprocess.run([str(exe), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            seen.append(f"{label} {proc.stdout.strip()}")
    package = peers / "node" / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
    if package.exists():
        seen.append(f"@modelcontextprotocol/sdk {json.loads(package.read_text()).get('version', '?')}")
    return f"Python {platform.python_version()}; " + ", ".join(seen)


# ---------------------------------------------------------------------------------- plotting


def plot(summaries: dict[str, dict[str, dict[str, dict[str, float | None]]]], footer: str, out: Path) -> list[Path]:
    """Write the throughput and latency PNGs; nothing (and a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: matplotlib is not installed (pip install 'mcpfast[bench]'): no plots", file=sys.stderr)
        return []
    names: list[str] = []
    for s in summaries.values():
        for row in s.values():
            names.extend(n for n in row if n not in names)
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    written = []

    def bars(ax: Any, groups: list[str], value: Any, ylabel: str, title: str) -> None:
        width = 0.8 / max(1, len(names))
        for i, n in enumerate(names):
            xs, ys = [], []
            for g, grp in enumerate(groups):
                v = value(grp, n)
                if v:
                    xs.append(g + (i - (len(names) - 1) / 2) * width)
                    ys.append(v)
            if ys:
                ax.bar(xs, ys, width, label=n, color=colors[n])
        ax.set_xticks(range(len(groups)), groups)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 4.8), squeeze=False)
    for ax, (transport, s) in zip(axes[0], summaries.items(), strict=True):
        bars(ax, list(s), lambda g, n, s=s: s[g].get(n, {}).get("calls_per_s"), "calls/s (log scale)",
             f"{transport}: tools/call echo throughput")
        ax.set_xlabel("phase (seq: 1 call in flight, pipe: 64) : message bytes"
                      if transport == "stdio" else "cN: N HTTP connections (wrk)")
    axes[0][0].legend(fontsize=8)
    fig.text(0.01, 0.01, footer, fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = out / "compare-throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    lat = {t: {g: row for g, row in s.items() if t == "http" or g.startswith("seq")} for t, s in summaries.items()}
    lat = {t: s for t, s in lat.items() if s}
    if lat:
        fig, axes = plt.subplots(2, len(lat), figsize=(6.5 * len(lat), 7.5), squeeze=False)
        for col, (transport, s) in enumerate(lat.items()):
            for rowi, (field, label) in enumerate((("p50_us", "p50"), ("p99_us", "p99"))):
                bars(axes[rowi][col], list(s), lambda g, n, s=s, f=field: s[g].get(n, {}).get(f),
                     f"{label} latency µs (log scale)", f"{transport}: {label} latency of one call")
        axes[0][0].legend(fontsize=8)
        fig.text(0.01, 0.01, footer, fontsize=7, va="bottom")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        path = out / "compare-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--harness", default=str(_default_harness()), help="the shared benchmark harness directory")
    ap.add_argument("--peers", default=str(_default_peers()), help="where setup_peers.sh installed the peers")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs mcpfast's server")
    ap.add_argument("--transports", default="stdio,http")
    ap.add_argument("--sizes", default="10,100,1000,10000", help="stdio message sizes")
    ap.add_argument("--conns", default="1,16,64", help="HTTP connection counts")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    ap.add_argument("--server", action="append", default=[], help="another server, NAME=COMMAND ({port} for HTTP)")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--from-json", metavar="DIR", help="plot the compare-*.json found in DIR; measure nothing")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    datas: dict[str, dict[str, Any]] = {}
    for transport in [t for t in a.transports.split(",") if t]:
        if transport not in ("stdio", "http"):
            raise SystemExit(f"compare: unknown transport {transport!r} (stdio, http)")
        if a.from_json:
            path = Path(a.from_json) / f"compare-{transport}.json"
            if not path.exists():
                continue
        elif transport == "http" and shutil.which("wrk") is None:
            print("compare: http skipped: wrk is not on PATH", file=sys.stderr)
            continue
        else:
            path = run_harness(transport, a)
        datas[transport] = json.loads(path.read_text())
    if not datas:
        raise SystemExit("compare: no results")
    summaries = {t: summarize(d, t) for t, d in datas.items()}
    when = min(d.get("time", "") for d in datas.values())
    vers = versions(a.python, Path(a.peers))
    footer = f"{when} · {machine()} · {vers}"
    md = [f"# mcpfast vs peers ({when})\n\n", f"{machine()}  \n{vers}\n"]
    for t, s in summaries.items():
        md.append(f"\n## {t}\n\n" + table(s, t))
    (out / "compare.md").write_text("".join(md))
    print("".join(md))
    for p in [out / "compare.md", *plot(summaries, footer, out)]:
        print(f"compare: wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
