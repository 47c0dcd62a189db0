"""pytest fixtures for testing MCP servers in process with ``mcpfast.testing.Client``.

Installed with mcpfast (entry point ``pytest11``), or enable it by hand with
``-p mcpfast.pytest_plugin`` / ``pytest_plugins = ["mcpfast.pytest_plugin"]`` in a top-level
``conftest.py``. No async plugin is needed: an ``async def`` test that uses ``mcp_client`` (or
is marked ``@pytest.mark.mcp``) is run by this plugin in a fresh event loop, with the client
already connected::

    import pytest
    from mcpfast import MCPServer

    @pytest.fixture
    def mcp_app():
        app = MCPServer("demo")

        @app.tool()
        def add(a: int, b: int) -> int:
            return a + b

        return app

    async def test_add(mcp_client):
        res = await mcp_client.call_tool("add", {"a": 1, "b": 2})
        assert res["structuredContent"] == {"result": 3}

    # both protocol eras: override the version fixture by parametrizing it
    @pytest.mark.parametrize("mcp_protocol_version", ["2025-11-25", "2026-07-28"])
    async def test_both_eras(mcp_client):
        assert (await mcp_client.list_tools())["tools"]

    # other apps or options: the factory (enter each client with ``async with``)
    @pytest.mark.mcp
    async def test_sampling(mcp_client_factory, mcp_app):
        async with mcp_client_factory(mcp_app, sampling_callback=lambda p: {...}) as c:
            ...

Fixtures:

* ``mcp_app`` - yours to define: the ``MCPServer`` (or ``ServerCore``) under test.
* ``mcp_protocol_version`` - the version ``mcp_client`` speaks (default ``"2025-11-25"``, an
  ``initialize`` session; ``"2026-07-28"`` for the stateless era).
* ``mcp_client_options`` - extra keyword arguments for ``mcp_client`` (default ``{}``):
  callbacks, ``read_timeout``, ``raise_on_error``...
* ``mcp_client`` - a ``mcpfast.testing.Client`` for ``mcp_app``. In a test this plugin runs it
  is connected for the test's duration; under another async runner (pytest-asyncio, anyio),
  enter it yourself: ``async with mcp_client as c:`` (entering a connected client is a no-op,
  so that line works under both).
* ``mcp_client_factory`` - ``factory(app=None, **options)`` -> an unconnected ``Client``
  (``app`` defaults to ``mcp_app``).

The marker ``mcp`` asks this plugin to run an ``async def`` test that uses no ``mcp_client``.
A test another async plugin claims (marked ``asyncio``, ``anyio``, ``trio``) is left to it.
Only pytest and the standard library are imported until a fixture is used.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["mcp_protocol_version", "mcp_client_options", "mcp_client", "mcp_client_factory"]

#: markers of other plugins that run async tests themselves
_OTHER_RUNNERS = ("asyncio", "anyio", "trio")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mcp: run this async test in an event loop (mcpfast's pytest plugin), connecting the"
        " mcp_client fixture first")


@pytest.fixture
def mcp_protocol_version() -> str:
    """The protocol version ``mcp_client`` speaks; parametrize it to run a test in other eras."""
    return "2025-11-25"


@pytest.fixture
def mcp_client_options() -> dict[str, Any]:
    """Extra ``mcpfast.testing.Client`` keyword arguments for ``mcp_client``; override it."""
    return {}


class ClientFactory:
    """Makes unconnected ``mcpfast.testing.Client``\\ s (``async with factory(app) as c``)."""

    def __init__(self, default_app: Callable[[], Any], protocol_version: str) -> None:
        self._default_app = default_app
        self.protocol_version = protocol_version

    def __call__(self, app: Any = None, **options: Any) -> Any:
        from .testing import Client

        if app is None:
            app = self._default_app()
        options.setdefault("protocol_version", self.protocol_version)
        return Client(app, **options)


@pytest.fixture
def mcp_client_factory(request: pytest.FixtureRequest, mcp_protocol_version: str) -> ClientFactory:
    """``factory(app=None, **options)`` -> an unconnected ``mcpfast.testing.Client`` (``app``
    defaults to the ``mcp_app`` fixture)."""

    def default_app() -> Any:
        try:
            return request.getfixturevalue("mcp_app")
        except pytest.FixtureLookupError:
            raise pytest.UsageError("mcp_client_factory() without an app needs an `mcp_app` fixture") from None

    return ClientFactory(default_app, mcp_protocol_version)


@pytest.fixture
def mcp_client(request: pytest.FixtureRequest, mcp_client_factory: ClientFactory,
               mcp_client_options: dict[str, Any]) -> Any:
    """A ``mcpfast.testing.Client`` for the ``mcp_app`` fixture (see the module docstring)."""
    try:
        app = request.getfixturevalue("mcp_app")
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            "the mcp_client fixture needs an `mcp_app` fixture returning your MCPServer; define one in"
            " the test module or a conftest.py") from None
    return mcp_client_factory(app, **mcp_client_options)


def _ours(item: pytest.Function) -> bool:
    """Whether this plugin runs the test: an async function using mcp_client or marked mcp,
    that no other async plugin claimed."""
    if not inspect.iscoroutinefunction(item.obj):
        return False
    if any(item.get_closest_marker(m) is not None for m in _OTHER_RUNNERS):
        return False
    return item.get_closest_marker("mcp") is not None or "mcp_client" in item.fixturenames


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _ours(pyfuncitem):
        return None
    from .testing import Client

    # the test function's own arguments (funcargs also holds autouse and indirect fixtures);
    # read from its signature, the public face of what pytest resolved for it
    params = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: value for name, value in pyfuncitem.funcargs.items() if name in params}

    async def main() -> None:
        clients = [v for v in kwargs.values() if isinstance(v, Client)]
        entered: list[Any] = []
        try:
            for c in clients:
                await c.__aenter__()
                entered.append(c)
            await pyfuncitem.obj(**kwargs)
        finally:
            for c in reversed(entered):
                await c.__aexit__(None, None, None)

    asyncio.run(main())
    return True
