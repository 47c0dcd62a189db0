"""mcpfast: a fast, complete Model Context Protocol implementation for Python."""

from __future__ import annotations

from .wire._compat import NO_EXTENSIONS as _NO_EXTENSIONS

__version__ = "0.1.0.dev0"


def _extensions_active() -> bool:
    if _NO_EXTENSIONS:
        return False
    try:
        from .wire import _counters, _framing, _jsonrpc, _pool  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return False
    return True


#: True when the compiled (Cython) wire core is in use, False when the pure-Python twins are.
EXTENSIONS: bool = _extensions_active()

__all__ = ["EXTENSIONS", "__version__"]
