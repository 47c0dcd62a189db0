"""The selectors pick every compiled twin by default and every pure twin under
MCPFAST_NO_EXTENSIONS=1, checked in a fresh interpreter (``-I -W error``) so that nothing
imported by the test session leaks in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

MODULES = ("framing", "jsonrpc", "counters")
# one name per module whose defining module tells which twin is active
PROBES = {"framing": "LineSplitter", "jsonrpc": "decode", "counters": "Counter"}

PROBE = """
import importlib, sys
import mcpfast
names = {}
for mod, name in %r.items():
    sel = importlib.import_module("mcpfast.wire." + mod)
    names[mod] = getattr(sel, name).__module__
print(mcpfast.EXTENSIONS, names)
""" % (PROBES,)


def run_probe(**env: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MCPFAST_")}
    full.update(env)
    # -I drops PYTHONPATH and the cwd: the probe sees the installed mcpfast only
    code = PROBE
    out = subprocess.run(
        [sys.executable, "-I", "-W", "error", "-c", code],
        capture_output=True, text=True, env=full, check=True,
    )
    return out.stdout.strip()


@pytest.mark.c_extension
def test_default_selects_every_compiled_twin() -> None:
    out = run_probe()
    assert out.startswith("True "), out
    for mod in MODULES:
        assert f"'{mod}': 'mcpfast.wire._{mod}'" in out, out


@pytest.mark.parametrize("value", ["1", "yes"])
def test_env_var_selects_every_pure_twin(value: str) -> None:
    out = run_probe(MCPFAST_NO_EXTENSIONS=value)
    assert out.startswith("False "), out
    for mod in MODULES:
        assert f"'{mod}': 'mcpfast.wire._{mod}_py'" in out, out


@pytest.mark.c_extension
def test_zero_means_not_set() -> None:
    assert run_probe(MCPFAST_NO_EXTENSIONS="0").startswith("True "), "0 must not force pure mode"


def test_import_is_light() -> None:
    # `import mcpfast` must not drag in heavy or optional dependencies
    code = (
        "import sys; import mcpfast, mcpfast.wire.jsonrpc;"
        "bad = [m for m in ('pydantic', 'ujson', 'asyncio', 'uvicorn', 'httptools', 'prometheus_client')"
        " if m in sys.modules]; print(bad)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPFAST_")}  # default backend
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("backend", ["orjson", "ujson", "json"])
def test_json_backend_env_var(backend: str) -> None:
    code = "from mcpfast.wire import _json; print(_json.BACKEND)"
    env = {**os.environ, "MCPFAST_JSON": backend}
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == backend


def test_unknown_json_backend_is_a_clear_error() -> None:
    code = "import mcpfast.wire._json"
    env = {**os.environ, "MCPFAST_JSON": "simplejson"}
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "MCPFAST_JSON must be one of orjson, ujson, json, got 'simplejson'" in out.stderr
