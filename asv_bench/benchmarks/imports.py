"""Import time, each sample in a fresh interpreter: the package (mcpfast/__init__.py, which
imports the compiled wire modules to set ``EXTENSIONS``) and the wire selectors
(mcpfast/wire/{framing,jsonrpc,counters}.py with mcpfast/wire/_json.py and _compat.py)."""

from __future__ import annotations

import os

# asv hands ASV_PYTHONPATH to the benchmark process's sys.path but not to the children that
# timeraw_ benchmarks start; pass it on so that an uninstalled checkout run with
# `ASV_PYTHONPATH=.. asv run --python=same` imports the same mcpfast. (None otherwise, which
# keeps the benchmark versions of installed-wheel runs unchanged.)
_CHILD_ENV: dict[str, str] | None = (
    {"PYTHONPATH": os.environ["ASV_PYTHONPATH"]} if os.environ.get("ASV_PYTHONPATH") else None
)


def timeraw_import_mcpfast() -> str:
    return "import mcpfast"


def timeraw_import_wire() -> str:
    return "import mcpfast.wire.framing, mcpfast.wire.jsonrpc, mcpfast.wire.counters"


timeraw_import_mcpfast.env = _CHILD_ENV  # type: ignore[attr-defined]
timeraw_import_wire.env = _CHILD_ENV  # type: ignore[attr-defined]
