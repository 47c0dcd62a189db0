"""Differential fuzzing of the two wire twins: generated JSON-RPC-ish input through the compiled
and the pure-Python codec and framing, which must give the same messages, frames and bytes, or
the same error (class and text).

The corpus tests (``test_jsonrpc_twins``, ``test_framing_twins``) pin known edge cases; these
look for the ones nobody wrote down. Inputs: valid messages, messages with odd ids (huge ints,
floats, bools, null, nested values), ``method`` mixed with ``result``/``error``, batches, then
the same bytes damaged (cut short, bad UTF-8, NaN literals, garbage spliced in) and fed to the
splitters in arbitrary chunks. Examples are derandomized and there is no example database, so
a run is the same everywhere (CI included) and bounded in time; the JSON backend is whatever
``MCPFAST_JSON`` selects (CI runs tests/wire under each).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcpfast.wire._framing_py as FP
import mcpfast.wire._jsonrpc_py as JP
from mcpfast.errors import JSONRPCError

from .corpus import same

try:
    import mcpfast.wire._framing as FC  # type: ignore[import-not-found,unused-ignore]
    import mcpfast.wire._jsonrpc as JC  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # a pure build: the nocompile run deselects this module (c_extension)
    FC = JC = None

pytestmark = pytest.mark.c_extension

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# streams and frame lists hold several messages each: fewer examples, as many messages
FUZZ_STREAMS = settings(FUZZ, max_examples=50)


@pytest.fixture(autouse=True)
def _compiled_twins() -> None:
    # Same rule as conftest: a missing compiled module is an error, not a skip.
    if JC is None or FC is None:
        pytest.fail("the compiled wire twins are not built (pass --no-c-extensions for a pure build)")


# ------------------------------------------------------------------------------ generators

# integers around every boundary a codec cares about: C long long, the JSON backends' 64-bit
# range, and far beyond (which decode as floats and must not encode)
BOUNDARY_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, -(2**64), 10**30]
ints = st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(), st.integers(min_value=-(10**80), max_value=10**80))
floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
odd_ids = st.one_of(ints, floats, texts, st.none(), st.booleans(), st.lists(ints, max_size=2), st.dictionaries(texts, ints, max_size=1))
methods = st.one_of(st.sampled_from(["tools/call", "ping", "notifications/progress", "é/€", ""]), texts, values)
error_objects = st.one_of(
    st.fixed_dictionaries({"code": ints, "message": texts}, optional={"data": values}),
    st.fixed_dictionaries({}, optional={"code": values, "message": values, "data": values}),
    values,
)

MEMBERS: dict[str, st.SearchStrategy[Any]] = {
    "jsonrpc": st.one_of(st.just("2.0"), st.just("2.0"), st.just("1.0"), st.just(2.0), values),
    "id": odd_ids,
    "method": methods,
    "params": st.one_of(st.dictionaries(texts, values, max_size=3), st.lists(values, max_size=3), values),
    "result": values,
    "error": error_objects,
    "extra": values,
}


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A dict with a random subset of the JSON-RPC members (so: requests, notifications,
    responses, error responses, and every mix of them, method+result included)."""
    shape = draw(
        st.sampled_from(
            [
                ("jsonrpc", "id", "method", "params"),
                ("jsonrpc", "method", "params"),
                ("jsonrpc", "id", "result"),
                ("jsonrpc", "id", "error"),
                ("jsonrpc", "id", "method", "result"),
                ("jsonrpc", "id", "method", "error"),
                ("jsonrpc", "method", "result", "error"),
                ("jsonrpc", "id", "result", "error"),
                tuple(MEMBERS),
            ]
        )
    )
    keep = draw(st.lists(st.sampled_from(shape), unique=True, min_size=len(shape) - 1, max_size=len(shape)))
    return {k: draw(MEMBERS[k]) for k in shape if k in keep}


messages = st.one_of(envelopes(), st.lists(envelopes(), min_size=0, max_size=4), values)


def to_json(value: Any) -> bytes:
    # huge ints stay integers in the text (the stdlib writes them): the decoders' rule for
    # them is what is under test
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


DAMAGE = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"NaN", b"Infinity", b"-", b"01", b",", b"}", b"[", b'"', b"\\u", b"\x00", b"\n", b"\r", b"\xef\xbb\xbf", b" "]


@st.composite
def wire_bytes(draw: st.DrawFn) -> bytes:
    """One message's bytes, intact or damaged."""
    data = to_json(draw(messages))
    how = draw(st.sampled_from(["intact", "intact", "cut", "splice", "replace", "raw"]))
    if how == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from(DAMAGE)) + data[at:]
    if how == "replace":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at + 1 :]
    if how == "raw":
        return draw(st.binary(max_size=40))
    return data


# ------------------------------------------------------------------------------ comparison


def outcome(fn: Callable[[], Any]) -> Any:
    """What a call gave, comparable across twins: a normalised value or (class, text[, id])."""
    try:
        return ["ok", norm(fn())]
    except JSONRPCError as exc:
        return ["raised", *error_key(exc)]
    except Exception as exc:  # noqa: BLE001 - comparing whatever happens
        return ["raised", type(exc).__name__, str(exc)]


def error_key(exc: BaseException) -> list[Any]:
    if isinstance(exc, JSONRPCError):
        return [type(exc).__name__, str(exc), exc.id, exc.code]
    return [type(exc).__name__, str(exc)]


def norm(value: Any) -> Any:
    """Messages as (class name, dict); the twins' classes differ, their names and fields not."""
    if isinstance(value, BaseException):
        return error_key(value)
    if isinstance(value, list):
        return [type(value).__name__, [norm(v) for v in value]]
    if hasattr(value, "as_dict"):
        return [type(value).__name__, value.as_dict()]
    return value


def assert_same(c: Any, p: Any) -> None:
    # NaN never comes out of a decoder, so plain equality of identical types is enough
    assert same(c, p), (c, p)


# ------------------------------------------------------------------------------ decoding


@FUZZ
@given(data=wire_bytes())
def test_decode_agrees(data: bytes) -> None:
    assert_same(outcome(lambda: JC.decode(data)), outcome(lambda: JP.decode(data)))


@FUZZ_STREAMS
@given(frames=st.lists(wire_bytes(), max_size=5))
def test_decode_all_agrees(frames: list[bytes]) -> None:
    assert_same(outcome(lambda: JC.decode_all(frames)), outcome(lambda: JP.decode_all(frames)))


@FUZZ
@given(obj=messages, huge=st.one_of(st.none(), st.tuples(st.sampled_from(list(MEMBERS)), st.sampled_from([10**5000, -(2**70)]))))
def test_validate_agrees(obj: Any, huge: tuple[str, int] | None) -> None:
    # already decoded values, including huge ints no decoder gives (validate takes Python
    # values), up to ints whose str() Python refuses
    if huge is not None and isinstance(obj, dict):
        obj[huge[0]] = huge[1]
    c = outcome(lambda: JC.validate(obj))
    assert_same(c, outcome(lambda: JP.validate(obj)))
    assert c[0] == "ok" or c[1] == "InvalidRequest", c  # never a crash, whatever the values


@FUZZ
@given(env=envelopes())
def test_method_with_result_or_error_is_invalid(env: dict[str, Any]) -> None:
    env = {**env, "jsonrpc": "2.0", "method": "m"}
    if "result" not in env and "error" not in env:
        env["result"] = None
    data = to_json(env)
    for mod in (JC, JP):
        got = outcome(lambda mod=mod: mod.decode(data))
        assert got[:2] == ["raised", "InvalidRequest"], got
        assert got[4] == -32600
        other = '"result"' if "result" in env else '"error"'
        assert got[2] == f'Expected either "method" or "result"/"error", got "method" and {other} - at $'


# ------------------------------------------------------------------------------ encoding

byteslike = st.binary(max_size=20).map(lambda b: b'{"raw":' + to_json(b.hex()) + b"}")
nasty = st.one_of(
    values,
    st.sampled_from([math.nan, math.inf, -math.inf, "\ud800", (1, 2), {1: "int key"}, {"k": {"n": math.nan}}, object()]),
    st.tuples(values, values),
)
results = st.one_of(nasty, byteslike, byteslike.map(bytearray), byteslike.map(memoryview))


@FUZZ
@given(id=odd_ids, method=methods, params=st.one_of(st.none(), nasty))
def test_encode_request_and_notification_agree(id: Any, method: Any, params: Any) -> None:
    assert_same(outcome(lambda: JC.encode_request(id, method, params)), outcome(lambda: JP.encode_request(id, method, params)))
    assert_same(outcome(lambda: JC.encode_notification(method, params)), outcome(lambda: JP.encode_notification(method, params)))


@FUZZ
@given(id=odd_ids, result=results)
def test_encode_result_agrees(id: Any, result: Any) -> None:
    assert_same(outcome(lambda: JC.encode_result(id, result)), outcome(lambda: JP.encode_result(id, result)))


@FUZZ
@given(id=odd_ids, code=st.one_of(ints, values), message=st.one_of(texts, values), data=st.one_of(st.none(), nasty))
def test_encode_error_agrees(id: Any, code: Any, message: Any, data: Any) -> None:
    assert_same(
        outcome(lambda: JC.encode_error(id, code, message, data)),
        outcome(lambda: JP.encode_error(id, code, message, data)),
    )


@FUZZ
@given(data=wire_bytes())
def test_reencoding_a_decoded_message_agrees(data: bytes) -> None:
    # what a twin decodes, its encoder writes back, identically in both, and reads back again
    try:
        c_msg, p_msg = JC.decode(data), JP.decode(data)
    except JSONRPCError:
        return
    pairs = zip(c_msg, p_msg, strict=True) if isinstance(p_msg, list) else [(c_msg, p_msg)]
    for c_item, p_item in pairs:
        if isinstance(p_item, BaseException):
            continue
        c, p = outcome(lambda c_item=c_item: JC.encode_message(c_item)), outcome(lambda p_item=p_item: JP.encode_message(p_item))
        assert_same(c, p)
        assert c[0] == "ok", c  # every id and value a decoder gives is encodable
        assert_same(norm(JP.decode(c[1])), norm(p_item))


# ------------------------------------------------------------------------------ framing


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    """A byte stream of frames joined by LF, CRLF, blank lines or none, cut into chunks."""
    parts = draw(st.lists(wire_bytes(), max_size=6))
    seps = [draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b" \t\r\n", b"\r", b""])) for _ in parts]
    stream = b"".join(p + s for p, s in zip(parts, seps, strict=True))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    max_size = draw(st.sampled_from([1, 8, 40, 1 << 20]))
    return max_size, chunks


def run_splitter(mod: Any, max_size: int, chunks: list[bytes]) -> list[Any]:
    s = mod.LineSplitter(max_size)
    log: list[Any] = []
    for chunk in chunks:
        try:
            log.append(["frames", s.feed(chunk)])
        except Exception as exc:  # noqa: BLE001 - comparing whatever happens
            log.append(["raised", type(exc).__name__, str(exc), getattr(exc, "offset", None), getattr(exc, "frames", None)])
        log.append([s.offset, s.pending])
    return log


def run_sse(mod: Any, max_size: int, chunks: list[bytes]) -> list[Any]:
    p = mod.SSEParser(max_size)
    log: list[Any] = []
    for chunk in chunks:
        try:
            log.append(["events", [e.as_tuple() for e in p.feed(chunk)]])
        except Exception as exc:  # noqa: BLE001 - comparing whatever happens
            events = getattr(exc, "events", None)
            log.append(["raised", type(exc).__name__, str(exc), getattr(exc, "offset", None),
                        None if events is None else [e.as_tuple() for e in events]])
        log.append([p.offset, p.pending, p.last_event_id, p.retry, p.comments])
    return log


@FUZZ_STREAMS
@given(case=streams())
def test_line_splitting_agrees(case: tuple[int, list[bytes]]) -> None:
    max_size, chunks = case
    assert_same(run_splitter(FC, max_size, chunks), run_splitter(FP, max_size, chunks))


@FUZZ_STREAMS
@given(case=streams(), prefix=st.sampled_from([b"data: ", b"id: ", b"event: ", b": ", b"retry: ", b""]))
def test_sse_parsing_agrees(case: tuple[int, list[bytes]], prefix: bytes) -> None:
    max_size, chunks = case
    chunks = [prefix + c if i % 2 == 0 else c for i, c in enumerate(chunks)]
    assert_same(run_sse(FC, max_size, chunks), run_sse(FP, max_size, chunks))


@FUZZ_STREAMS
@given(case=streams())
def test_split_then_decode_agrees(case: tuple[int, list[bytes]]) -> None:
    # the stdio/TCP read path end to end: frames out of the splitter straight into decode_all
    max_size, chunks = case

    def path(fm: Any, jm: Any) -> list[Any]:
        s = fm.LineSplitter(max_size)
        out: list[Any] = []
        for chunk in chunks:
            try:
                frames = s.feed(chunk)
            except Exception as exc:  # noqa: BLE001 - FrameError carries the good frames
                frames = exc.frames  # type: ignore[attr-defined]
                out.append(error_key(exc))
            out.append(norm(jm.decode_all(frames)))
        return out

    assert_same(path(FC, JC), path(FP, JP))
