"""Implementation facade: every wire test runs against the compiled twin (id ``c``) and the
pure-Python twin (id ``py``). A missing compiled module is an error, not a skip, unless
``--no-c-extensions`` is given (the nocompile run) or ``MCPFAST_NO_EXTENSIONS`` is set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

import pytest

NO_EXTENSIONS_ENV = os.environ.get("MCPFAST_NO_EXTENSIONS", "") not in ("", "0")


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
