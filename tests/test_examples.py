"""The examples run as documented (README's first command runs client_demo.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )
    return out.stdout


def test_client_demo_talks_to_the_echo_server_in_both_eras() -> None:
    out = run("client_demo.py")
    assert "legacy session: mcpfast-echo speaks 2025-11-25" in out
    assert "tools: ['echo']" in out
    assert "echo -> hello over stdio" in out
    assert "2026-07-28 echo -> hello, stateless (resultType complete)" in out
    assert "bad arguments -> error -32602: Argument 'message'" in out


def test_wire_roundtrip() -> None:
    out = run("wire_roundtrip.py").splitlines()
    assert out[1] == '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}'
    assert out[2] == '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"again"}]}}'
    assert '"id":null,"error":{"code":-32700' in out[3]
    assert out[-1] == '{"jsonrpc":"2.0","id":9,"error":{"code":-32600,"message":"Expected \\"2.0\\", got \\"1.0\\" - at $.jsonrpc"}}'
