"""Shared pieces of the asv suite: the implementation loader and the seeded payloads.

``load(impl, name)`` returns ``mcpfast.wire._<name>`` (impl "c") or ``mcpfast.wire._<name>_py``
(impl "py"). A compiled module that cannot be imported, or a twin absent from the commit under
test (history runs reach back before it existed), raises ``NotImplementedError``, which asv
reports as a skipped combination (``n/a``) rather than a failure. mcpfast itself missing, or a
pure twin failing on import, is a real error.

The payloads are those of the pytest-benchmark suites: ``tests/bench/payloads.py`` of this
checkout, loaded by path (it needs only the standard library, so it also works in asv's own
virtualenvs, where only the installed wheel of the commit under test is importable).
"""

from __future__ import annotations

import importlib.util
import sys
from importlib import import_module
from pathlib import Path
from types import ModuleType

__all__ = ["IMPLS", "SIZES", "LIBS", "load", "load_json_lib", "payloads"]

IMPLS: list[str] = ["c", "py"]
SIZES: list[str] = ["100B", "10KB", "1MB"]
LIBS: list[str] = ["orjson", "ujson", "json"]

_PAYLOADS_PATH = Path(__file__).resolve().parents[2] / "tests" / "bench" / "payloads.py"


def _load_payloads() -> ModuleType:
    name = "_mcpfast_bench_payloads"
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, _PAYLOADS_PATH)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot load the benchmark payloads from {_PAYLOADS_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses/typing may look the module up
    spec.loader.exec_module(module)
    return module


payloads: ModuleType = _load_payloads()


def load(impl: str, name: str) -> ModuleType:
    """The ``name`` twin ("framing", "jsonrpc", "counters") for ``impl`` "c" or "py"."""
    # Not guarded: mcpfast itself missing is a broken setup, not a combination to skip. (asv
    # drops PYTHONPATH from the benchmark environment; with --python=same and an uninstalled
    # checkout, set ASV_PYTHONPATH instead.)
    import_module("mcpfast.wire")
    if impl not in ("c", "py"):
        raise ValueError(f"impl must be 'c' or 'py', got {impl!r}")
    module = f"mcpfast.wire._{name}" if impl == "c" else f"mcpfast.wire._{name}_py"
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        # Absent: not built (c), or a commit older than the module (asv history runs).
        if exc.name == module:
            raise NotImplementedError(f"{module} is not available: {exc}") from None
        raise
    except ImportError as exc:
        if impl == "py":
            raise
        raise NotImplementedError(f"{module} cannot be loaded: {exc}") from None


def load_json_lib(lib: str) -> ModuleType:
    """A baseline JSON library; ``NotImplementedError`` (skip) when it is not installed."""
    try:
        return import_module(lib)
    except ImportError as exc:
        raise NotImplementedError(f"{lib} is not installed: {exc}") from None
