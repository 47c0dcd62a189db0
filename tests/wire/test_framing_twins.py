"""One corpus through both framing twins: the same results, offsets, error classes and texts,
whole, split at every byte position, and byte by byte."""

from __future__ import annotations

import random
from typing import Any

import pytest

import mcpfast.wire._framing_py as P
from mcpfast.errors import FrameError

try:
    import mcpfast.wire._framing as C  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # a pure build: the nocompile run deselects this module (c_extension)
    C = None

pytestmark = pytest.mark.c_extension


@pytest.fixture(autouse=True)
def _compiled_twin() -> None:
    # Same rule as conftest: a missing compiled module is an error, not a skip.
    if C is None:
        pytest.fail("mcpfast.wire._framing is not built (pass --no-c-extensions for a pure build)")

REQ = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}'

LINE_CORPUS: list[tuple[int, bytes]] = [
    (1024, REQ + b"\n" + REQ + b"\r\n"),
    (1024, b"\n\r\n \t\n\r\r\n" + REQ + b"\n  " + REQ + b"\n"),
    (1024, b"no newline at all"),
    (1024, b"a\rb\r\n\r\nc\r\r\n\n"),
    (1024, "ünïcødé €\n\xff\xfe bad utf-8 passes through\n".encode("utf-8", "surrogateescape")),
    (8, b"ok\nthis one is too long\nok2\n"),
    (8, b"12345678\n12345678\r\n123456789\n1234567\r\r\n"),
    (8, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nb\n"),
    (8, b"short\n" + b"x" * 30 + b"\r\n" + b"y" * 9 + b"\nlast\n" + b"z" * 12),
    (4, b"    \n     \n\t\t\t\t\t\nab\n"),
    (1, b"a\nbb\n\n\r\nc\r\nd"),
]

SSE_CORPUS: list[tuple[int, bytes]] = [
    (1024, b"data: hello\n\n"),
    (1024, b"\xef\xbb\xbfevent: e\r\nid: 1\r\nretry: 100\r\ndata: a\r\ndata:b\r\n\r\n"),
    (1024, b"data: a\r\rdata: b\n\rdata: c\r\n\n: comment\n:\nid\n\ndata\ndata\n\n"),
    (1024, b"id: 1\n\ndata: x\nid: 2\x003\n\nretry: 5x\nretry: \ndata: y\n\n"),
    (1024, b"event: \xff\ndata: a\xe2\x82\ndata: \xc3\xa9\nid: \xfe\nunknown: z\nDATA: q\n\n"),
    (1024, b"\xef\xbb\xbf\xef\xbb\xbfdata: second bom is a field name\n\ndata: ok\n\n"),
    (1024, b"\xef\xbbdata: broken bom\n\ndata: ok\n\n"),
    (1024, b"data: never dispatched"),
    (1024, b"retry: " + b"9" * 18 + b"\nretry: " + b"9" * 19 + b"\ndata: r\n\n"),
    (12, b"data: 123456\ndata: 12345\n\n: c\ndata: 123456\ndata: 123456\ndata: x\n\ndata: ok\n\n"),
    (10, b"data: a\n\nid: 1\ndata: " + b"x" * 20 + b"\ndata: more\n\ndata: b\n\n"),
    (10, b"event: e\ndata: 123456789\r\n\r\ndata: z\r\rdata: ok\r\r"),
    (6, b": a long comment line\n\n:\n\ndata:1\n\n"),
]


def norm(item: Any) -> Any:
    return item if isinstance(item, bytes) else item.as_tuple()


def run(splitter: Any, chunks: list[Any]) -> list[Any]:
    """Everything observable after each feed: result or error, then the splitter's state."""
    out: list[Any] = []
    for chunk in chunks:
        try:
            out.append(["ok", [norm(x) for x in splitter.feed(chunk)]])
        except FrameError as exc:
            items = getattr(exc, "frames", None)
            if items is None:
                items = exc.events  # type: ignore[attr-defined]
            out.append(["FrameError", str(exc), exc.offset, [norm(x) for x in items]])
        except Exception as exc:  # noqa: BLE001 - comparing whatever happens
            out.append([type(exc).__name__, str(exc)])
        state = [splitter.offset, splitter.pending]
        if hasattr(splitter, "comments"):
            state += [splitter.last_event_id, splitter.retry, splitter.comments]
        out.append(state)
    return out


def chunkings(data: bytes) -> list[list[bytes]]:
    whole = [[data]]
    two = [[data[:i], data[i:]] for i in range(len(data) + 1)]
    single = [[data[i : i + 1] for i in range(len(data))]]
    rng = random.Random(len(data))
    rand = []
    for _ in range(10):
        points = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, 4)))
        rand.append([data[i:j] for i, j in zip([0, *points], [*points, len(data)])])
    return whole + two + single + rand


@pytest.mark.parametrize(("limit", "data"), LINE_CORPUS, ids=lambda v: repr(v)[:30])
def test_line_splitter_twins_agree(limit: int, data: bytes) -> None:
    for chunks in chunkings(data):
        assert run(C.LineSplitter(limit), chunks) == run(P.LineSplitter(limit), chunks), chunks


@pytest.mark.parametrize(("limit", "data"), SSE_CORPUS, ids=lambda v: repr(v)[:30])
def test_sse_parser_twins_agree(limit: int, data: bytes) -> None:
    for chunks in chunkings(data):
        assert run(C.SSEParser(limit), chunks) == run(P.SSEParser(limit), chunks), chunks


def test_twins_agree_on_concatenated_corpus() -> None:
    # One long stream, so that states (pending, discarding, after-CR, ids) carry across entries.
    lines = b"".join(d for _, d in LINE_CORPUS)
    sse = b"".join(d for _, d in SSE_CORPUS)
    for chunks in chunkings(lines)[:: max(1, len(lines) // 60)]:
        assert run(C.LineSplitter(16), chunks) == run(P.LineSplitter(16), chunks)
    for chunks in chunkings(sse)[:: max(1, len(sse) // 60)]:
        assert run(C.SSEParser(16), chunks) == run(P.SSEParser(16), chunks)


def test_twins_agree_on_random_streams() -> None:
    alphabet = [b"a", b"\n", b"\r", b" ", b"\t", b":", b"data", b"id", b"event", b"retry", b"7",
                b"\0", b"\xef\xbb\xbf", b"\xef", b"\xff", b"data: x\n\n", b"\r\n"]
    rng = random.Random(20240601)
    for _ in range(3000):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        points = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 5))))
        chunks = [data[i:j] for i, j in zip([0, *points], [*points, len(data)])]
        limit = rng.randint(1, 12)
        assert run(C.LineSplitter(limit), chunks) == run(P.LineSplitter(limit), chunks), (limit, chunks)
        assert run(C.SSEParser(limit), chunks) == run(P.SSEParser(limit), chunks), (limit, chunks)


@pytest.mark.parametrize(
    "chunk",
    [bytearray(b"a\nb"), memoryview(b"x\ny\n"), memoryview(b"abcd\n")[::2], "str", 5, None, b""],
    ids=repr,
)
def test_twins_agree_on_input_types(chunk: Any) -> None:
    for cls in ("LineSplitter", "SSEParser"):
        assert run(getattr(C, cls)(), [chunk]) == run(getattr(P, cls)(), [chunk])


@pytest.mark.parametrize("value", [0, -1, 1, 2**61, 2**80, 1.5, "8", True, None])
def test_twins_agree_on_limits(value: Any) -> None:
    def make(mod: Any, name: str) -> Any:
        try:
            obj = getattr(mod, name)(value)
        except Exception as exc:  # noqa: BLE001
            return [type(exc).__name__, str(exc)]
        return getattr(obj, "max_size", None)

    for name in ("LineSplitter", "SSEParser"):
        assert make(C, name) == make(P, name), name


ENCODE_CASES: list[tuple[Any, dict[str, Any]]] = [
    ("x", {}),
    ("", {}),
    (b'{"a":1}', {"event": "message", "id": "42", "retry": 1000}),
    ("a\r\nb\rc\nd\n\r", {"event": ""}),
    ("é €", {"id": ""}),
    (bytearray(b"\r\r\n\n"), {}),
    (memoryview(b"mv"), {}),
    (memoryview(b"abcd")[::2], {}),
    ("x", {"id": "a\nb"}),
    ("x", {"id": "a\0"}),
    ("x", {"id": "a\r"}),
    ("x", {"event": "a\nb"}),
    ("x", {"event": "a\0"}),
    ("x", {"id": 1}),
    ("x", {"event": b"e"}),
    ("x", {"retry": True}),
    ("x", {"retry": -1}),
    ("x", {"retry": 1.0}),
    ("x", {"retry": 2**70}),
    (1, {}),
    (None, {}),
    ("\ud800", {}),
    ("x", {"id": "\ud800"}),
]


@pytest.mark.parametrize(("data", "kw"), ENCODE_CASES, ids=repr)
def test_encode_sse_twins_agree(data: Any, kw: dict[str, Any]) -> None:
    def enc(mod: Any) -> Any:
        try:
            return mod.encode_sse(data, **kw)
        except Exception as exc:  # noqa: BLE001
            return [type(exc).__name__, str(exc)]

    assert enc(C) == enc(P)


@pytest.mark.parametrize("text", ["", "ping", "a\nb", "a\rb", "\0", 3, "\ud800"], ids=repr)
def test_encode_sse_comment_twins_agree(text: Any) -> None:
    def enc(mod: Any) -> Any:
        try:
            return mod.encode_sse_comment(text)
        except Exception as exc:  # noqa: BLE001
            return [type(exc).__name__, str(exc)]

    assert enc(C) == enc(P)


def test_encode_parse_round_trip_across_twins() -> None:
    cases = [("a\nb", "e", "1", 5), ("", None, None, None), ("x\r\ny", "", "", 0)]
    for enc in (C, P):
        stream = b"".join(enc.encode_sse(d, event=e, id=i, retry=r) for d, e, i, r in cases)
        for dec in (C, P):
            assert [ev.as_tuple() for ev in dec.SSEParser().feed(stream)] == [
                ("e", "a\nb", "1", 5),
                ("message", "", "1", None),
                ("message", "x\ny", "", 0),
            ]


def test_same_public_names() -> None:
    assert C.__all__ == P.__all__
    for name in P.__all__:
        assert hasattr(C, name), name
    assert C.DEFAULT_MAX_SIZE == P.DEFAULT_MAX_SIZE
