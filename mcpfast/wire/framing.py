"""NDJSON line splitting, SSE parsing and encoding; picks the compiled or the pure twin.

See ``_framing_py.py`` for the specification; ``NO_EXTENSIONS`` (``_compat.py``) forces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._framing_py import (
        DEFAULT_MAX_SIZE,
        LineSplitter,
        SSEEvent,
        SSEParser,
        encode_sse,
        encode_sse_comment,
    )
else:
    try:
        from ._framing import (
            DEFAULT_MAX_SIZE,
            LineSplitter,
            SSEEvent,
            SSEParser,
                encode_sse,
            encode_sse_comment,
        )
    except ImportError:  # pragma: no cover
        from ._framing_py import (
            DEFAULT_MAX_SIZE,
            LineSplitter,
            SSEEvent,
            SSEParser,
                encode_sse,
            encode_sse_comment,
        )

__all__ = [
    "LineSplitter",
    "SSEEvent",
    "SSEParser",
    "encode_sse",
    "encode_sse_comment",
    "DEFAULT_MAX_SIZE",
]
