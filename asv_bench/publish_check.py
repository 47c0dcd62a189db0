"""Check that the asv dashboard builds: one quick ``asv run`` of an end-to-end suite on the
checked-out commit, then ``asv publish``, everything in a temporary directory.

``tests/test_asv_suites.py`` runs every benchmark body once in process; this checks asv's own
side, which that cannot: that asv discovers the suites, runs them in its benchmark processes,
saves results under the commit, and renders the HTML dashboard with a graph for each
benchmark run. CI runs it once (about 15 s on a busy 2-core machine)::

    python asv_bench/publish_check.py                       # asv and mcpfast in this Python
    python asv_bench/publish_check.py --python /venv/bin/python --bench 'endtoend.InProcess'

``--python`` is the interpreter whose installed mcpfast the benchmarks measure (asv's
``existing:`` environment; default: this one). Needs ``asv`` (``pip install 'mcpfast[bench]'``)
and a git checkout. The machine file asv writes goes into the temporary directory, not $HOME.
Exit status 0 when the dashboard is complete, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check(python: str, bench: str, keep: Path | None = None) -> list[str]:
    """Run and publish; return the problems found (empty: the dashboard is complete)."""
    with tempfile.TemporaryDirectory(prefix="mcpfast-asv-") as tmp:
        work = keep if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                                text=True).stdout.strip()
        conf = {
            "version": 1, "project": "mcpfast", "repo": str(ROOT), "dvcs": "git", "branches": ["HEAD"],
            "environment_type": "virtualenv", "benchmark_dir": str(ROOT / "asv_bench" / "benchmarks"),
            "results_dir": str(work / "results"), "html_dir": str(work / "html"), "env_dir": str(work / "env"),
        }
        (work / "asv.conf.json").write_text(json.dumps(conf))
        env = {**os.environ, "HOME": str(work)}  # asv's machine file (~/.asv-machine.json) stays in here
        asv = [sys.executable, "-m", "asv"]
        steps = [
            [*asv, "machine", "--yes", "--machine", "ci"],
            [*asv, "run", "--quick", "--machine", "ci", "--environment", f"existing:{python}",
             "--set-commit-hash", commit, "--bench", bench, "--show-stderr"],
            [*asv, "publish"],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                return [f"{' '.join(cmd[2:4])} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"]
        html = work / "html"
        problems = [f"{html / f} is missing" for f in ("index.html", "index.json") if not (html / f).is_file()]
        if problems:
            return problems
        index = json.loads((html / "index.json").read_text())
        names = [n for n in index.get("benchmarks", {}) if n.startswith(bench.split("(")[0].rstrip(".*"))]
        if not names:
            return [f"index.json lists no benchmark matching {bench!r}: {sorted(index.get('benchmarks', {}))}"]
        for name in names:
            graphs = list((html / "graphs").glob(f"branch-*/**/{name}.json"))
            if not graphs:
                problems.append(f"no graph for {name}")
            elif not any(_measured(json.loads(g.read_text())) for g in graphs):
                problems.append(f"the graph of {name} has no measured point (the benchmark failed?)")
        return problems


def _measured(points: list[list[object]]) -> bool:
    """Whether a graph's ``[revision, value or [values per parameter]]`` points hold a number
    (a failed benchmark is published with nulls)."""
    for _, value in points:
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, (int, float)) for v in values):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="the Python whose mcpfast is measured")
    ap.add_argument("--bench", default="endtoend.InProcessToolsCall", help="asv's --bench regex")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (the dashboard is in html/)")
    a = ap.parse_args(argv)
    problems = check(a.python, a.bench, a.keep)
    for p in problems:
        print(f"publish_check: {p}", file=sys.stderr)
    if not problems:
        print("publish_check: ok: asv ran the suite and published the dashboard")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
