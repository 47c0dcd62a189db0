"""mcpfast's codec rows for the shared codec harness (``../shared/bench/codec_bench.py``):

    PYTHONPATH=. $B/venv-mcp/bin/python ../shared/bench/codec_bench.py --extra tests.bench.codec_cases:cases

Both twins decode the harness's tools/call request bytes to a validated message, and encode
its result envelope to bytes, so they sit in one table with orjson and the official SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def cases(req: bytes, env: dict[str, Any]) -> tuple[dict[str, Callable[[bytes], Any]], dict[str, Callable[[], Any]]]:
    from mcpfast.wire import _jsonrpc_py as py

    mods = {"mcpfast-py": py}
    try:
        from mcpfast.wire import _jsonrpc as c

        mods["mcpfast-c"] = c
    except ImportError:  # pragma: no cover - a pure build
        pass
    rid, result = env["id"], env["result"]
    decoders = {name: m.decode for name, m in mods.items()}
    encoders = {name: (lambda m=m: m.encode_result(rid, result)) for name, m in mods.items()}
    return decoders, encoders
