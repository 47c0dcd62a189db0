"""NDJSON splitting, SSE parsing and encoding: mcpfast/wire/_framing.pyx (impl "c") and
mcpfast/wire/_framing_py.py (impl "py"), with ``bytes.split`` as the baseline.

Inputs (tests/bench/payloads.py): NDJSON streams of fixed-length lines, SSE bodies of ``message``
events carrying result envelopes.
"""

from __future__ import annotations

from typing import Any

from .common import IMPLS, SIZES, load, payloads

_STREAM = {"64KB": 64 * 1024, "1MB": 1024 * 1024}
_LINE = {"100B": 100, "10KB": 10 * 1024}
CHUNK = 4096  # what one socket read typically brings


class SplitNDJSON:
    """``LineSplitter.feed`` of a stream of ``size`` made of ``shape``-long lines: the whole
    buffer in one call, and in 4 KiB reads (lines straddling chunks)."""

    params = (IMPLS, list(_STREAM), list(_LINE))
    param_names = ["impl", "size", "shape"]

    def setup(self, impl: str, size: str, shape: str) -> None:
        self.framing: Any = load(impl, "framing")
        self.data: bytes = payloads.ndjson_stream(_STREAM[size], _LINE[shape])
        self.chunks: list[bytes] = [self.data[i : i + CHUNK] for i in range(0, len(self.data), CHUNK)]
        self.splitter: Any = self.framing.LineSplitter()

    def time_feed(self, impl: str, size: str, shape: str) -> None:
        self.splitter.feed(self.data)

    def time_feed_chunked(self, impl: str, size: str, shape: str) -> None:
        feed = self.splitter.feed
        for chunk in self.chunks:
            feed(chunk)

    def peakmem_feed(self, impl: str, size: str, shape: str) -> None:
        self.framing.LineSplitter().feed(self.data)

    def track_frames_per_feed(self, impl: str, size: str, shape: str) -> int:
        return len(self.framing.LineSplitter().feed(self.data))

    track_frames_per_feed.unit = "frames"  # type: ignore[attr-defined]


class SplitBaseline:
    """``bytes.split(b"\\n")``: the floor, with no buffering, CR handling or size limit."""

    params = (list(_STREAM), list(_LINE))
    param_names = ["size", "shape"]

    def setup(self, size: str, shape: str) -> None:
        self.data: bytes = payloads.ndjson_stream(_STREAM[size], _LINE[shape])

    def time_bytes_split(self, size: str, shape: str) -> None:
        self.data.split(b"\n")


class ParseSSE:
    """``SSEParser.feed`` of a 64 KiB body of events whose data is a ``size`` envelope (a single
    event for 1 MB)."""

    params = (IMPLS, SIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: str) -> None:
        self.framing: Any = load(impl, "framing")
        self.data: bytes = payloads.sse_stream(size)
        self.parser: Any = self.framing.SSEParser()

    def time_feed(self, impl: str, size: str) -> None:
        self.parser.feed(self.data)

    def peakmem_feed(self, impl: str, size: str) -> None:
        self.framing.SSEParser().feed(self.data)


class EncodeSSE:
    """``encode_sse`` of one ``size`` envelope with an event type and id."""

    params = (IMPLS, SIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: str) -> None:
        self.encode_sse: Any = load(impl, "framing").encode_sse
        self.data: bytes = payloads.envelope_bytes(size)

    def time_encode_sse(self, impl: str, size: str) -> None:
        self.encode_sse(self.data, event="message", id="42")
