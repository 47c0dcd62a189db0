"""Test-session setup: which mcpfast is under test, and the implementation facade.

The tests import the *installed* mcpfast (``--import-mode=importlib``: pytest puts neither the
checkout nor ``tests/`` on ``sys.path``). With ``MCPFAST_EXPECT_INSTALLED=1`` (``.ci/run``,
tox, cibuildwheel: runs meant to test a built wheel) the session refuses to start when
``mcpfast`` was imported from the source tree these tests live in, instead of quietly testing
the checkout; the header line says which mcpfast a run tested.

Implementation facade: every wire test runs against the compiled twin (id ``c``) and the
pure-Python twin (id ``py``). A missing compiled module is an error, not a skip, unless
``--no-c-extensions`` is given (the nocompile run) or ``MCPFAST_NO_EXTENSIONS`` is set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mcpfast

NO_EXTENSIONS_ENV = os.environ.get("MCPFAST_NO_EXTENSIONS", "") not in ("", "0")
EXPECT_INSTALLED = os.environ.get("MCPFAST_EXPECT_INSTALLED", "") not in ("", "0")
#: the source tree (checkout or unpacked sdist) these tests belong to
SOURCE_TREE = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(mcpfast.__file__).resolve().parent


def pytest_report_header(config: pytest.Config) -> str:
    return f"mcpfast {mcpfast.__version__} from {PACKAGE_DIR} (EXTENSIONS = {mcpfast.EXTENSIONS})"


def pytest_configure(config: pytest.Config) -> None:
    # the checkout's own package directory (a path hack, an editable install); a virtualenv
    # that happens to live inside the checkout (.venv) holds an installed copy, which is fine
    if EXPECT_INSTALLED and PACKAGE_DIR == SOURCE_TREE / "mcpfast":
        raise pytest.UsageError(
            f"MCPFAST_EXPECT_INSTALLED is set but mcpfast was imported from the source tree ({PACKAGE_DIR}),"
            " not from the installed wheel: run pytest with --import-mode=importlib, from outside the"
            " checkout or with python -P, and without the checkout on PYTHONPATH"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=False,
        help="deselect the tests of the compiled twins (for a pure-Python build)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (config.getoption("--no-c-extensions") or NO_EXTENSIONS_ENV):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("c_extension") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass(frozen=True)
class Impl:
    pure: bool

    def module(self, name: str) -> ModuleType:
        """``"framing"`` -> ``mcpfast.wire._framing`` or ``mcpfast.wire._framing_py``."""
        return import_module(f"mcpfast.wire._{name}{'_py' if self.pure else ''}")

    def __str__(self) -> str:
        return "py" if self.pure else "c"


IMPLS = [pytest.param(Impl(False), marks=pytest.mark.c_extension, id="c"), pytest.param(Impl(True), id="py")]


@pytest.fixture(scope="session", params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Impl:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def framing(impl: Impl) -> Any:
    return impl.module("framing")


@pytest.fixture(scope="session")
def jsonrpc(impl: Impl) -> Any:
    return impl.module("jsonrpc")


@pytest.fixture(scope="session")
def counters(impl: Impl) -> Any:
    return impl.module("counters")
