"""Framing (NDJSON splitter, SSE parser and encoder, write buffer), run against both twins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpfast.errors import FrameError

REQ = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


def feed_all(splitter: Any, chunks: list[bytes]) -> tuple[list[Any], list[FrameError]]:
    """Feed every chunk; collect the results, taking them from FrameError when one is raised."""
    out: list[Any] = []
    errors: list[FrameError] = []
    for chunk in chunks:
        try:
            out += splitter.feed(chunk)
        except FrameError as exc:
            errors.append(exc)
            out += getattr(exc, "frames", None) or getattr(exc, "events", None) or []
    return out, errors


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted(set(points))
    return [data[i:j] for i, j in zip([0, *points], [*points, len(data)])]


def events(parser: Any, data: bytes) -> list[tuple[str, str, str | None, int | None]]:
    return [e.as_tuple() for e in parser.feed(data)]


# --------------------------------------------------------------------------------------------
# LineSplitter


def test_lines_basic(framing: Any) -> None:
    s = framing.LineSplitter()
    assert s.feed(REQ + b"\n" + REQ + b"\n") == [REQ, REQ]
    assert s.feed(b"") == []
    assert s.offset == 2 * len(REQ) + 2 and s.pending == 0


def test_lines_partial_and_pending(framing: Any) -> None:
    s = framing.LineSplitter()
    assert s.feed(REQ[:10]) == []
    assert s.pending == 10
    assert s.feed(REQ[10:]) == []
    assert s.pending == len(REQ)
    assert s.feed(b"\n{}") == [REQ]
    assert s.pending == 2
    assert s.offset == len(REQ) + 3


@pytest.mark.parametrize("i", range(len(REQ) * 2 + 4))
def test_lines_split_at_every_byte(framing: Any, i: int) -> None:
    stream = REQ + b"\r\n\n" + REQ + b"\n"
    s = framing.LineSplitter()
    assert s.feed(stream[:i]) + s.feed(stream[i:]) == [REQ, REQ]
    assert s.pending == 0 and s.offset == len(stream)


def test_lines_byte_by_byte(framing: Any) -> None:
    stream = b"a\r\nbb\n\n  \ncc\r\n"
    s = framing.LineSplitter()
    assert feed_all(s, [stream[i : i + 1] for i in range(len(stream))]) == ([b"a", b"bb", b"cc"], [])


def test_lines_crlf_only_one_cr_cut(framing: Any) -> None:
    s = framing.LineSplitter()
    assert s.feed(b"a\r\nb\r\r\nc\rd\n\r\n") == [b"a", b"b\r", b"c\rd"]


def test_lines_blank_skipped_but_indented_kept(framing: Any) -> None:
    s = framing.LineSplitter()
    assert s.feed(b"\n\r\n \t \n\r\r\n \t\r\n  {}\n\t[1] \n") == [b"  {}", b"\t[1] "]


def test_lines_new_list_each_call(framing: Any) -> None:
    s = framing.LineSplitter()
    a = s.feed(b"")
    a.append(b"mutated")
    assert s.feed(b"") == []
    assert s.feed(b"x") == []


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_lines_bytes_like(framing: Any, kind: Any) -> None:
    s = framing.LineSplitter()
    assert s.feed(kind(b"ab")) == []
    assert s.feed(kind(b"c\nd\n")) == [b"abc", b"d"]
    assert s.feed(memoryview(b"xx\ny\n")[2:]) == [b"y"]


def test_lines_caller_may_reuse_its_buffer(framing: Any) -> None:
    s = framing.LineSplitter()
    buf = bytearray(b"abc")
    s.feed(buf)
    buf[:] = b"XYZ\n"
    assert s.feed(buf) == [b"abcXYZ"]


def test_lines_bad_input(framing: Any) -> None:
    s = framing.LineSplitter()
    with pytest.raises(TypeError, match=r"^feed\(\) expects bytes, bytearray or memoryview, got str$"):
        s.feed("text")
    with pytest.raises(BufferError, match=r"^feed\(\) needs a C-contiguous buffer$"):
        s.feed(memoryview(b"a\nb\n")[::2])
    assert s.offset == 0


@pytest.mark.parametrize("bad", [0, -1, 2**80])
def test_lines_max_size_checked(framing: Any, bad: int) -> None:
    with pytest.raises(ValueError, match=r"^max_size must be between 1 and \d+, got -?\d+$"):
        framing.LineSplitter(bad)
    with pytest.raises(TypeError):
        framing.LineSplitter(1.5)
    assert framing.LineSplitter(7).max_size == 7
    assert framing.LineSplitter().max_size == 16 * 1024 * 1024 == framing.DEFAULT_MAX_SIZE


def test_lines_at_the_limit(framing: Any) -> None:
    s = framing.LineSplitter(4)
    assert s.feed(b"abcd\nabcd\r\n") == [b"abcd", b"abcd"]
    # 5 bytes pending may still be "abcd\r" + "\n": not oversized yet
    assert s.feed(b"abcd\r") == []
    assert s.pending == 5
    assert s.feed(b"\n") == [b"abcd"]


def test_lines_oversized_in_one_chunk(framing: Any) -> None:
    s = framing.LineSplitter(4)
    with pytest.raises(FrameError) as info:
        s.feed(b"ab\nabcde\ncd\r\nxxxxxx\nef\n")
    exc = info.value
    assert str(exc) == "Frame of more than 4 bytes (limit 4) - at byte 3; discarding until the next newline"
    assert exc.offset == 3
    assert exc.frames == [b"ab", b"cd", b"ef"]  # type: ignore[attr-defined]
    assert isinstance(exc, ValueError)
    assert s.pending == 0 and s.offset == 23
    assert s.feed(b"gh\n") == [b"gh"]


def test_lines_oversized_crlf_counts_without_terminator(framing: Any) -> None:
    s = framing.LineSplitter(4)
    with pytest.raises(FrameError) as info:
        s.feed(b"abcde\r\nab\n")
    assert info.value.offset == 0 and info.value.frames == [b"ab"]  # type: ignore[attr-defined]
    s = framing.LineSplitter(4)
    s.feed(b"abcd")
    with pytest.raises(FrameError):
        s.feed(b"e\r\n")


def test_lines_oversized_across_chunks_and_recovery(framing: Any) -> None:
    s = framing.LineSplitter(8)
    assert s.feed(b"ok\n12345") == [b"ok"]
    with pytest.raises(FrameError) as info:
        s.feed(b"6789")  # limit passed here, although the frame is unfinished
    assert info.value.offset == 3
    assert info.value.frames == []  # type: ignore[attr-defined]
    assert s.pending == 0  # nothing of the bad frame is kept
    # the rest of the bad frame is dropped silently, whatever its size
    assert s.feed(b"x" * 100) == []
    assert s.pending == 0
    assert s.feed(b"yyy\nnext\nnex") == [b"next"]
    assert s.feed(b"t\n") == [b"next"]
    assert s.offset == 3 + 9 + 100 + 12 + 2


def test_lines_oversized_tail_raises_with_frames(framing: Any) -> None:
    s = framing.LineSplitter(3)
    with pytest.raises(FrameError) as info:
        s.feed(b"a\nb\n" + b"z" * 10)
    assert info.value.offset == 4
    assert info.value.frames == [b"a", b"b"]  # type: ignore[attr-defined]
    assert s.feed(b"zz\nc\n") == [b"c"]


def test_lines_first_oversized_offset_reported(framing: Any) -> None:
    s = framing.LineSplitter(2)
    with pytest.raises(FrameError, match=r"at byte 2;") as info:
        s.feed(b"a\nxxx\nyyyy\nb\n")
    assert info.value.frames == [b"a", b"b"]  # type: ignore[attr-defined]


def test_lines_memory_stays_bounded(framing: Any) -> None:
    s = framing.LineSplitter(1000)
    seen = 0
    for _ in range(200):
        try:
            s.feed(b"q" * 333)
        except FrameError:
            seen += 1
        assert s.pending <= 1001
    assert seen == 1
    assert s.feed(b"\nfine\n") == [b"fine"]


def test_lines_reset(framing: Any) -> None:
    s = framing.LineSplitter(4)
    s.feed(b"abc")
    s.reset()
    assert (s.offset, s.pending) == (0, 0)
    assert s.feed(b"d\n") == [b"d"]
    with pytest.raises(FrameError):
        s.feed(b"xxxxxx")
    s.reset()
    assert s.feed(b"e\n") == [b"e"]
    assert "LineSplitter" in repr(s)


frame_text = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b""))


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(frame_text, max_size=12), crlf=st.booleans(), data=st.data())
def test_lines_property_any_chunking(framing: Any, frames: list[bytes], crlf: bool, data: Any) -> None:
    limit = 6
    stream = b"".join(f + (b"\r\n" if crlf else b"\n") for f in frames)
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    got, errors = feed_all(framing.LineSplitter(limit), cut(stream, points))

    def expected(f: bytes) -> bytes:
        return f[:-1] if not crlf and f.endswith(b"\r") else f

    kept = [expected(f) for f in frames]
    assert got == [f for f in kept if len(f) <= limit and f.strip(b" \t\r")]
    # every call raised at most once; an oversized frame raised exactly once somewhere
    bad_offsets, pos = [], 0
    for f in frames:
        if len(expected(f)) > limit:
            bad_offsets.append(pos)
        pos += len(f) + (2 if crlf else 1)
    assert {e.offset for e in errors} <= set(bad_offsets)
    assert bool(errors) == bool(bad_offsets)
    if bad_offsets:
        assert errors[0].offset == bad_offsets[0]


# --------------------------------------------------------------------------------------------
# SSEParser


def test_sse_basic(framing: Any) -> None:
    p = framing.SSEParser()
    (ev,) = p.feed(b"data: hello\n\n")
    assert (ev.data, ev.event, ev.id, ev.retry) == ("hello", "message", None, None)
    assert ev.as_tuple() == ("message", "hello", None, None)
    assert ev == framing.SSEEvent("hello")
    assert ev != framing.SSEEvent("hello", "other")
    assert hash(ev) == hash(framing.SSEEvent("hello"))
    assert repr(ev) == "SSEEvent(data='hello', event='message', id=None, retry=None)"


def test_sse_multiline_data_and_fields(framing: Any) -> None:
    p = framing.SSEParser()
    got = events(p, b"event: update\nid: 7\nretry: 1500\ndata: a\ndata:b\ndata:  c\ndata\n\n")
    assert got == [("update", "a\nb\n c\n", "7", 1500)]
    assert (p.last_event_id, p.retry) == ("7", 1500)
    # id persists, retry and type are per block
    assert events(p, b"data: x\n\n") == [("message", "x", "7", None)]
    assert p.retry == 1500


def test_sse_one_trailing_newline_cut(framing: Any) -> None:
    p = framing.SSEParser()
    assert events(p, b"data: a\ndata:\n\ndata:\n\ndata\ndata\n\n") == [
        ("message", "a\n", None, None),
        ("message", "", None, None),
        ("message", "\n", None, None),
    ]


def test_sse_no_data_no_event(framing: Any) -> None:
    p = framing.SSEParser()
    assert p.feed(b"event: x\nid: 3\n\n\n\n") == []
    assert p.last_event_id == "3"  # set at dispatch even without an event
    # the type was reset by the empty dispatch
    assert events(p, b"data: y\n\n") == [("message", "y", "3", None)]


def test_sse_comments(framing: Any) -> None:
    p = framing.SSEParser()
    assert events(p, b": keep-alive\n:\n\n:x\ndata: d\n: between\n\n") == [("message", "d", None, None)]
    assert p.comments == 4


def test_sse_field_parsing(framing: Any) -> None:
    p = framing.SSEParser()
    got = events(p, b"data:no space\ndata:  two\nunknown: x\ndata: a:b\nDATA: no\n event: no\n\n")
    assert got == [("message", "no space\n two\na:b", None, None)]


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_sse_line_endings(framing: Any, eol: bytes) -> None:
    stream = eol.join([b"event: e", b"data: 1", b"data: 2", b"", b"data: 3", b"", b""])
    p = framing.SSEParser()
    assert events(p, stream) == [("e", "1\n2", None, None), ("message", "3", None, None)]


def test_sse_mixed_line_endings(framing: Any) -> None:
    p = framing.SSEParser()
    assert events(p, b"data: a\r\rdata: b\n\rdata: c\r\n\n") == [
        ("message", "a", None, None),
        ("message", "b", None, None),
        ("message", "c", None, None),
    ]


def test_sse_cr_at_chunk_end_then_lf_is_one_line_end(framing: Any) -> None:
    p = framing.SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\n") == []  # the LF completes the CRLF: not a blank line
    assert p.feed(b"") == []  # an empty chunk changes nothing
    assert events(p, b"data: b\r") == []
    assert events(p, b"\r") == [("message", "a\nb", None, None)]
    assert p.feed(b"\n") == []  # ends that blank line; no second dispatch
    assert events(p, b"data: c\r\n\r\n") == [("message", "c", None, None)]


def test_sse_cr_at_chunk_end_then_other(framing: Any) -> None:
    p = framing.SSEParser()
    assert p.feed(b"data: a\r") == []
    assert events(p, b"\rdata: b\r") == [("message", "a", None, None)]
    assert events(p, b"\r\n") == [("message", "b", None, None)]


def test_sse_bom(framing: Any) -> None:
    p = framing.SSEParser()
    assert events(p, b"\xef\xbb\xbfdata: x\n\n") == [("message", "x", None, None)]
    assert p.offset == 12
    # only at the very start of the stream: later it is part of a field name
    assert p.feed(b"\xef\xbb\xbfdata: y\n\n") == []


@pytest.mark.parametrize("i", range(1, 6))
def test_sse_bom_split(framing: Any, i: int) -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    p = framing.SSEParser()
    got = feed_all(p, [stream[:i], stream[i:]])[0]
    assert [e.as_tuple() for e in got] == [("message", "x", None, None)]


def test_sse_not_a_bom(framing: Any) -> None:
    p = framing.SSEParser()
    assert p.feed(b"\xef") == []
    assert p.feed(b"\xbb") == []
    assert p.pending == 2
    # \xef\xbb + "d" is not a BOM: the bytes stay, making an unknown field name
    assert p.feed(b"data: x\n\ndata: y\n\n") == [framing.SSEEvent("y")]


def test_sse_id_with_nul_ignored(framing: Any) -> None:
    p = framing.SSEParser()
    assert events(p, b"id: 1\n\ndata: a\nid: 2\x003\n\n") == [("message", "a", "1", None)]
    assert events(p, b"id\ndata: b\n\n") == [("message", "b", "", None)]  # empty id resets
    assert p.last_event_id == ""


def test_sse_retry_digits_only(framing: Any) -> None:
    p = framing.SSEParser()
    for bad in (b"retry: 1a\n", b"retry: -5\n", b"retry: \n", b"retry: 1.5\n", b"retry: \xd9\xa3\n", b"retry: 1\x00\n"):
        assert events(p, bad + b"data: x\n\n") == [("message", "x", None, None)]
    assert p.retry is None
    assert events(p, b"retry:0042\ndata: x\n\n") == [("message", "x", None, 42)]
    assert events(p, b"retry: " + b"9" * 18 + b"\ndata: x\n\n")[0][3] == 10**18 - 1
    assert events(p, b"retry: " + b"9" * 19 + b"\ndata: x\n\n")[0][3] is None
    assert p.retry == 10**18 - 1


def test_sse_invalid_utf8_replaced(framing: Any) -> None:
    p = framing.SSEParser()
    got = events(p, b"event: \xff\ndata: a\xe2\x82\ndata: \xc3\xa9\nid: \xfe\n\n")
    assert got == [("\ufffd", "a\ufffd\né", "\ufffd", None)]


def test_sse_oversized_line(framing: Any) -> None:
    p = framing.SSEParser(10)
    with pytest.raises(FrameError) as info:
        p.feed(b"data: a\n\nid: 1\ndata: " + b"x" * 20 + b"\ndata: more\n\ndata: b\n\n")
    exc = info.value
    assert str(exc) == (
        "SSE line of more than 10 bytes (limit 10) - in the event at byte 9; "
        "discarding until the next blank line"
    )
    assert exc.offset == 9
    assert [e.as_tuple() for e in exc.events] == [  # type: ignore[attr-defined]
        ("message", "a", None, None),
        ("message", "b", "1", None),
    ]
    assert events(p, b"data: c\n\n") == [("message", "c", "1", None)]


def test_sse_oversized_event_data(framing: Any) -> None:
    p = framing.SSEParser(12)  # bounds every line (field name included) and every event's data
    # exactly 12 bytes of data is fine
    assert events(p, b"data: 123456\ndata: 12345\n\n") == [("message", "123456\n12345", None, None)]
    with pytest.raises(FrameError) as info:
        p.feed(b": c\ndata: 123456\ndata: 123456\ndata: x\n\ndata: ok\n\n")
    exc = info.value
    assert str(exc) == (
        "SSE event data of more than 12 bytes (limit 12) - at byte 26; discarding until the next blank line"
    )
    assert exc.offset == 26
    assert exc.events == [framing.SSEEvent("ok")]  # type: ignore[attr-defined]
    assert p.pending == 0


def test_sse_oversized_unfinished_line_across_chunks(framing: Any) -> None:
    p = framing.SSEParser(10)
    assert p.feed(b"event: e\ndata: 1234") == []
    with pytest.raises(FrameError) as info:
        p.feed(b"56789")
    assert info.value.offset == 0  # the block started with the event line
    assert info.value.events == []  # type: ignore[attr-defined]
    assert p.pending == 0
    assert p.feed(b"x" * 50) == []  # rest of the line: dropped silently
    assert p.feed(b"\ndata: dropped too\n") == []
    assert p.pending == 0
    assert events(p, b"\ndata: ok\n\n") == [("message", "ok", None, None)]


def test_sse_memory_stays_bounded(framing: Any) -> None:
    p = framing.SSEParser(100)
    raised = 0
    for _ in range(100):
        try:
            p.feed(b"data: " + b"z" * 40 + b"\n")
        except FrameError:
            raised += 1
        assert p.pending <= 200
    assert raised == 1
    assert events(p, b"\ndata: ok\n\n") == [("message", "ok", None, None)]


def test_sse_bytes_like_and_errors(framing: Any) -> None:
    p = framing.SSEParser()
    assert p.feed(bytearray(b"data: a\n")) == []
    assert p.feed(memoryview(b"\n")) == [framing.SSEEvent("a")]
    with pytest.raises(TypeError, match=r"^feed\(\) expects bytes, bytearray or memoryview, got str$"):
        p.feed("data: x\n\n")
    with pytest.raises(ValueError, match=r"^max_size must be between 1 and"):
        framing.SSEParser(0)


def test_sse_offset_pending_reset(framing: Any) -> None:
    p = framing.SSEParser()
    p.feed(b"id: 5\nretry: 3\n: c\ndata: abc\n\ndata: x")
    assert p.offset == 37
    assert p.pending == 7  # "data: x" unfinished
    p.feed(b"\n")
    assert p.pending == 2  # "x\n" in the data buffer
    assert (p.last_event_id, p.retry, p.comments) == ("5", 3, 1)
    p.reset()
    assert (p.offset, p.pending, p.last_event_id, p.retry, p.comments) == (0, 0, None, None, 0)
    assert events(p, b"\xef\xbb\xbfdata: y\n\n") == [("message", "y", None, None)]
    assert "SSEParser" in repr(p)


SSE_STREAM = (
    b"\xef\xbb\xbf: hi\r\nevent: a\r\ndata: 1\r\n\r\n"
    b"id: 9\rdata: 2\rdata: \xc3\xa9\r\r"
    b"retry: 10\ndata\n\n"
)
SSE_EXPECTED = [("a", "1", None, None), ("message", "2\né", "9", None), ("message", "", "9", 10)]


@pytest.mark.parametrize("i", range(len(SSE_STREAM) + 1))
def test_sse_split_at_every_byte(framing: Any, i: int) -> None:
    p = framing.SSEParser()
    got = [e.as_tuple() for e in p.feed(SSE_STREAM[:i]) + p.feed(SSE_STREAM[i:])]
    assert got == SSE_EXPECTED
    assert p.comments == 1 and p.offset == len(SSE_STREAM)


def test_sse_byte_by_byte(framing: Any) -> None:
    p = framing.SSEParser()
    got = feed_all(p, [SSE_STREAM[i : i + 1] for i in range(len(SSE_STREAM))])
    assert [e.as_tuple() for e in got[0]] == SSE_EXPECTED


# --------------------------------------------------------------------------------------------
# encode_sse


def test_encode_sse_fields_in_order(framing: Any) -> None:
    assert framing.encode_sse("x", event="e", id="1", retry=5) == b"id: 1\nevent: e\nretry: 5\ndata: x\n\n"
    assert framing.encode_sse(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert framing.encode_sse("") == b"data: \n\n"
    assert framing.encode_sse("a\r\nb\rc\nd\n") == b"data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"
    assert framing.encode_sse("é", id="") == "id: \ndata: é\n\n".encode()
    assert framing.encode_sse(bytearray(b"\r\r\n")) == b"data: \ndata: \ndata: \n\n"
    assert framing.encode_sse(memoryview(b"m")) == b"data: m\n\n"


def test_encode_sse_refuses(framing: Any) -> None:
    with pytest.raises(ValueError, match=r"^SSE id must not contain CR, LF or NUL, got 'a\\x00'$"):
        framing.encode_sse("x", id="a\0")
    with pytest.raises(ValueError, match=r"^SSE id must not contain CR, LF or NUL, got 'a\\nb'$"):
        framing.encode_sse("x", id="a\nb")
    with pytest.raises(ValueError, match=r"^SSE event must not contain CR or LF, got 'a\\r'$"):
        framing.encode_sse("x", event="a\r")
    assert framing.encode_sse("x", event="a\0") == b"event: a\0\ndata: x\n\n"
    with pytest.raises(TypeError, match=r"^encode_sse\(\) id must be str or None, got int$"):
        framing.encode_sse("x", id=1)
    with pytest.raises(TypeError, match=r"^encode_sse\(\) retry must be int or None, got bool$"):
        framing.encode_sse("x", retry=True)
    with pytest.raises(ValueError, match=r"^SSE retry must be >= 0, got -1$"):
        framing.encode_sse("x", retry=-1)
    with pytest.raises(TypeError, match=r"^encode_sse\(\) data must be str, bytes"):
        framing.encode_sse(1)
    with pytest.raises(UnicodeEncodeError):
        framing.encode_sse("\ud800")


def test_encode_sse_comment(framing: Any) -> None:
    assert framing.encode_sse_comment("ping") == b": ping\n\n"
    assert framing.encode_sse_comment() == b": \n\n"
    with pytest.raises(ValueError, match=r"^SSE comment must not contain CR or LF"):
        framing.encode_sse_comment("a\nb")
    p = framing.SSEParser()
    assert p.feed(framing.encode_sse_comment("x") * 3) == []
    assert p.comments == 3


sse_field = st.text(st.characters(exclude_characters="\r\n\0", exclude_categories=["Cs"]), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.text(max_size=20),
            st.none() | sse_field,
            st.none() | sse_field,
            st.none() | st.integers(0, 10**12),
        ),
        max_size=5,
    ),
    comment=st.booleans(),
    data=st.data(),
)
def test_sse_encode_parse_round_trip(framing: Any, items: list[Any], comment: bool, data: Any) -> None:
    stream = b""
    want = []
    last_id = None
    for text, event, id_, retry in items:
        if comment:
            stream += framing.encode_sse_comment("k")
        stream += framing.encode_sse(text, event=event, id=id_, retry=retry)
        last_id = id_ if id_ is not None else last_id
        norm = text.replace("\r\n", "\n").replace("\r", "\n")
        want.append((event or "message", norm, last_id, retry))
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    p = framing.SSEParser()
    got, errors = feed_all(p, cut(stream, points))
    assert errors == []
    assert [e.as_tuple() for e in got] == want
    assert p.comments == (len(items) if comment else 0)


# --------------------------------------------------------------------------------------------
# Selector


def test_selector_exports() -> None:
    from mcpfast.wire import _compat, _framing_py, framing

    assert set(framing.__all__) == set(_framing_py.__all__)
    expected = "mcpfast.wire._framing_py" if _compat.NO_EXTENSIONS else "mcpfast.wire._framing"
    for name in framing.__all__:
        obj = getattr(framing, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == expected, name
