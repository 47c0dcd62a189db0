"""Bounded free lists for envelopes and write buffers; picks the compiled or the pure twin.

See ``_pool_py.py`` for the specification; ``NO_EXTENSIONS`` (``_compat.py``) forces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._pool_py import BufferPool, ObjectPool
else:
    try:
        from ._pool import BufferPool, ObjectPool
    except ImportError:  # pragma: no cover
        from ._pool_py import BufferPool, ObjectPool

__all__ = ["BufferPool", "ObjectPool"]
