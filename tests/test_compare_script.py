"""``asv_bench/compare.py`` on made-up harness results: the medians, the ratios to the official
SDK (the median of the per-repeat ratios) and the table, from ``--from-json`` (no server is run,
no plot is needed: the plots are optional and need matplotlib)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "asv_bench" / "compare.py"


def _compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_mcpfast_compare", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run(rate: float, p50: float) -> dict[str, float]:
    return {"calls_per_s": rate, "p50_us": p50, "p99_us": p50 * 3, "server_cpu_us": 1e6 / rate}


STDIO = {
    "time": "2026-01-02 03:04:05",
    "results": {
        "mcpfast": {"runs": {"seq:100": [_run(1000, 100), _run(1200, 90), _run(900, 110)],
                             "pipe:100": [_run(8000, 0), _run(9000, 0), _run(10000, 0)]}},
        "mcp-sdk": {"runs": {"seq:100": [_run(100, 900), _run(100, 1000), _run(300, 800)],
                             "pipe:100": [_run(200, 0), _run(300, 0), _run(250, 0)]}},
        "broken": {"error": "seq:100: it crashed"},
    },
}


def test_summary_takes_medians_and_per_repeat_ratios() -> None:
    compare = _compare()
    s = compare.summarize(STDIO, "stdio")
    assert list(s) == ["seq:100", "pipe:100"]
    assert set(s["seq:100"]) == {"mcpfast", "mcp-sdk"}  # a server without runs is left out
    fast = s["seq:100"]["mcpfast"]
    assert fast["calls_per_s"] == 1000 and fast["p50_us"] == 100 and fast["p99_us"] == 300
    assert fast["ratio"] == 10  # per repeat: 10, 12, 3
    # per repeat 40, 30, 40 -> 40; the ratio of the medians would be 9000 / 250 = 36
    assert s["pipe:100"]["mcpfast"]["ratio"] == 40
    assert s["seq:100"]["mcp-sdk"]["ratio"] == 1


def test_from_json_writes_the_table(tmp_path: Path) -> None:
    compare = _compare()
    (tmp_path / "compare-stdio.json").write_text(json.dumps(STDIO))
    out = tmp_path / "out"
    assert compare.main(["--from-json", str(tmp_path), "--out", str(out), "--transports", "stdio",
                         "--peers", str(tmp_path / "no-peers")]) == 0
    md = (out / "compare.md").read_text()
    assert "# mcpfast vs peers (2026-01-02 03:04:05)" in md
    assert "| seq:100 | mcpfast | 1,000 | 10.00 | 100 | 300 | 1,000.0 |" in md
    assert "| pipe:100 | mcp-sdk | 250 | 1.00 |" in md
    with pytest.raises(SystemExit, match="no results"):
        compare.main(["--from-json", str(tmp_path / "empty"), "--out", str(out)])
