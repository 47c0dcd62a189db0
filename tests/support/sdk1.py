"""The official SDK 1.x (PyPI ``mcp`` 1.x, the last line with a WebSocket transport) in a
virtualenv of its own: the test extra pins ``mcp`` 2.x, so the 1.x client and server run as
separate programs under that virtualenv's Python.

The virtualenv is made once per machine under ``$MCPFAST_TEST_CACHE`` (default
``~/.cache/mcpfast-test``) and reused from then on without any network; a file lock keeps
parallel runs from building it twice. When it is not there yet and PyPI cannot be reached, the
tests that need it are skipped with that reason; any other install failure fails them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: the SDK release used (the last 1.x)
SDK1_VERSION = "1.30.0"
REQUIREMENTS = (f"mcp[ws]=={SDK1_VERSION}", "uvicorn", "starlette")
_READY = ".mcpfast-ready"
_OFFLINE_SIGNS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                  "Network is unreachable", "Name or service not known", "Connection refused",
                  "ConnectTimeoutError", "ReadTimeoutError", "No matching distribution found")


def cache_dir() -> Path:
    return Path(os.environ.get("MCPFAST_TEST_CACHE") or Path.home() / ".cache" / "mcpfast-test")


def sdk1_python() -> str:
    """The Python of the SDK 1.x virtualenv, made first if needed (see the module docstring)."""
    root = cache_dir()
    venv = root / f"mcp-{SDK1_VERSION}"
    python = venv / "bin" / "python"
    if (venv / _READY).exists() and python.exists():
        return str(python)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"mcp-{SDK1_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for that one
        if (venv / _READY).exists() and python.exists():
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted run
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               *REQUIREMENTS], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            output = proc.stdout + proc.stderr
            if any(sign in output for sign in _OFFLINE_SIGNS):
                pytest.skip(f"PyPI is unreachable, so the official SDK {SDK1_VERSION} cannot be installed"
                            f" into {venv}: {output.strip().splitlines()[-1][:300]}")
            pytest.fail(f"installing the official SDK {SDK1_VERSION} into {venv} failed:\n{output[-3000:]}")
        (venv / _READY).write_text(" ".join(REQUIREMENTS) + "\n")
    return str(python)
