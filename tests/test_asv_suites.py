"""The asv suites (asv_bench/benchmarks) run once each, as ``asv run --quick`` runs them but
in this process and without building a wheel, so they cannot rot between asv runs: every
benchmark of every module gets ``setup``, one call and ``teardown`` for its first parameter
combination that runs (a ``NotImplementedError`` from ``setup`` skips a combination, as asv
shows ``n/a``; one must run). ``timeraw_`` benchmarks (code asv runs in a fresh interpreter) are
compiled, not run. ``asv run --quick`` itself (``tox -e asv``) runs every combination.

A module per test; the end-to-end one starts three server processes (stdio, TCP, HTTP), about
two seconds on a busy 2-core machine, and stops them at the end.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "asv_bench" / "benchmarks"
PACKAGE = "_asv_benchmarks"
PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")


def _package() -> None:
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(PACKAGE, BENCHMARKS / "__init__.py",
                                                  submodule_search_locations=[str(BENCHMARKS)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)


def _module(name: str) -> ModuleType:
    _package()
    return importlib.import_module(f"{PACKAGE}.{name}")


def _combinations(params: Any) -> list[tuple[Any, ...]]:
    """asv's reading of ``params``: a list of lists is one list per parameter, anything else
    one parameter's values."""
    if not params:
        return [()]
    if all(isinstance(p, (list, tuple)) for p in params):
        return list(itertools.product(*params))
    return [(p,) for p in params]


def _benchmarks(module: ModuleType) -> list[tuple[str, Any, str]]:
    """(label, owner, method name): owner is a class or the module (module-level functions)."""
    found = []
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            for attr in dir(obj):
                if attr.startswith(PREFIXES) and callable(getattr(obj, attr)):
                    found.append((f"{name}.{attr}", obj, attr))
        elif inspect.isfunction(obj) and name.startswith(PREFIXES):
            found.append((name, module, name))
    return found


MODULES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in ("__init__", "common"))


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_runs_once(name: str) -> None:
    module = _module(name)
    prestart = getattr(module, "prestart", None)  # the end-to-end suite: its servers start together
    if prestart is not None:
        prestart("stdio", "tcp", "http")
    benchmarks = _benchmarks(module)
    assert benchmarks, f"{name} has no benchmark"
    try:
        _run_all(benchmarks)
    finally:
        stop = getattr(module, "_stop_all", None)  # the end-to-end suite's server processes
        if stop is not None:
            stop()


def _run_all(benchmarks: list[tuple[str, Any, str]]) -> None:
    for label, owner, attr in benchmarks:
        if attr.startswith("timeraw_"):
            code = getattr(owner, attr)()
            compile(code, label, "exec")
            continue
        ran = 0
        for combo in _combinations(getattr(owner, "params", None)):
            obj = owner() if inspect.isclass(owner) else owner
            setup = getattr(obj, "setup", None) if inspect.isclass(owner) else None
            try:
                if setup is not None:
                    setup(*combo)
            except NotImplementedError:
                continue
            try:
                getattr(obj, attr)(*combo)
                ran += 1
            finally:
                teardown = getattr(obj, "teardown", None) if inspect.isclass(owner) else None
                if teardown is not None:
                    teardown(*combo)
            break
        assert ran, f"{label}: every parameter combination was skipped"
