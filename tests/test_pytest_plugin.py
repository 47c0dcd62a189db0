"""The pytest plugin (``mcpfast.pytest_plugin``): its fixtures used by a real pytest run.

A small test suite is written to a temporary directory and run by pytest in a subprocess with
plugin autoloading off and the plugin given with ``-p`` (so the outcome does not depend on
whether mcpfast is installed with its entry point). The outcome of every test in it is checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

USER_TESTS = '''
import pytest
from mcpfast import Context, MCPServer
from mcpfast.testing import Client


@pytest.fixture
def mcp_app():
    app = MCPServer("plugin-demo")

    @app.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @app.tool()
    async def ask(ctx: Context) -> str:
        res = await ctx.session.create_message("hi", max_tokens=3)
        return res.content.text

    return app


async def test_default_client_is_connected(mcp_client):
    assert isinstance(mcp_client, Client) and mcp_client.connected
    assert mcp_client.protocol_version == "2025-11-25"
    res = await mcp_client.call_tool("add", {"a": 1, "b": 2})
    assert res["structuredContent"] == {"result": 3}


@pytest.mark.parametrize("mcp_protocol_version", ["2025-11-25", "2026-07-28"])
async def test_both_eras(mcp_client, mcp_protocol_version):
    assert mcp_client.protocol_version == mcp_protocol_version
    assert [t["name"] for t in (await mcp_client.list_tools())["tools"]] == ["add", "ask"]


class TestOptions:
    @pytest.fixture
    def mcp_client_options(self):
        return {"sampling_callback": lambda p: {"role": "assistant", "model": "m",
                                                "content": {"type": "text", "text": "sampled"}}}

    async def test_callback_from_options(self, mcp_client):
        res = await mcp_client.call_tool("ask")
        assert res["content"][0]["text"] == "sampled"


@pytest.mark.mcp
async def test_factory_with_marker(mcp_client_factory, mcp_app):
    other = MCPServer("other")
    async with mcp_client_factory(other, protocol_version="2026-07-28") as c:
        assert c.server_info["name"] == "other"
    async with mcp_client_factory() as c:  # mcp_app by default
        assert c.server_info["name"] == "plugin-demo"


async def test_enter_again_is_harmless(mcp_client):
    async with mcp_client as c:
        assert c is mcp_client
    assert mcp_client.connected  # still connected until the test ends


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the test client runs on asyncio


@pytest.mark.anyio
async def test_under_anyio(mcp_client):
    # another runner owns this test: the client is entered by hand
    assert not mcp_client.connected
    async with mcp_client as c:
        assert (await c.call_tool("add", {"a": 2, "b": 2}))["structuredContent"] == {"result": 4}


async def test_failure_is_reported(mcp_client):
    res = await mcp_client.call_tool("add", {"a": 1, "b": 1})
    assert res["structuredContent"] == {"result": 3}, "deliberately wrong"


def test_sync_tests_are_left_alone(mcp_client):
    assert not mcp_client.connected
'''

NO_APP = '''
async def test_needs_an_app(mcp_client):
    pass
'''


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("plugin")
    (d / "test_user.py").write_text(USER_TESTS)
    (d / "test_no_app.py").write_text(NO_APP)
    (d / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\nxfail_strict = true\n")
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "mcpfast.pytest_plugin", "-p", "anyio", "-p", "no:cacheprovider",
         "--strict-markers", "-rA", "-q", str(d)],
        cwd=d, env=env, capture_output=True, text=True, timeout=120)
    found = dict((name, what) for what, name in re.findall(r"^(PASSED|FAILED|ERROR) \S*?::(\S+)", proc.stdout, re.M))
    found["@output"] = proc.stdout + proc.stderr
    return found


@pytest.mark.parametrize("name", [
    "test_default_client_is_connected",
    "test_both_eras[2025-11-25]",
    "test_both_eras[2026-07-28]",
    "TestOptions::test_callback_from_options",
    "test_factory_with_marker",
    "test_enter_again_is_harmless",
    "test_under_anyio",
    "test_sync_tests_are_left_alone",
])
def test_passes(outcomes: dict[str, str], name: str) -> None:
    assert outcomes.get(name) == "PASSED", outcomes["@output"]


def test_a_failing_test_fails(outcomes: dict[str, str]) -> None:
    assert outcomes.get("test_failure_is_reported") == "FAILED", outcomes["@output"]
    assert "deliberately wrong" in outcomes["@output"]


def test_missing_app_is_a_clear_error(outcomes: dict[str, str]) -> None:
    assert outcomes.get("test_needs_an_app") == "ERROR", outcomes["@output"]
    assert "the mcp_client fixture needs an `mcp_app` fixture" in outcomes["@output"]


def test_the_plugin_imports_no_server_code() -> None:
    # loaded into every pytest run of every project that installs mcpfast: keep it light
    code = ("import sys, mcpfast.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith(('mcpfast.server', 'mcpfast.testing', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
