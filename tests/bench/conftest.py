"""Benchmark-only pytest configuration.

Real runs group with ``--benchmark-group-by=group,param:size``. pytest-benchmark's own grouping
raises ``KeyError`` for a benchmark that has no ``size`` parameter (the counter ones have
nothing to size), so this hook groups such benchmarks under ``size=-`` instead; otherwise it
groups exactly as the built-in hook does.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from typing import Any

import pytest


def _key_part(bench: Any, grouping: str) -> str | None:
    if grouping == "group":
        return bench["group"]  # type: ignore[no-any-return]
    if grouping == "name":
        return bench["name"]  # type: ignore[no-any-return]
    if grouping == "func":
        return bench["name"].split("[")[0]  # type: ignore[no-any-return]
    if grouping == "fullname":
        return bench["fullname"]  # type: ignore[no-any-return]
    if grouping == "fullfunc":
        return bench["fullname"].split("[")[0]  # type: ignore[no-any-return]
    if grouping == "param":
        return bench["param"]  # type: ignore[no-any-return]
    if grouping.startswith("param:"):
        name = grouping[len("param:") :]
        params = bench["params"] or {}
        return f"{name}={params.get(name, '-')}"
    raise NotImplementedError(f"Unsupported grouping {grouping!r}.")


@pytest.hookimpl(tryfirst=True)
def pytest_benchmark_group_stats(
    config: pytest.Config, benchmarks: list[Any], group_by: str
) -> list[tuple[str | None, list[Any]]]:
    groups: defaultdict[str | None, list[Any]] = defaultdict(list)
    for bench in benchmarks:
        parts = [_key_part(bench, g) for g in group_by.split(",")]
        groups[" ".join(str(p) for p in parts if p) or None].append(bench)
    sort_key = operator.itemgetter("fullname" if "full" in group_by else "name")
    for members in groups.values():
        members.sort(key=sort_key)
    return sorted(groups.items(), key=lambda pair: pair[0] or "")
