"""Cutting frames out of byte streams, and encoding SSE events (pure-Python twin).

This module is the specification; ``_framing.pyx`` is its compiled twin with the same names,
signatures, results, exception classes and texts. ``framing.py`` picks one at import.

* ``LineSplitter``: newline-delimited frames (MCP stdio transport, NDJSON over TCP).
* ``SSEParser`` / ``SSEEvent``: the WHATWG HTML "event stream interpretation" (Streamable HTTP).
* ``encode_sse`` / ``encode_sse_comment``: the other direction.

Limits: what a splitter buffers is bounded by ``max_size`` (an unfinished NDJSON frame; an
unfinished SSE line and an event's data). A frame beyond the limit is dropped, the rest of the
chunk is still processed, and ``feed`` raises ``FrameError`` at the end of that call carrying
the good results of the call (``.frames`` or ``.events``), so nothing but the bad frame is lost
and the splitter stays usable.

Thread safety: none; one splitter per connection, fed from one thread (the event loop).
"""

from __future__ import annotations

import operator
import re
import sys
from typing import Final

from ..errors import FrameError

__all__ = [
    "LineSplitter",
    "SSEEvent",
    "SSEParser",
    "encode_sse",
    "encode_sse_comment",
    "DEFAULT_MAX_SIZE",
]

Buffer = bytes | bytearray | memoryview

DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
# Upper bound for max_size, chosen so that "limit + 1" and "buffered + chunk" never overflow
# a C Py_ssize_t in the compiled twin.
_MAX_LIMIT: Final = sys.maxsize // 4

_CR: Final = 0x0D
_LF: Final = 0x0A
# A line made only of these is a blank line (keep-alive) in NDJSON and is skipped. The CR is
# there for "\r\r\n" and the like: after one trailing CR is cut, another is still blank.
_BLANK: Final = b" \t\r"
_BOM: Final = b"\xef\xbb\xbf"
# Any SSE line terminator; a lone CR at the very end of a chunk is resolved in the next feed.
_SSE_EOL: Final = re.compile(rb"\r\n?|\n")
# retry values longer than this are ignored: 10**18 ms is beyond any sane reconnection time,
# and a C long long must hold the value (the compiled twin parses it without Python ints).
_RETRY_MAX_DIGITS: Final = 18


def _as_bytes(data: Buffer, what: str) -> bytes:
    # One normalisation at the entry of every feed()/encode_sse(): any C-contiguous buffer is
    # accepted (PyBUF_SIMPLE in the compiled twin), with the same error texts in both twins.
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"{what} expects bytes, bytearray or memoryview, got {type(data).__name__}"
        ) from None
    with view:
        if not view.c_contiguous:
            raise BufferError(f"{what} needs a C-contiguous buffer")
        return view.tobytes()


def _check_limit(what: str, value: int, low: int) -> int:
    value = operator.index(value)
    if not low <= value <= _MAX_LIMIT:
        raise ValueError(f"{what} must be between {low} and {_MAX_LIMIT}, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# Newline-delimited frames


def _line_error(max_size: int, offset: int, frames: list[bytes]) -> FrameError:
    err = FrameError(
        f"Frame of more than {max_size} bytes (limit {max_size}) - at byte {offset}; "
        "discarding until the next newline",
        offset,
    )
    err.frames = frames  # type: ignore[attr-defined]
    return err


class LineSplitter:
    """Incremental splitter of a newline-delimited byte stream (MCP stdio, NDJSON over TCP).

    ``feed`` takes chunks cut anywhere and returns the frames completed by each, as ``bytes``
    without the ``\\n`` and without one ``\\r`` before it (CRLF is tolerated). Blank lines
    (empty, or only spaces, tabs and CRs) are skipped: some clients send them as keep-alives.

    A frame longer than ``max_size`` bytes (not counting its line terminator) is oversized: it
    is dropped, and if it is unfinished when its size passes the limit, the input is discarded
    up to the next ``\\n`` (also in later chunks), so that the splitter never holds more than
    ``max_size + 1`` bytes. The ``feed`` call in which the limit is passed processes the whole
    chunk and then raises ``FrameError``: ``.offset`` is the stream offset where the first
    oversized frame of the call started and ``.frames`` the good frames of the call. The size
    of an oversized frame never appears in the message, since an unfinished one has no size
    yet: the text is the same however the stream was chunked.
    """

    __slots__ = ("_max_size", "_buf", "_start", "_offset", "_discarding")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._max_size: int = _check_limit("max_size", max_size, 1)
        self._buf = bytearray()  # the unfinished frame, always <= max_size + 1 bytes
        self._start = 0  # stream offset of the first byte in _buf
        self._offset = 0  # bytes fed since creation or reset()
        self._discarding = False  # dropping the tail of an oversized frame until "\n"

    @property
    def max_size(self) -> int:
        """The largest frame accepted, in bytes, line terminator not counted."""
        return self._max_size

    @property
    def offset(self) -> int:
        """Bytes fed since creation (or the last ``reset()``)."""
        return self._offset

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held until its newline arrives."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any unfinished frame and start over as a new splitter (offset 0)."""
        self._buf.clear()
        self._start = 0
        self._offset = 0
        self._discarding = False

    def _too_long(self, size: int, last: int) -> bool:
        # Unfinished frame of `size` bytes whose last byte is `last`: it may still end in
        # "\r\n", so one byte over the limit is fine when that byte is a CR.
        excess = size - self._max_size
        return excess > 1 or (excess == 1 and last != _CR)

    def feed(self, data: Buffer) -> list[bytes]:
        """Add a chunk; return the frames it completed (a new list, possibly empty).

        Raises ``FrameError`` (with ``.frames``) after processing the whole chunk when an
        oversized frame was met in it.
        """
        if type(data) is not bytes:
            data = _as_bytes(data, "feed()")
        n = len(data)
        base = self._offset
        self._offset = base + n
        max_size = self._max_size
        frames: list[bytes] = []
        bad = -1  # stream offset of the first oversized frame of this call
        pos = 0
        if self._discarding:
            nl = data.find(b"\n")
            if nl < 0:
                return frames
            pos = nl + 1
            self._discarding = False
        buf = self._buf
        if buf:
            nl = data.find(b"\n", pos)
            if nl >= 0:
                size = len(buf) + nl - pos
                if size > max_size + 1:  # too long even if it ends with "\r"
                    bad = self._start
                else:
                    buf += data[pos:nl]
                    frame = bytes(buf)
                    if frame[-1:] == b"\r":
                        frame = frame[:-1]
                    if len(frame) > max_size:
                        bad = self._start
                    elif frame.strip(_BLANK):
                        frames.append(frame)
                buf.clear()
                pos = nl + 1
            elif pos < n:
                if self._too_long(len(buf) + n - pos, data[n - 1]):
                    buf.clear()
                    self._discarding = True
                    raise _line_error(max_size, self._start, frames)
                buf += data[pos:]
                return frames
            else:
                return frames

        last = data.rfind(b"\n", pos)
        if last >= 0:
            lines = data[pos:last].split(b"\n")
            if last - pos <= max_size:
                # Common case: no frame of this stretch can be oversized, so there is no
                # need to know where each one starts.
                if data.find(b"\r", pos, last) >= 0:
                    lines = [line[:-1] if line[-1:] == b"\r" else line for line in lines]
                # Looking at the first byte spares most frames the strip() copy.
                frames += [
                    line for line in lines if line and (line[0] not in _BLANK or line.strip(_BLANK))
                ]
            else:
                start = base + pos
                for raw in lines:
                    line = raw[:-1] if raw[-1:] == b"\r" else raw
                    if len(line) > max_size:
                        if bad < 0:
                            bad = start
                    elif line.strip(_BLANK):
                        frames.append(line)
                    start += len(raw) + 1
            pos = last + 1

        if pos < n:
            if self._too_long(n - pos, data[n - 1]):
                if bad < 0:
                    bad = base + pos
                self._discarding = True
            else:
                buf += data[pos:]
                self._start = base + pos
        if bad >= 0:
            raise _line_error(max_size, bad, frames)
        return frames

    def __repr__(self) -> str:
        return f"<LineSplitter max_size={self._max_size} offset={self._offset} pending={len(self._buf)}>"


# --------------------------------------------------------------------------------------------
# Server-Sent Events


class SSEEvent:
    """One dispatched Server-Sent Event.

    ``data`` (lines joined by ``\\n``), ``event`` (the type, ``"message"`` when the block had
    no non-empty ``event`` field), ``id`` (the last event ID in effect at dispatch, ``None`` if
    no ``id`` field was ever seen on the stream) and ``retry`` (the reconnection time in ms set
    by this block, else ``None``). Read-only, as in the compiled twin.
    """

    __slots__ = ("_data", "_event", "_id", "_retry")

    def __init__(
        self, data: str, event: str = "message", id: str | None = None, retry: int | None = None
    ) -> None:
        self._data = data
        self._event = event
        self._id = id
        self._retry = retry

    @property
    def data(self) -> str:
        """The data lines joined by ``\\n``."""
        return self._data

    @property
    def event(self) -> str:
        """The event type, ``"message"`` by default."""
        return self._event

    @property
    def id(self) -> str | None:
        """The last event ID in effect at dispatch, None if the stream never set one."""
        return self._id

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) set by this event's block, else None."""
        return self._retry

    def as_tuple(self) -> tuple[str, str, str | None, int | None]:
        """``(event, data, id, retry)``: comparable across the twins, whose classes differ."""
        return (self._event, self._data, self._id, self._retry)

    def __eq__(self, other: object) -> bool:
        if type(other) is not SSEEvent:
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return f"SSEEvent(data={self.data!r}, event={self.event!r}, id={self.id!r}, retry={self.retry!r})"


def _sse_error(message: str, offset: int, events: list[SSEEvent]) -> FrameError:
    err = FrameError(message, offset)
    err.events = events  # type: ignore[attr-defined]
    return err


class SSEParser:
    """Incremental Server-Sent Events parser (WHATWG HTML, "Interpreting an event stream").

    ``feed`` takes chunks cut anywhere and returns the events they dispatched. The rules:

    * Lines end with CRLF, LF or CR; a CR ending one chunk and an LF starting the next are one
      line end. One UTF-8 BOM at the start of the stream is skipped.
    * A line starting with ``:`` is a comment: ignored, but counted in ``comments``.
    * ``name:value`` sets a field (one space after the colon is dropped); a line without a
      colon is a field with an empty value. ``data`` appends the value and ``\\n`` to the data
      buffer, ``event`` sets the type, ``id`` sets the last event ID (unless the value holds a
      NUL), ``retry`` sets ``retry`` when the value is ASCII digits only (at most 18 of them);
      other fields are ignored.
    * A blank line dispatches: ``last_event_id`` takes the ID buffer; then, when the data
      buffer is not empty, one trailing ``\\n`` is cut and an ``SSEEvent`` emitted. The data
      and type buffers are emptied either way.
    * Text is UTF-8 decoded with ``errors="replace"``. Lines are cut on the bytes and decoded
      one event at a time; CR and LF never occur inside a UTF-8 sequence, so this equals the
      spec's decode-then-split.

    Limits: a line longer than ``max_size`` bytes (field name and colon included, terminator
    not), or an event whose data passes ``max_size`` bytes, makes the whole event block
    oversized: it is dropped with everything up to the next blank line, and ``feed`` raises
    ``FrameError`` at the end of that call, ``.offset`` being where the block started (its
    first line) and ``.events`` the good events of the call. Lines inside a dropped block are
    ignored, comments and ``id`` fields included.
    """

    __slots__ = (
        "_max_size",
        "_line",
        "_line_start",
        "_offset",
        "_bom_done",
        "_after_cr",
        "_discard",
        "_discard_line",
        "_data",
        "_event_type",
        "_id_buffer",
        "_block_retry",
        "_block_start",
        "_error",
        "_last_event_id",
        "_retry",
        "_comments",
    )

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._max_size: int = _check_limit("max_size", max_size, 1)
        self._line = bytearray()  # the unfinished line, <= max_size bytes
        self._data = bytearray()  # the data buffer, raw UTF-8
        self.reset()

    def reset(self) -> None:
        """Start over as a new parser: buffers, BOM check, last event ID, retry and counts."""
        self._line.clear()
        self._line_start = 0  # stream offset of the first byte of _line
        self._offset = 0
        self._bom_done = False
        self._after_cr = False  # the last byte seen was a CR line end: skip one LF next
        self._discard = False  # dropping an oversized event block up to the next blank line
        self._discard_line = False  # also dropping the rest of an oversized line
        self._data.clear()
        self._event_type = ""
        self._id_buffer: str | None = None
        self._block_retry: int | None = None
        self._block_start = -1  # stream offset of the block's first line, -1 before it
        self._error: tuple[str, int] | None = None  # first (message, offset) of this feed()
        self._last_event_id: str | None = None
        self._retry: int | None = None
        self._comments = 0

    @property
    def max_size(self) -> int:
        """The largest line, and the largest event data, accepted in bytes."""
        return self._max_size

    @property
    def offset(self) -> int:
        """Bytes fed since creation (or the last ``reset()``)."""
        return self._offset

    @property
    def pending(self) -> int:
        """Bytes held: the unfinished line plus the data buffer of the unfinished event."""
        return len(self._line) + len(self._data)

    @property
    def last_event_id(self) -> str | None:
        """The spec's "last event ID string", set at each dispatch (blank line), to send as
        ``Last-Event-ID`` when reconnecting; None until an ``id`` field was dispatched."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) from the last valid ``retry`` field, else None."""
        return self._retry

    @property
    def comments(self) -> int:
        """Comment lines seen (servers send them as keep-alives)."""
        return self._comments

    def feed(self, data: Buffer) -> list[SSEEvent]:
        """Add a chunk; return the events it dispatched (a new list, possibly empty).

        Raises ``FrameError`` (with ``.events``) after processing the whole chunk when an
        oversized line or event was met in it.
        """
        if type(data) is not bytes:
            data = _as_bytes(data, "feed()")
        n = len(data)
        base = self._offset
        self._offset = base + n
        events: list[SSEEvent] = []
        self._error = None
        line = self._line
        pos = 0
        if not self._bom_done:
            head = bytes(line) + data[:3]
            if len(head) < 3 and _BOM.startswith(head):
                # Still possibly a BOM split across chunks: hold the bytes as a line start.
                line += data
                return events
            self._bom_done = True
            if head.startswith(_BOM):
                pos = 3 - len(line)
                line.clear()
        if self._after_cr and pos < n:
            self._after_cr = False
            if data[pos] == _LF:
                pos += 1

        max_size = self._max_size
        end = pos
        for m in _SSE_EOL.finditer(data, pos):
            end = m.end()
            if self._discard_line:
                self._discard_line = False
            elif line:
                start = self._line_start
                if len(line) + m.start() - pos > max_size:
                    self._oversized_line(start)
                else:
                    line += data[pos : m.start()]
                    self._process(bytes(line), start, events)
                line.clear()
            elif m.start() - pos > max_size:
                self._oversized_line(base + pos)
            else:
                self._process(data[pos : m.start()], base + pos, events)
            pos = end
        if end == n and n and data[n - 1] == _CR:
            # The LF of a CRLF may be the first byte of the next chunk.
            self._after_cr = True

        if pos < n and not self._discard_line:
            if len(line) + n - pos > max_size:
                self._oversized_line(self._line_start if line else base + pos)
                self._discard_line = True
                line.clear()
            else:
                if not line:
                    self._line_start = base + pos
                line += data[pos:]
        error, self._error = self._error, None
        if error is not None:
            raise _sse_error(error[0], error[1], events)
        return events

    def _oversized_line(self, line_start: int) -> None:
        if not self._discard:
            start = self._block_start if self._block_start >= 0 else line_start
            m = self._max_size
            self._fail(
                f"SSE line of more than {m} bytes (limit {m}) - in the event at byte {start}; "
                "discarding until the next blank line",
                start,
            )

    def _fail(self, message: str, offset: int) -> None:
        if self._error is None:
            self._error = (message, offset)
        self._discard = True
        self._data.clear()

    def _process(self, line: bytes, start: int, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if self._discard:
            return
        if self._block_start < 0:
            self._block_start = start
        if line[0] == 0x3A:  # ":"
            self._comments += 1
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if name == b"data":
            # The event's data would be the buffer plus this value (its "\n" being the one
            # cut at dispatch if no other data line follows).
            if len(self._data) + len(value) > self._max_size:
                m = self._max_size
                self._fail(
                    f"SSE event data of more than {m} bytes (limit {m}) - at byte "
                    f"{self._block_start}; discarding until the next blank line",
                    self._block_start,
                )
                return
            self._data += value
            self._data.append(_LF)
        elif name == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif name == b"id":
            # A NUL in the id is refused by the spec (it could truncate the Last-Event-ID
            # header); the field is then ignored, not an error.
            if b"\0" not in value:
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value and len(value) <= _RETRY_MAX_DIGITS and value.isdigit():
                self._retry = self._block_retry = int(value)

    def _dispatch(self, events: list[SSEEvent]) -> None:
        self._last_event_id = self._id_buffer
        if self._data and not self._discard:
            data = self._data[:-1].decode("utf-8", "replace")
            events.append(SSEEvent(data, self._event_type or "message", self._id_buffer, self._block_retry))
        self._data.clear()
        self._event_type = ""
        self._block_retry = None
        self._block_start = -1
        self._discard = False

    def __repr__(self) -> str:
        return f"<SSEParser max_size={self._max_size} offset={self._offset} pending={self.pending}>"


def _check_field(what: str, value: object, forbidden: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"encode_sse() {what} must be str or None, got {type(value).__name__}")
    for ch in forbidden:
        if ch in value:
            names = "CR, LF or NUL" if "\0" in forbidden else "CR or LF"
            raise ValueError(f"SSE {what} must not contain {names}, got {value!r}")
    return value


def encode_sse(
    data: str | Buffer,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One Server-Sent Event as UTF-8 bytes, ready for the wire.

    Fields in this order: ``id`` (if given), ``event`` (if given), ``retry`` (if given), then
    one ``data:`` line per line of ``data`` (split on CRLF, CR or LF; empty data gives one
    empty ``data:`` line), then the blank line that dispatches the event. ``data`` as bytes is
    sent as is and should be UTF-8; as str it is encoded (lone surrogates raise
    ``UnicodeEncodeError``). ``id`` and ``event`` holding CR or LF (or NUL, for ``id``) raise
    ``ValueError``: they would end the field early or be ignored by the receiver.
    """
    if isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        try:
            raw = _as_bytes(data, "encode_sse()")
        except TypeError:
            raise TypeError(
                f"encode_sse() data must be str, bytes, bytearray or memoryview, got {type(data).__name__}"
            ) from None
    head = b""
    if id is not None:
        head += b"id: " + _check_field("id", id, "\r\n\0").encode("utf-8") + b"\n"
    if event is not None:
        head += b"event: " + _check_field("event", event, "\r\n").encode("utf-8") + b"\n"
    if retry is not None:
        if type(retry) is bool or not isinstance(retry, int):
            raise TypeError(f"encode_sse() retry must be int or None, got {type(retry).__name__}")
        if retry < 0:
            raise ValueError(f"SSE retry must be >= 0, got {retry}")
        head += b"retry: %d\n" % retry
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return head + b"data: " + raw.replace(b"\n", b"\ndata: ") + b"\n\n"


def encode_sse_comment(text: str = "") -> bytes:
    """A comment line and a blank line, ``: text\\n\\n``: a keep-alive no client dispatches.

    ``text`` holding CR or LF raises ``ValueError`` (the rest would become a field).
    """
    return b": " + _check_field("comment", text, "\r\n").encode("utf-8") + b"\n\n"
