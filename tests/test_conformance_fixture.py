"""Smoke test of the conformance fixture (``conformance/everything_server.py``) and its results
checker, so a broken fixture fails the normal suite fast (the official suite itself runs in
``conformance/run.sh``, which needs Node and npm).

The fixture is started as ``conformance/run.sh`` starts it (a subprocess on 127.0.0.1 at a free
port) and answers one legacy exchange (initialize, initialized, tools/call in the session) and
one 2026-07-28 exchange (a tools/call that needs input, then its retry) over real HTTP.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .support.ports import free_port as _free_port

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "conformance" / "everything_server.py"
CHECKER = ROOT / "conformance" / "check_results.py"

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    "io.modelcontextprotocol/clientInfo": {"name": "smoke", "version": "0"},
}


def _post(url: str, message: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], list[Any]]:
    """POST one JSON-RPC message -> (status, headers, the JSON messages of the body: one for
    application/json, every ``data:`` event of an SSE stream)."""
    req = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, hdrs, body = r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        with e:
            status, hdrs, body = e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    if hdrs.get("content-type", "").startswith("text/event-stream"):
        msgs = [json.loads(line[5:]) for line in body.decode().splitlines()
                if line.startswith("data:") and line[5:].strip()]
    else:
        msgs = [json.loads(body)] if body.strip() else []
    return status, hdrs, msgs


def _response(msgs: list[Any], rid: int) -> dict[str, Any]:
    found = [m for m in msgs if m.get("id") == rid and ("result" in m or "error" in m)]
    assert len(found) == 1, f"expected exactly one answer to request {rid}, got {msgs!r}"
    return found[0]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fixture_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("fixture") / "fixture.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally; a file, so a chatty server never blocks
    proc = subprocess.Popen([sys.executable, str(FIXTURE), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the fixture exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the fixture did not listen within 20 s")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown
            proc.kill()
            proc.wait()
        log.close()


def test_legacy_session_call(fixture_url: str) -> None:
    status, hdrs, msgs = _post(fixture_url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "smoke", "version": "0"}}}, {})
    assert status == 200, msgs
    init = _response(msgs, 1)["result"]
    assert init["protocolVersion"] == "2025-11-25"
    assert {"tools", "resources", "prompts", "logging", "completions"} <= init["capabilities"].keys()
    sid = hdrs["mcp-session-id"]
    session = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
    status, _, _ = _post(fixture_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert status == 202
    status, _, msgs = _post(fixture_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                          "params": {"name": "test_simple_text", "arguments": {}}}, session)
    assert status == 200
    result = _response(msgs, 2)["result"]
    assert result["content"] == [{"type": "text", "text": "This is a simple text response for testing."}]
    assert "resultType" not in result  # a legacy result has no 2026-07-28 fields


def test_modern_input_required_round_trip(fixture_url: str) -> None:
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
               "Mcp-Name": "test_input_required_result_elicitation"}
    params: dict[str, Any] = {"name": "test_input_required_result_elicitation", "arguments": {}, "_meta": MODERN_META}
    status, _, msgs = _post(fixture_url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}, headers)
    assert status == 200
    first = _response(msgs, 1)["result"]
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["user_name"]["method"] == "elicitation/create"
    retry = {**params, "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Ada"}}},
             "requestState": first["requestState"]}
    status, _, msgs = _post(fixture_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": retry}, headers)
    assert status == 200
    done = _response(msgs, 2)["result"]
    assert done["resultType"] == "complete"
    assert done["content"] == [{"type": "text", "text": "Hello, Ada!"}]
    # a tampered requestState is refused with -32602, never answered as complete
    bad = {**retry, "requestState": first["requestState"] + "x"}
    status, _, msgs = _post(fixture_url, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": bad}, headers)
    assert _response(msgs, 3)["error"]["code"] == -32602


# ------------------------------------------------------------------------------ the checker

def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_check_results", CHECKER)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


REQUIREMENTS = """\
# comment
server:
  - ping
  - tools-list

client:
  - initialize

not_scored:
  - scenario: auth/dpop
    leg: client
    reason: extension
  - scenario: tasks-lifecycle
    leg: server
    reason: extension
    note: >-
      pending against the reference fixture
  - scenario: json-schema-2020-12
    leg: server
    reason: pending
"""


def _write_run(directory: Path, scenario: str, statuses: list[str], ts: str = "2026-11-25T21-11-06-767Z") -> None:
    d = directory / f"server-{scenario}-{ts}"
    d.mkdir(parents=True)
    checks = [{"id": f"{scenario}-{i}", "status": s, "errorMessage": "boom" if s == "FAILURE" else None}
              for i, s in enumerate(statuses)]
    (d / "checks.json").write_text(json.dumps(checks))


def test_checker_parses_requirements() -> None:
    req = _checker().parse_requirements(REQUIREMENTS)
    assert req.scored == ["ping", "tools-list"]
    assert req.not_scored == {"tasks-lifecycle": "extension", "json-schema-2020-12": "pending"}


def test_checker_fails_on_required_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _checker()
    reqs = {"2026-07-28": mod.parse_requirements(REQUIREMENTS)}
    out = tmp_path / "leg"
    _write_run(out, "ping", ["SUCCESS", "INFO"])
    _write_run(out, "tools-list", ["SUCCESS", "WARNING"])
    _write_run(out, "json-schema-2020-12", ["SUCCESS"])
    _write_run(out, "sep-2640-skills-manifest", ["FAILURE"])  # an optional extension: reported, not fatal
    _write_run(out, "tasks-lifecycle", ["SUCCESS"])
    ok, fatal = mod.check_leg("leg", str(out), "2026-07-28", None, reqs)
    assert ok and fatal == []
    assert "sep-2640-skills-manifest" in capsys.readouterr().out

    # the Tasks extension is implemented: its scenarios are required
    _write_run(out, "tasks-lifecycle", ["SUCCESS", "FAILURE"], ts="2026-11-25T21-30-00-000Z")
    ok, fatal = mod.check_leg("leg", str(out), "2026-07-28", None, reqs)
    assert not ok and len(fatal) == 1 and "tasks-lifecycle" in fatal[0]
    _write_run(out, "tasks-lifecycle", ["SUCCESS"], ts="2026-11-25T21-40-00-000Z")

    _write_run(out, "json-schema-2020-12", ["FAILURE"], ts="2026-11-25T22-00-00-000Z")  # newer run wins
    ok, fatal = mod.check_leg("leg", str(out), "2026-07-28", None, reqs)
    assert not ok and len(fatal) == 1 and "json-schema-2020-12" in fatal[0] and "boom" in fatal[0]

    # an expected scenario with no results (the harness crashed or timed out) is a failure too
    missing = tmp_path / "empty"
    missing.mkdir()
    ok, fatal = mod.check_leg("empty", str(missing), "2026-07-28", None, reqs)
    assert not ok and {f.split(": ")[1] for f in fatal} == {"ping", "tools-list", "json-schema-2020-12",
                                                            "tasks-lifecycle"}


def _write_client_run(directory: Path, scenario: str, statuses: list[str],
                      ts: str = "2026-11-25T21-11-06-767Z") -> None:
    d = directory / f"{scenario}-{ts}"  # auth/x-<ts>: the harness's auth/ subdirectory
    d.mkdir(parents=True)
    checks = [{"id": f"c{i}", "status": s, "errorMessage": "boom" if s == "FAILURE" else None}
              for i, s in enumerate(statuses)]
    (d / "checks.json").write_text(json.dumps(checks))


def test_checker_client_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _checker()
    req = mod.parse_requirements(REQUIREMENTS, "client")
    assert req.scored == ["initialize"] and req.not_scored == {"auth/dpop": "extension"}
    reqs = {"2026-07-28": req}
    out = tmp_path / "leg"
    _write_client_run(out, "initialize", ["SUCCESS"])
    _write_client_run(out, "auth/dpop", ["SUCCESS", "FAILURE"])  # an extension, but required here
    _write_client_run(out, "sep-2640-client-no-prefetch", ["FAILURE"])
    optional = ("sep-2640-client-",)
    ok, fatal = mod.check_leg("leg", str(out), "2026-07-28", None, reqs, "client", optional)
    assert not ok and len(fatal) == 1 and "auth/dpop" in fatal[0]
    capsys.readouterr()
    assert mod.main(["--side", "client", "--optional", "sep-2640-client-", "--list-failed",
                     "--requirements-dir", str(_req_dir(tmp_path)), "--leg", f"x={out}:2026-07-28"]) == 0
    assert capsys.readouterr().out.split() == ["auth/dpop"]
    _write_client_run(out, "auth/dpop", ["SUCCESS"], ts="2026-11-25T22-00-00-000Z")  # the solo re-run wins
    ok, fatal = mod.check_leg("leg", str(out), "2026-07-28", None, reqs, "client", optional)
    assert ok and fatal == []


def _req_dir(tmp_path: Path) -> Path:
    d = tmp_path / "requirements"
    d.mkdir(exist_ok=True)
    (d / "2026-07-28.yaml").write_text(REQUIREMENTS)
    return d
