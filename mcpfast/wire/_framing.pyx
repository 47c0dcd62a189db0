"""Cutting frames out of byte streams, and encoding SSE events (compiled twin).

Twin of ``mcpfast/wire/_framing_py.py``, which is the specification (docstrings, edge cases);
this module has the same names, signatures, results, exception classes and texts. ``SSEEvent``
is a different class here, so events compare across the twins through ``as_tuple()``.

What makes it faster: each ``feed`` is one crossing into C that takes the chunk's ``const
char*`` (bytes directly, anything else through one ``PyBUF_SIMPLE`` view) and scans it with
``memchr``; the only Python objects made per frame are the frame's ``bytes`` (or the event's
``str`` and ``SSEEvent``) and the list slot holding it. Unfinished lines and SSE data live in
``PyMem`` buffers that grow geometrically and are given back after an outsized burst. Every
``feed`` returns a new list, empty ones included, since callers may keep or extend the batch.

Thread safety: none; one splitter per connection, fed from one thread (see the twin).
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.number cimport PyNumber_Index
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memcpy

import sys

from ..errors import FrameError

__all__ = [
    "LineSplitter",
    "SSEEvent",
    "SSEParser",
    "encode_sse",
    "encode_sse_comment",
    "DEFAULT_MAX_SIZE",
]

DEFAULT_MAX_SIZE = 16 * 1024 * 1024
# Same bound as the twin: "limit + 1" and "buffered + chunk" cannot overflow Py_ssize_t.
cdef object _MAX_LIMIT = sys.maxsize // 4
cdef Py_ssize_t _SHRINK_ABOVE = 1 << 20
cdef Py_ssize_t _RETRY_MAX_DIGITS = 18

cdef enum:
    _TAB = 9
    _LF = 10
    _CR = 13
    _SP = 32
    _COLON = 58

cdef str _MESSAGE = "message"
cdef str _EMPTY = ""
cdef const char* _BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------------------------
# Growable C buffer. Owned by exactly one object; freed in its __dealloc__. The pointers into
# it are only valid until the next append (which may realloc), so nothing keeps them across.

cdef struct Buf:
    char* data        # PyMem block, NULL until the first append
    Py_ssize_t len    # bytes in use
    Py_ssize_t cap    # bytes allocated


cdef int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap
    cdef char* p
    if need <= b.cap:
        return 0
    cap = b.cap if b.cap >= 256 else 256
    while cap < need:
        if cap > PY_SSIZE_T_MAX // 2:
            cap = need
            break
        cap *= 2
    p = <char*>PyMem_Realloc(b.data, <size_t>cap)
    if p == NULL:
        raise MemoryError()
    b.data = p
    b.cap = cap
    return 0


cdef inline int buf_append(Buf* b, const char* p, Py_ssize_t n) except -1:
    if n <= 0:
        return 0  # also keeps memcpy away from a NULL b.data
    if b.len + n > b.cap:
        buf_reserve(b, n)
    memcpy(b.data + b.len, p, <size_t>n)
    b.len += n
    return 0


cdef void buf_release(Buf* b) noexcept:
    # Called when empty: give the memory back after a burst grew the buffer past 1 MiB.
    if b.cap <= _SHRINK_ABOVE:
        return
    PyMem_Free(b.data)
    b.data = NULL
    b.cap = 0


cdef void buf_free(Buf* b) noexcept:
    PyMem_Free(b.data)
    b.data = NULL
    b.len = 0
    b.cap = 0


# --------------------------------------------------------------------------------------------
# Shared helpers; texts identical to the twin's.

cdef int _get_buffer(object data, Py_buffer* view, str what) except -1:
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(
            f"{what} expects bytes, bytearray or memoryview, got {type(data).__name__}"
        ) from None
    except BufferError:
        raise BufferError(f"{what} needs a C-contiguous buffer") from None
    return 0


cdef bytes _as_bytes(object data, str what):
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        return <bytes>data
    _get_buffer(data, &view, what)
    try:
        return PyBytes_FromStringAndSize(<const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef Py_ssize_t _check_limit(str what, object value, Py_ssize_t low) except -1:
    value = PyNumber_Index(value)
    if not low <= value <= _MAX_LIMIT:
        raise ValueError(f"{what} must be between {low} and {_MAX_LIMIT}, got {value}")
    return <Py_ssize_t>value


cdef inline bint _is_blank(const char* s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] != _SP and s[i] != _TAB and s[i] != _CR:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Newline-delimited frames


cdef object _line_error(Py_ssize_t max_size, long long offset, list frames):
    err = FrameError(
        f"Frame of more than {max_size} bytes (limit {max_size}) - at byte {offset}; "
        "discarding until the next newline",
        offset,
    )
    err.frames = frames
    return err


@cython.final
cdef class LineSplitter:
    """Incremental splitter of a newline-delimited byte stream (see ``_framing_py.LineSplitter``)."""

    cdef Py_ssize_t _max_size   # largest frame accepted, line terminator not counted
    cdef Buf _buf               # the unfinished frame, always <= max_size + 1 bytes
    cdef long long _start       # stream offset of _buf's first byte
    cdef long long _offset      # bytes fed since creation or reset()
    cdef long long _bad         # first oversized frame of the running feed(), -1 if none
    cdef bint _discarding       # dropping an oversized frame's tail until the next "\n"

    def __init__(self, max_size=DEFAULT_MAX_SIZE):
        self._max_size = _check_limit("max_size", max_size, 1)
        self.reset()

    def __dealloc__(self):
        buf_free(&self._buf)

    @property
    def max_size(self):
        """The largest frame accepted, in bytes, line terminator not counted."""
        return self._max_size

    @property
    def offset(self):
        """Bytes fed since creation (or the last ``reset()``)."""
        return self._offset

    @property
    def pending(self):
        """Bytes of an unfinished frame held until its newline arrives."""
        return self._buf.len

    def reset(self):
        """Forget any unfinished frame and start over as a new splitter (offset 0)."""
        self._buf.len = 0
        buf_release(&self._buf)
        self._start = 0
        self._offset = 0
        self._bad = -1
        self._discarding = False

    def feed(self, data):
        """Add a chunk; return the frames it completed (a new list, possibly empty)."""
        cdef Py_buffer view
        cdef list frames
        if PyBytes_CheckExact(data):
            frames = self._feed(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        else:
            _get_buffer(data, &view, "feed()")
            try:
                frames = self._feed(<const char*>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        if self._bad >= 0:
            raise _line_error(self._max_size, self._bad, frames)
        return frames

    cdef inline bint _too_long(self, Py_ssize_t size, char last) noexcept:
        # An unfinished frame may still end in "\r\n": one byte over is fine if it is a CR.
        cdef Py_ssize_t excess = size - self._max_size
        return excess > 1 or (excess == 1 and last != _CR)

    cdef inline int _emit(self, list frames, const char* s, Py_ssize_t n, long long start) except -1:
        if n > 0 and s[n - 1] == _CR:
            n -= 1
        if n > self._max_size:
            if self._bad < 0:
                self._bad = start
        elif n > 0 and (s[0] != _SP and s[0] != _TAB and s[0] != _CR or not _is_blank(s, n)):
            frames.append(PyBytes_FromStringAndSize(s, n))
        return 0

    cdef list _feed(self, const char* p, Py_ssize_t n):
        # `p` stays valid for the whole call: the caller holds the bytes object or the view.
        cdef list frames = []
        cdef long long base = self._offset
        cdef Py_ssize_t max_size = self._max_size
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t size
        cdef const char* end = p + n
        cdef const char* q
        cdef const char* nl
        self._offset = base + n
        self._bad = -1
        if n == 0:
            return frames
        if self._discarding:
            nl = <const char*>memchr(p, _LF, <size_t>n)
            if nl == NULL:
                return frames
            pos = nl - p + 1
            self._discarding = False
        if self._buf.len:
            if pos == n:
                return frames
            nl = <const char*>memchr(p + pos, _LF, <size_t>(n - pos))
            if nl == NULL:
                if self._too_long(self._buf.len + n - pos, p[n - 1]):
                    self._buf.len = 0
                    buf_release(&self._buf)
                    self._discarding = True
                    self._bad = self._start
                else:
                    buf_append(&self._buf, p + pos, n - pos)
                return frames
            size = self._buf.len + (nl - p - pos)
            if size > max_size + 1:  # too long even if it ends with "\r"
                self._bad = self._start
            else:
                buf_append(&self._buf, p + pos, nl - p - pos)
                self._emit(frames, self._buf.data, self._buf.len, self._start)
            self._buf.len = 0
            buf_release(&self._buf)
            pos = nl - p + 1

        q = p + pos
        while q < end:
            nl = <const char*>memchr(q, _LF, <size_t>(end - q))
            if nl == NULL:
                break
            self._emit(frames, q, nl - q, base + (q - p))
            q = nl + 1
        pos = q - p

        if pos < n:
            if self._too_long(n - pos, p[n - 1]):
                if self._bad < 0:
                    self._bad = base + pos
                self._discarding = True
            else:
                buf_append(&self._buf, p + pos, n - pos)
                self._start = base + pos
        return frames

    def __repr__(self):
        return f"<LineSplitter max_size={self._max_size} offset={self._offset} pending={self._buf.len}>"


# --------------------------------------------------------------------------------------------
# Server-Sent Events


@cython.final
@cython.freelist(64)
cdef class SSEEvent:
    """One dispatched Server-Sent Event (see ``_framing_py.SSEEvent``)."""

    cdef readonly object data    # str: the data lines joined by "\n"
    cdef readonly object event   # str: the type, "message" by default
    cdef readonly object id      # str or None: the last event ID at dispatch
    cdef readonly object retry   # int or None: the retry set by this event's block

    def __init__(self, data, event="message", id=None, retry=None):
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    @staticmethod
    cdef SSEEvent _new(object data, object event, object id, object retry):
        # The parser's constructor: skips __init__'s argument parsing.
        cdef SSEEvent ev = SSEEvent.__new__(SSEEvent)
        ev.data = data
        ev.event = event
        ev.id = id
        ev.retry = retry
        return ev

    def as_tuple(self):
        """``(event, data, id, retry)``: comparable across the twins, whose classes differ."""
        return (self.event, self.data, self.id, self.retry)

    def __eq__(self, other):
        if type(other) is not SSEEvent:
            return NotImplemented
        return self.as_tuple() == (<SSEEvent>other).as_tuple()

    def __ne__(self, other):
        if type(other) is not SSEEvent:
            return NotImplemented
        return self.as_tuple() != (<SSEEvent>other).as_tuple()

    def __hash__(self):
        return hash(self.as_tuple())

    def __repr__(self):
        return f"SSEEvent(data={self.data!r}, event={self.event!r}, id={self.id!r}, retry={self.retry!r})"


cdef inline object _decode(const char* s, Py_ssize_t n):
    # "message" is by far the most common event type; reuse one str for it.
    if n == 7 and memcmp(s, b"message", 7) == 0:
        return _MESSAGE
    return PyUnicode_DecodeUTF8(s, n, "replace")


@cython.final
cdef class SSEParser:
    """Incremental Server-Sent Events parser (see ``_framing_py.SSEParser``)."""

    cdef Py_ssize_t _max_size   # largest line and largest event data, in bytes
    cdef Buf _line              # the unfinished line, <= max_size bytes
    cdef Buf _data              # the data buffer, raw UTF-8 with a "\n" after each value
    cdef long long _line_start  # stream offset of _line's first byte
    cdef long long _offset      # bytes fed since creation or reset()
    cdef long long _block_start # stream offset of the block's first line, -1 before it
    cdef long long _err_offset  # offset of the first error of the running feed()
    cdef object _err_msg        # its message, None if none
    cdef object _event_type     # str; "" while the block has no event field
    cdef object _id_buffer      # str or None: the spec's last event ID buffer
    cdef object _block_retry    # int or None: retry set by this block
    cdef bint _bom_done         # the first 3 bytes were checked for a BOM
    cdef bint _after_cr         # the last byte seen was a CR line end: skip one LF next
    cdef bint _discard          # dropping an oversized block up to the next blank line
    cdef bint _discard_line     # also dropping the rest of an oversized line
    cdef object _last_event_id  # str or None: the spec's last event ID string
    cdef object _retry          # int or None: the reconnection time in ms
    cdef Py_ssize_t _comments   # comment lines seen

    def __init__(self, max_size=DEFAULT_MAX_SIZE):
        self._max_size = _check_limit("max_size", max_size, 1)
        self.reset()

    def __dealloc__(self):
        buf_free(&self._line)
        buf_free(&self._data)

    def reset(self):
        """Start over as a new parser: buffers, BOM check, last event ID, retry and counts."""
        self._line.len = 0
        buf_release(&self._line)
        self._data.len = 0
        buf_release(&self._data)
        self._line_start = 0
        self._offset = 0
        self._bom_done = False
        self._after_cr = False
        self._discard = False
        self._discard_line = False
        self._event_type = _EMPTY
        self._id_buffer = None
        self._block_retry = None
        self._block_start = -1
        self._err_msg = None
        self._err_offset = -1
        self._last_event_id = None
        self._retry = None
        self._comments = 0

    @property
    def max_size(self):
        """The largest line, and the largest event data, accepted in bytes."""
        return self._max_size

    @property
    def offset(self):
        """Bytes fed since creation (or the last ``reset()``)."""
        return self._offset

    @property
    def pending(self):
        """Bytes held: the unfinished line plus the data buffer of the unfinished event."""
        return self._line.len + self._data.len

    @property
    def last_event_id(self):
        """The last event ID string (set at each dispatch); None until an id was dispatched."""
        return self._last_event_id

    @property
    def retry(self):
        """The reconnection time (ms) from the last valid ``retry`` field, else None."""
        return self._retry

    @property
    def comments(self):
        """Comment lines seen (servers send them as keep-alives)."""
        return self._comments

    def feed(self, data):
        """Add a chunk; return the events it dispatched (a new list, possibly empty)."""
        cdef Py_buffer view
        cdef list events
        if PyBytes_CheckExact(data):
            events = self._feed(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        else:
            _get_buffer(data, &view, "feed()")
            try:
                events = self._feed(<const char*>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        if self._err_msg is not None:
            msg = self._err_msg
            self._err_msg = None
            err = FrameError(msg, self._err_offset)
            err.events = events
            raise err
        return events

    cdef list _feed(self, const char* p, Py_ssize_t n):
        cdef list events = []
        cdef long long base = self._offset
        cdef Py_ssize_t max_size = self._max_size
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t lf = -1     # next LF at or after pos, n when none is left
        cdef Py_ssize_t cr = -1     # next CR at or after pos, n when none is left
        cdef Py_ssize_t eol, nxt, held, hlen
        cdef const char* hit
        cdef char head[6]
        self._offset = base + n
        self._err_msg = None

        if not self._bom_done:
            # The BOM may be split across chunks: hold up to 2 bytes that could begin it.
            held = self._line.len
            if held:
                memcpy(head, self._line.data, <size_t>held)
            hlen = held + (n if n < 3 else 3)
            if n:
                memcpy(head + held, p, <size_t>(hlen - held))
            if hlen < 3 and memcmp(head, _BOM, <size_t>hlen) == 0:
                buf_append(&self._line, p, n)
                return events
            self._bom_done = True
            if hlen >= 3 and memcmp(head, _BOM, 3) == 0:
                pos = 3 - held
                self._line.len = 0
        if self._after_cr and pos < n:
            self._after_cr = False
            if p[pos] == _LF:
                pos += 1

        while pos < n:
            # Each memchr scans forward from where the previous hit was passed, so the
            # chunk is read at most once per byte value whatever the mix of terminators.
            if lf < pos:
                hit = <const char*>memchr(p + pos, _LF, <size_t>(n - pos))
                lf = n if hit == NULL else hit - p
            if cr < pos:
                hit = <const char*>memchr(p + pos, _CR, <size_t>(n - pos))
                cr = n if hit == NULL else hit - p
            eol = lf if lf < cr else cr
            if eol >= n:
                break
            nxt = eol + 1
            if eol == cr:
                if nxt < n:
                    if p[nxt] == _LF:
                        nxt += 1
                else:
                    # The LF of a CRLF may be the first byte of the next chunk.
                    self._after_cr = True
            if self._discard_line:
                self._discard_line = False
            elif self._line.len:
                if self._line.len + (eol - pos) > max_size:
                    self._oversized_line(self._line_start)
                else:
                    buf_append(&self._line, p + pos, eol - pos)
                    self._process(self._line.data, self._line.len, self._line_start, events)
                self._line.len = 0
                buf_release(&self._line)
            elif eol - pos > max_size:
                self._oversized_line(base + pos)
            else:
                self._process(p + pos, eol - pos, base + pos, events)
            pos = nxt

        if pos < n and not self._discard_line:
            if self._line.len + n - pos > max_size:
                self._oversized_line(self._line_start if self._line.len else base + pos)
                self._discard_line = True
                self._line.len = 0
                buf_release(&self._line)
            else:
                if self._line.len == 0:
                    self._line_start = base + pos
                buf_append(&self._line, p + pos, n - pos)
        return events

    cdef int _oversized_line(self, long long line_start) except -1:
        cdef long long start
        if not self._discard:
            start = self._block_start if self._block_start >= 0 else line_start
            m = self._max_size
            self._fail(
                f"SSE line of more than {m} bytes (limit {m}) - in the event at byte {start}; "
                "discarding until the next blank line",
                start,
            )
        return 0

    cdef int _fail(self, str message, long long offset) except -1:
        if self._err_msg is None:
            self._err_msg = message
            self._err_offset = offset
        self._discard = True
        self._data.len = 0
        buf_release(&self._data)
        return 0

    cdef int _process(self, const char* s, Py_ssize_t n, long long start, list events) except -1:
        # `s` points into the chunk or into _line; neither moves during this call.
        cdef const char* colon
        cdef const char* v
        cdef Py_ssize_t name_len, vlen, i
        cdef long long value
        if n == 0:
            return self._dispatch(events)
        if self._discard:
            return 0
        if self._block_start < 0:
            self._block_start = start
        if s[0] == _COLON:
            self._comments += 1
            return 0
        colon = <const char*>memchr(s, _COLON, <size_t>n)
        if colon == NULL:
            name_len = n
            v = s + n
            vlen = 0
        else:
            name_len = colon - s
            v = colon + 1
            vlen = n - name_len - 1
            if vlen and v[0] == _SP:
                v += 1
                vlen -= 1
        if name_len == 4 and memcmp(s, b"data", 4) == 0:
            # The event's data would be the buffer plus this value (its "\n" being the one
            # cut at dispatch if no other data line follows).
            if self._data.len + vlen > self._max_size:
                m = self._max_size
                self._fail(
                    f"SSE event data of more than {m} bytes (limit {m}) - at byte "
                    f"{self._block_start}; discarding until the next blank line",
                    self._block_start,
                )
                return 0
            buf_reserve(&self._data, vlen + 1)
            if vlen:
                memcpy(self._data.data + self._data.len, v, <size_t>vlen)
            self._data.data[self._data.len + vlen] = _LF
            self._data.len += vlen + 1
        elif name_len == 5 and memcmp(s, b"event", 5) == 0:
            self._event_type = _decode(v, vlen)
        elif name_len == 2 and memcmp(s, b"id", 2) == 0:
            # A NUL in the id is refused by the spec; the field is ignored, not an error.
            if vlen == 0 or memchr(v, 0, <size_t>vlen) == NULL:
                self._id_buffer = _decode(v, vlen)
        elif name_len == 5 and memcmp(s, b"retry", 5) == 0:
            if 0 < vlen <= _RETRY_MAX_DIGITS:
                value = 0
                for i in range(vlen):
                    if v[i] < 48 or v[i] > 57:  # not an ASCII digit: the field is ignored
                        return 0
                    value = value * 10 + (v[i] - 48)
                self._retry = self._block_retry = value
        return 0

    cdef int _dispatch(self, list events) except -1:
        self._last_event_id = self._id_buffer
        if self._data.len and not self._discard:
            data = PyUnicode_DecodeUTF8(self._data.data, self._data.len - 1, "replace")
            events.append(
                SSEEvent._new(data, self._event_type or _MESSAGE, self._id_buffer, self._block_retry)
            )
        self._data.len = 0
        buf_release(&self._data)
        self._event_type = _EMPTY
        self._block_retry = None
        self._block_start = -1
        self._discard = False
        return 0

    def __repr__(self):
        return f"<SSEParser max_size={self._max_size} offset={self._offset} pending={self.pending}>"


cdef str _check_field(str what, object value, str forbidden):
    if not isinstance(value, str):
        raise TypeError(f"encode_sse() {what} must be str or None, got {type(value).__name__}")
    for ch in forbidden:
        if ch in value:
            names = "CR, LF or NUL" if "\0" in forbidden else "CR or LF"
            raise ValueError(f"SSE {what} must not contain {names}, got {value!r}")
    return value


cdef inline Py_ssize_t _next_eol(const char* s, Py_ssize_t n, Py_ssize_t pos,
                                 Py_ssize_t* lf, Py_ssize_t* cr) noexcept:
    # The next CR or LF at or after pos (n if none); lf/cr cache the hits as in _feed.
    cdef const char* hit
    if lf[0] < pos:
        hit = <const char*>memchr(s + pos, _LF, <size_t>(n - pos))
        lf[0] = n if hit == NULL else hit - s
    if cr[0] < pos:
        hit = <const char*>memchr(s + pos, _CR, <size_t>(n - pos))
        cr[0] = n if hit == NULL else hit - s
    return lf[0] if lf[0] < cr[0] else cr[0]


def encode_sse(data, *, event=None, id=None, retry=None):
    """One Server-Sent Event as UTF-8 bytes (see ``_framing_py.encode_sse``)."""
    cdef bytes raw
    cdef bytes head = b""
    cdef bytes out
    cdef const char* s
    cdef char* w
    cdef Py_ssize_t n, pos, eol, nxt, lines, seg_bytes, hlen
    cdef Py_ssize_t lf = -1, cr = -1
    if isinstance(data, str):
        raw = (<str>data).encode("utf-8")
    else:
        try:
            raw = _as_bytes(data, "encode_sse()")
        except TypeError:
            raise TypeError(
                f"encode_sse() data must be str, bytes, bytearray or memoryview, got {type(data).__name__}"
            ) from None
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

    # Pass 1 sizes the output (one "data: " line per CRLF/CR/LF-separated segment); pass 2
    # writes straight into the result bytes, so the payload is copied once.
    s = PyBytes_AS_STRING(raw)
    n = PyBytes_GET_SIZE(raw)
    lines = 1
    seg_bytes = 0
    pos = 0
    while pos < n:
        eol = _next_eol(s, n, pos, &lf, &cr)
        seg_bytes += eol - pos
        if eol >= n:
            break
        nxt = eol + 2 if s[eol] == _CR and eol + 1 < n and s[eol + 1] == _LF else eol + 1
        lines += 1
        pos = nxt
    hlen = PyBytes_GET_SIZE(head)
    out = PyBytes_FromStringAndSize(NULL, hlen + lines * 7 + seg_bytes + 1)
    w = PyBytes_AS_STRING(out)
    memcpy(w, PyBytes_AS_STRING(head), <size_t>hlen)
    w += hlen
    lf = -1
    cr = -1
    pos = 0
    while True:
        memcpy(w, b"data: ", 6)
        w += 6
        eol = _next_eol(s, n, pos, &lf, &cr) if pos < n else n
        memcpy(w, s + pos, <size_t>(eol - pos))
        w += eol - pos
        w[0] = _LF
        w += 1
        if eol >= n:
            break
        pos = eol + 2 if s[eol] == _CR and eol + 1 < n and s[eol + 1] == _LF else eol + 1
    w[0] = _LF
    return out


def encode_sse_comment(text=""):
    """A comment line and a blank line, ``: text\\n\\n`` (see ``_framing_py.encode_sse_comment``)."""
    return b": " + _check_field("comment", text, "\r\n").encode("utf-8") + b"\n\n"
