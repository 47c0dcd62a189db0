#!/usr/bin/env python3
"""Read the official conformance harness's results and decide pass/fail for mcpfast.

    python conformance/check_results.py --requirements-dir <pkg>/requirements \\
        --leg req-2025-11-25=out/req-2025-11-25:2025-11-25 \\
        --leg req-2026-07-28=out/req-2026-07-28:2026-07-28 \\
        --leg suite-all=out/suite-all:all:scenarios.txt

Each leg is ``NAME=DIR:KIND[:LISTFILE]``: ``DIR`` is the harness's ``-o`` directory (it holds one
``server-<scenario>-<timestamp>/checks.json`` per scenario run); ``KIND`` is a requirement
revision (the scenarios expected are that revision's frozen ``server`` list plus its server
``not_scored`` entries) or ``all`` (the scenarios expected are the names in ``LISTFILE``, one per
line, e.g. from ``conformance list --server``).

A scenario fails when any of its checks is a FAILURE, or when it was expected and produced no
``checks.json`` (the harness crashed or timed out). Every scenario is required except the
skills extension (``sep-2640-skills-*``): reported, never fatal. The Tasks extension's
``tasks-*`` scenarios are required (mcpfast implements the extension). So the exit status is 1
when a scored scenario, a Tasks one, a pending one (``json-schema-2020-12``,
``http-header-validation``, ``http-custom-header-server-validation``, ``server-sse-polling``) or
one added after a revision shipped fails, 2 on bad usage or unreadable results, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

#: a results directory is ``server-<scenario>-<ISO timestamp with - for :>`` (server side) or
#: ``<scenario>-<timestamp>`` (client side; ``auth/*`` scenarios in an ``auth/`` subdirectory)
_DIR_RE = re.compile(r"^server-(?P<name>.+?)-(?P<ts>\d{4}-\d{2}-\d{2}T[0-9-]+(?:\.\d+)?Z?)$")
_CLIENT_DIR_RE = re.compile(r"^(?P<name>.+?)-(?P<ts>\d{4}-\d{2}-\d{2}T[0-9-]+(?:\.\d+)?Z?)$")

#: scenarios that test optional protocol extensions mcpfast does not implement: reported, never
#: fatal (the Tasks extension's ``tasks-*`` were here until mcpfast implemented it)
EXTENSION_PREFIXES = ("sep-2640-skills-",)


def is_extension(scenario: str, prefixes: tuple[str, ...] = EXTENSION_PREFIXES) -> bool:
    return scenario.startswith(prefixes)


@dataclass
class Requirements:
    """One frozen requirement file (``requirements/<revision>.yaml``), server side only."""

    scored: list[str] = field(default_factory=list)
    #: scenario -> reason (``extension``, ``pending``, ``added-after-release``)
    not_scored: dict[str, str] = field(default_factory=dict)


def parse_requirements(text: str, side: str = "server") -> Requirements:
    """The server lists of a requirement file.

    The files are flat YAML (top-level ``server:``/``client:`` lists of names and a
    ``not_scored:`` list of ``{scenario, leg, reason, note}`` mappings); this small reader
    keeps the checker free of a YAML dependency.
    """
    req = Requirements()
    section = None
    entry: dict[str, str] | None = None
    entries: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = line.rstrip(":").strip()
            entry = None
            continue
        stripped = line.strip()
        if section == side and stripped.startswith("- "):
            req.scored.append(stripped[2:].strip())
        elif section == "not_scored":
            if stripped.startswith("- "):
                entry = {}
                entries.append(entry)
                stripped = stripped[2:].strip()
            if entry is not None and ":" in stripped:
                key, _, value = stripped.partition(":")
                if key.strip() in ("scenario", "leg", "reason"):
                    entry[key.strip()] = value.strip()
    for e in entries:
        if e.get("leg") == side and "scenario" in e:
            req.not_scored[e["scenario"]] = e.get("reason", "not scored")
    return req


@dataclass
class Outcome:
    scenario: str
    passed: int = 0
    failed: int = 0
    warnings: int = 0
    skipped: int = 0
    ran: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.ran:
            return "MISSING"
        if self.failed:
            return "FAIL"
        if self.passed == 0 and self.skipped:
            return "SKIP"
        return "PASS"


def read_results(directory: str, side: str = "server") -> dict[str, Outcome]:
    """Every scenario's outcome under one ``-o`` directory (the newest run of each)."""
    found: dict[str, tuple[str, str]] = {}
    pattern, subdirs = (_DIR_RE, [""]) if side == "server" else (_CLIENT_DIR_RE, ["", "auth"])
    for sub in subdirs:
        base = os.path.join(directory, sub) if sub else directory
        if not os.path.isdir(base):
            continue
        for entry in os.listdir(base):
            m = pattern.match(entry)
            path = os.path.join(base, entry, "checks.json")
            if m and os.path.isfile(path):
                name, ts = (f"{sub}/" if sub else "") + m.group("name"), m.group("ts")
                if name not in found or found[name][0] < ts:
                    found[name] = (ts, path)
    out: dict[str, Outcome] = {}
    for name, (_, path) in found.items():
        o = Outcome(name, ran=True)
        with open(path, encoding="utf-8") as f:
            checks: Any = json.load(f)
        if isinstance(checks, dict):  # tolerate a wrapped form {"checks": [...]}
            checks = checks.get("checks", [])
        for c in checks:
            status = c.get("status")
            if status == "SUCCESS":
                o.passed += 1
            elif status == "FAILURE":
                o.failed += 1
                o.failures.append(f"{c.get('id')}: {c.get('errorMessage') or c.get('description') or ''}".strip())
            elif status == "WARNING":
                o.warnings += 1
            elif status == "SKIPPED":
                o.skipped += 1
        out[name] = o
    return out


def classify(scenario: str, kind: str, reqs: dict[str, Requirements],
             optional: tuple[str, ...] = EXTENSION_PREFIXES) -> str:
    """What the scenario counts as in this leg: ``scored``, ``n/s: <reason>`` or ``extension``."""
    if kind in reqs:
        r = reqs[kind]
        if scenario in r.scored:
            return "scored"
        if scenario in r.not_scored:
            return f"n/s: {r.not_scored[scenario]}"
        return "n/s: not in set"
    # --suite all: scored if any revision's frozen set scores it
    if any(scenario in r.scored for r in reqs.values()):
        return "scored"
    for r in reqs.values():
        if scenario in r.not_scored:
            return f"n/s: {r.not_scored[scenario]}"
    return "extension" if is_extension(scenario, optional) else "n/s: unlisted"


def check_leg(name: str, directory: str, kind: str, listfile: str | None,
              reqs: dict[str, Requirements], side: str = "server",
              optional: tuple[str, ...] = EXTENSION_PREFIXES) -> tuple[bool, list[str]]:
    """Print the leg's table; return (ok, its fatal failures)."""
    results = read_results(directory, side)
    if kind in reqs:
        expected = list(reqs[kind].scored) + [s for s in reqs[kind].not_scored if s not in reqs[kind].scored]
    elif kind == "all":
        if listfile is None:
            raise SystemExit(f"leg {name}: kind 'all' needs a scenario list file")
        with open(listfile, encoding="utf-8") as f:
            expected = [ln.strip() for ln in f if ln.strip()]
    else:
        raise SystemExit(f"leg {name}: unknown kind {kind!r} (a revision with a requirements file, or 'all')")
    names = expected + sorted(s for s in results if s not in expected)
    rows = []
    fatal: list[str] = []
    totals = {"scenarios": 0, "pass": 0, "checks_ok": 0, "checks_bad": 0}
    for s in names:
        o = results.get(s, Outcome(s))
        counted = classify(s, kind, reqs, optional)
        required = not is_extension(s, optional)
        status = o.status
        rows.append((s, status, f"{o.passed}/{o.failed}" + (f" +{o.warnings}w" if o.warnings else ""),
                     counted, "yes" if required else "no"))
        totals["scenarios"] += 1
        totals["pass"] += status in ("PASS", "SKIP")
        totals["checks_ok"] += o.passed
        totals["checks_bad"] += o.failed
        if required and status in ("FAIL", "MISSING"):
            detail = "; ".join(o.failures) if o.failures else "no checks.json (harness crashed or timed out)"
            fatal.append(f"{name}: {s}: {detail}")
    width = max([len(r[0]) for r in rows] + [8])
    print(f"\n== {name} ({kind}) — {directory}")
    print(f"{'scenario':<{width}}  {'status':<7}  {'checks ok/fail':<14}  {'counts as':<26}  required")
    print(f"{'-' * width}  {'-' * 7}  {'-' * 14}  {'-' * 26}  --------")
    for s, status, checks, counted, req in rows:
        print(f"{s:<{width}}  {status:<7}  {checks:<14}  {counted:<26}  {req}")
    scored_rows = [r for r in rows if r[3] == "scored"]
    scored_pass = sum(1 for r in scored_rows if r[1] in ("PASS", "SKIP"))
    print(f"-- {name}: scored {scored_pass}/{len(scored_rows)} scenarios; all {totals['pass']}/{totals['scenarios']}"
          f" scenarios, {totals['checks_ok']} checks passed, {totals['checks_bad']} failed;"
          f" fatal failures: {len(fatal)}")
    return not fatal, fatal


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requirements-dir", required=True, help="the package's requirements/ directory")
    p.add_argument("--leg", action="append", required=True, metavar="NAME=DIR:KIND[:LISTFILE]")
    p.add_argument("--side", choices=("server", "client"), default="server",
                   help="which harness mode produced the results (default server)")
    p.add_argument("--optional", action="append", metavar="PREFIX",
                   help="scenarios starting with PREFIX are reported, never fatal (default: the server"
                        " extension sep-2640-skills-)")
    p.add_argument("--list-failed", action="store_true",
                   help="print only the names of the required scenarios that failed, one per line")
    args = p.parse_args(argv)
    optional = tuple(args.optional) if args.optional else EXTENSION_PREFIXES
    reqs: dict[str, Requirements] = {}
    for fn in sorted(os.listdir(args.requirements_dir)):
        if fn.endswith(".yaml"):
            with open(os.path.join(args.requirements_dir, fn), encoding="utf-8") as f:
                reqs[fn[:-5]] = parse_requirements(f.read(), args.side)
    if not reqs:
        print(f"no requirement files in {args.requirements_dir}", file=sys.stderr)
        return 2
    all_fatal: list[str] = []
    if args.list_failed:  # for a solo re-run of timing-sensitive failures (run.sh, client legs)
        for spec in args.leg:
            _, _, rest = spec.partition("=")
            for name, o in read_results(rest.split(":")[0], args.side).items():
                if o.status == "FAIL" and not is_extension(name, optional):
                    print(name)
        return 0
    for spec in args.leg:
        name, sep, rest = spec.partition("=")
        parts = rest.split(":")
        if not sep or len(parts) < 2:
            print(f"bad --leg {spec!r}; expected NAME=DIR:KIND[:LISTFILE]", file=sys.stderr)
            return 2
        _, fatal = check_leg(name, parts[0], parts[1], parts[2] if len(parts) > 2 else None, reqs,
                             args.side, optional)
        all_fatal.extend(fatal)
    if all_fatal:
        print("\nFAILED (required scenarios):")
        for line in all_fatal:
            print(f"  {line}")
        return 1
    print("\nconformance: every required scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
