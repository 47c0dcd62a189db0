"""The ``Dockerfile``: its properties checked from the file (multi-stage, compiler only in the
build stage, a runtime of installed wheels only, non-root, a HEALTHCHECK that talks MCP, EXPOSE,
the entry point), the ``.dockerignore``; and, where a Docker daemon is reachable, the image built
and run (skipped with the reason elsewhere)."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPILERS = ("build-essential", "gcc", "g++", "clang")


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD") + 3:]
        value = json.loads(text.strip())
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def parse(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and parser directives dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    assert not pending, "a continuation line at the end of the Dockerfile"
    return out


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def of(instructions: list[Instruction], keyword: str, stage: int | None = None) -> list[Instruction]:
    return [i for i in instructions if i.keyword == keyword and (stage is None or i.stage == stage)]


def test_parser_joins_continuations() -> None:
    got = parse("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN x \\\n # note\n && y\nFROM c\nUSER 1\n")
    assert [(i.keyword, i.args, i.stage) for i in got] == [
        ("FROM", "a AS b", 0), ("RUN", "x  && y", 0), ("FROM", "c", 1), ("USER", "1", 1)]


def test_multi_stage_build_then_slim_runtime(instructions: list[Instruction]) -> None:
    froms = of(instructions, "FROM")
    assert len(froms) == 2
    build, runtime = froms
    assert build.args.lower().endswith(" as build") and "slim" in build.args
    assert "slim" in runtime.args and " as " in runtime.args.lower()
    build_runs = " ".join(i.args for i in of(instructions, "RUN", 0))
    assert any(c in build_runs for c in COMPILERS), "the build stage installs a compiler"
    assert "pip wheel" in build_runs and "--wheel-dir /wheels" in build_runs
    runtime_runs = " ".join(i.args for i in of(instructions, "RUN", 1))
    assert not any(c in runtime_runs.split() for c in COMPILERS), "no compiler in the runtime"
    assert "apt-get install" not in runtime_runs
    # only the wheels built in stage 1, installed offline; the wheel directory is mounted, not copied
    assert "--mount=type=bind,from=build" in runtime_runs and "--no-index --find-links /wheels" in runtime_runs
    assert "mcpfast[http]" in runtime_runs and "websockets" in runtime_runs
    assert not of(instructions, "COPY", 1) and not of(instructions, "ADD", 1)
    assert "mcpfast.EXTENSIONS" in runtime_runs, "the image checks that the compiled core loads"


def test_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    users = of(instructions, "USER", 1)
    assert users, "the runtime stage sets USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    last_user = instructions.index(users[-1])
    assert all(i.keyword != "RUN" for i in instructions[last_user:]), "nothing runs as root after USER"
    runs = " ".join(i.args for i in of(instructions, "RUN", 1))
    assert f"--uid {user}" in runs, "the user exists in the image"


def test_entry_point_health_check_and_port(instructions: list[Instruction]) -> None:
    (entry,) = of(instructions, "ENTRYPOINT", 1)
    assert entry.exec_form() == ["python", "-m", "mcpfast.server"]  # exec form: it gets SIGTERM itself
    (cmd,) = of(instructions, "CMD", 1)
    args = cmd.exec_form()
    assert args[args.index("--transport") + 1] == "http"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    port = args[args.index("--port") + 1]
    (expose,) = of(instructions, "EXPOSE", 1)
    assert expose.args == port
    (health,) = of(instructions, "HEALTHCHECK", 1)
    assert health.exec_form() == ["python", "-m", "mcpfast.server.healthcheck"]
    for option in ("--interval=", "--timeout=", "--retries="):
        assert option in health.args
    env = " ".join(i.args for i in of(instructions, "ENV", 1))
    assert f"MCPFAST_HEALTH_URL=http://127.0.0.1:{port}/mcp" in env
    # what the entry point and the health check run exists in the package
    for module in ("mcpfast.server.__main__", "mcpfast.server.healthcheck"):
        assert importlib.util.find_spec(module) is not None, module


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p.rstrip("/").replace("**/", "*")) or path.startswith(p.rstrip("/") + "/")
                   for p in patterns)

    for path in (".git", ".venv", "build", "dist", "mcpfast/wire/_framing.c", "x/__pycache__"):
        assert ignored(path), path
    # what `pip wheel .` needs from the context
    for path in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in", "mcpfast/__init__.py",
                 "mcpfast/wire/_framing.pyx"):
        assert not ignored(path), path


def _daemon() -> str | None:
    """None when a Docker daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        out = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        return f"no Docker daemon reachable (docker info: {last})"
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = _daemon()
    if reason is not None:
        pytest.skip(reason)
    tag = f"mcpfast-test:{uuid.uuid4().hex[:12]}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


def test_the_image_builds_runs_and_is_healthy(image: str) -> None:
    from mcpfast.server.healthcheck import check

    user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", image], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert user.split(":")[0] not in ("", "root", "0")
    cid = subprocess.run(["docker", "run", "-d", "-p", "127.0.0.1::8000", image], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        port = subprocess.run(["docker", "port", cid, "8000/tcp"], capture_output=True, text=True,
                              check=True).stdout.split(":")[-1].strip()
        deadline = time.monotonic() + 60
        while True:
            try:
                check(f"http://127.0.0.1:{port}/mcp")
                break
            except OSError:
                assert time.monotonic() < deadline, "the container never answered"
                time.sleep(0.5)
        # the health check inside the container talks to the server too
        out = subprocess.run(["docker", "exec", cid, *shlex.split("python -m mcpfast.server.healthcheck")],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        whoami = subprocess.run(["docker", "exec", cid, "id", "-u"], capture_output=True, text=True, timeout=30)
        assert whoami.stdout.strip() not in ("", "0")
        stop = subprocess.run(["docker", "stop", "-t", "10", cid], capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0
        code = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", cid], capture_output=True,
                              text=True).stdout.strip()
        assert code == "0", "SIGTERM ends the server gracefully"
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
