"""The JSON backend, chosen once: ``MCPFAST_JSON=orjson|ujson|json`` (default orjson).

Every backend behaves the same, byte for byte and error for error; orjson is simply the fastest.
The common behaviour is orjson's, and the other two are brought into line with it here:

* decode takes UTF-8 bytes (or str) holding one RFC 8259 JSON text. A leading UTF-8 BOM is
  ignored (RFC 8259 §8.1 allows it); anything else that is not strict JSON is a ``ParseError``:
  invalid UTF-8, encoded or escaped lone surrogates, ``NaN``/``Infinity`` literals, numbers that
  overflow a double, leading zeros, raw control characters in strings, trailing data, and
  nesting deeper than ``MAX_DEPTH`` (1024) arrays/objects.
* integers outside the 64-bit range [-2**63, 2**64) decode as the nearest float (orjson's rule);
  duplicate keys keep the last value.
* encode gives compact UTF-8 bytes with ``/`` and non-ASCII unescaped. It accepts dict (str keys),
  list, tuple, str, int in [-2**63, 2**64), finite float, bool and None, plus their subclasses;
  anything else, NaN/Infinity, out-of-range ints, non-str keys and strings with lone surrogates
  raise ``EncodeError`` naming the path of the offending value.
* error messages are produced here, by one canonical checker, never by the backend, so that
  they are the same on every backend: what was wrong, and where (byte offset, line, column and
  a caret under the offending place).

Hot callers (the codec twins) bind ``fast_loads`` and call ``recover_loads`` only when it raised:
for orjson ``fast_loads`` *is* ``orjson.loads``; for the others it is the full strict ``loads``.
"""

from __future__ import annotations

import json as _stdjson
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from ..errors import EncodeError, ParseError

__all__ = [
    "BACKEND",
    "BACKENDS",
    "MAX_DEPTH",
    "loads",
    "dumps",
    "fast_loads",
    "fast_dumps",
    "recover_loads",
    "recover_dumps",
    "select",
]

BACKENDS = ("orjson", "ujson", "json")
MAX_DEPTH = 1024  # orjson's and ujson's limit; the stdlib is brought to it
_I64_MIN = -(2**63)
_U64_END = 2**64
_BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------------------------
# The canonical (strict) decoder: stdlib json with hooks. It is the whole decoder of the "json"
# backend, and for the others it runs only when the fast backend refused the input (to decide
# between "valid after all, e.g. a BOM" and a ParseError with the canonical message).


class _Reject(Exception):
    """Raised from a stdlib json hook; the position is found afterwards."""

    def __init__(self, what: str, token: str) -> None:
        self.what = what
        self.token = token


def _parse_constant(token: str) -> Any:
    raise _Reject(f"{token} is not valid JSON", token)


def _parse_int(token: str) -> Any:
    # Python refuses int() of more than 4300 digits, and the value would not fit anyway.
    if len(token) > 20:
        return _parse_float(token)
    value = int(token)
    if _I64_MIN <= value < _U64_END:
        return value
    return float(token)


def _parse_float(token: str) -> Any:
    value = float(token)
    if math.isinf(value):
        raise _Reject(f"number {token[:32]} is out of the range of a double", token)
    return value


_decoder = _stdjson.JSONDecoder(
    parse_constant=_parse_constant, parse_int=_parse_int, parse_float=_parse_float
)
_scan_once = _decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            try:
                o.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return False


def _depth_exceeded_at(text: str) -> int:
    """Index of the bracket that opens level MAX_DEPTH + 1, or -1."""
    depth = 0
    in_str = False
    esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif ch == "]" or ch == "}":
            depth -= 1
    return -1


def _error(message: str, raw: bytes | None, text: str, pos: int, skipped: int) -> ParseError:
    """A ParseError pointing at character ``pos`` of ``text``: byte offset, line, column, caret."""
    byte = len(text[:pos].encode("utf-8", "surrogatepass")) + skipped if raw is not None else pos
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    col = pos - start + 1
    end = text.find("\n", pos)
    if end < 0:
        end = len(text)
    # at most 60 characters of context, the caret under the offending one
    lo = max(start, pos - 40)
    hi = min(end, lo + 60)
    snippet = text[lo:hi]
    prefix = "..." if lo > start else ""
    suffix = "..." if hi < end else ""
    caret = " " * (len(prefix) + pos - lo) + "^"
    where = f"byte {byte}" if raw is not None else f"character {pos}"
    return ParseError(
        f"Invalid JSON: {message} - at {where} (line {line}, column {col})\n"
        f"  {prefix}{snippet}{suffix}\n  {caret}"
    )


def _raise_for(message: str, raw: bytes | None, text: str, pos: int, skipped: int) -> None:
    raise _error(message, raw, text, pos, skipped) from None


def strict_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode one JSON text under the canonical rules; raise ParseError otherwise."""
    skipped = 0
    raw: bytes | None
    if isinstance(data, str):
        raw = None
        text = data[1:] if data[:1] == "\ufeff" else data
    else:
        raw = bytes(data)
        if raw[:3] == _BOM:
            raw = raw[3:]
            skipped = 3
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start]
            # Report the place as text up to the bad byte decodes, so the caret lines up.
            good = raw[: exc.start].decode("utf-8")
            _raise_for(f"invalid UTF-8 byte 0x{bad:02x}", raw, good + "\ufffd", len(good), skipped)
    idx = _WS.match(text).end()  # type: ignore[union-attr]
    if idx == len(text):
        _raise_for("expected a JSON value, got end of data", raw, text, idx, skipped)
    # Deeper than MAX_DEPTH is refused on every Python: up to 3.11 the stdlib scanner hits the
    # recursion limit first (handled below), from 3.12 on its C stack guard allows far more,
    # so the depth is checked here too. Only a text with more than MAX_DEPTH brackets can be
    # that deep (counted in C); the scan below still reports an earlier syntax error first.
    deep_at = -1
    if text.count("[") + text.count("{") > MAX_DEPTH:
        deep_at = _depth_exceeded_at(text)
    try:
        try:
            obj, end = _scan_once(text, idx)
            if deep_at >= 0:
                _raise_for(f"nesting deeper than {MAX_DEPTH} levels", raw, text, deep_at, skipped)
        except RecursionError:
            # The stdlib scanner recurses on the C stack under the recursion limit; lift it
            # for the documented depth instead of failing earlier than the other backends.
            at = _depth_exceeded_at(text)
            if at >= 0:
                _raise_for(f"nesting deeper than {MAX_DEPTH} levels", raw, text, at, skipped)
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(old + MAX_DEPTH * 4)
            try:
                obj, end = _scan_once(text, idx)
            finally:
                sys.setrecursionlimit(old)
    except StopIteration as exc:
        _raise_for("expected a JSON value", raw, text, exc.value, skipped)
    except _stdjson.JSONDecodeError as exc:
        if 0 <= deep_at < exc.pos:  # the scanner got past the level too deep before failing
            _raise_for(f"nesting deeper than {MAX_DEPTH} levels", raw, text, deep_at, skipped)
        msg, pos = exc.msg, exc.pos
        if msg.startswith(_TRAILING_COMMA):
            # 3.13's scanner names a trailing comma at the comma; earlier ones (and so the
            # canonical text, the same on every Python) name what should follow it
            msg = "Expecting property name enclosed in double quotes" if msg.endswith("object") else "Expecting value"
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        _raise_for(_stdjson_message(msg), raw, text, pos, skipped)
    except _Reject as exc:
        pos = _find_token(text, exc.token, idx)
        _raise_for(exc.what, raw, text, pos, skipped)
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        _raise_for("unexpected data after the JSON value", raw, text, end, skipped)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        m = _SURROGATE_ESCAPE.search(text)
        pos = m.start() if m else 0
        # find the first escape that really is lone
        for m in _SURROGATE_ESCAPE.finditer(text):
            hi = int(text[m.start() + 2 : m.start() + 6], 16)
            nxt = text[m.start() + 6 : m.start() + 12]
            if 0xD800 <= hi < 0xDC00 and nxt[:2] == "\\u" and 0xDC00 <= int(nxt[2:] or "0", 16) < 0xE000:
                continue
            if m.start() > 0 and text[m.start() - 1] == "\\":
                continue  # an escaped backslash followed by "u..."
            pos = m.start()
            break
        _raise_for("lone UTF-16 surrogate escape in a string", raw, text, pos, skipped)
    return obj


_TRAILING_COMMA = "Illegal trailing comma before end of "

_STDJSON_MESSAGES = {
    "Expecting value": "expected a JSON value",
    "Expecting ',' delimiter": "expected ',' or a closing bracket",
    "Expecting ':' delimiter": "expected ':' after an object key",
    "Expecting property name enclosed in double quotes": "expected a string key in double quotes",
    "Unterminated string starting at": "unterminated string",
    "Invalid control character at": "raw control character in a string (escape it)",
    "Invalid \\escape": "invalid escape in a string",
    "Invalid \\uXXXX escape": "invalid \\u escape in a string",
    "Extra data": "unexpected data after the JSON value",
}


def _stdjson_message(msg: str) -> str:
    return _STDJSON_MESSAGES.get(msg, msg[:1].lower() + msg[1:])


def _find_token(text: str, token: str, start: int) -> int:
    # The hook saw the token but not where; the first occurrence outside a string is it.
    # Good enough for an error caret: search from the start, skip occurrences inside strings.
    pos = text.find(token, start)
    while pos >= 0:
        if text.count('"', 0, pos) % 2 == 0 or "\\" in text[:pos]:
            return pos
        pos = text.find(token, pos + 1)
    return start


def recover_loads(data: bytes | bytearray | memoryview | str, exc: BaseException | None = None) -> Any:
    """Called when ``fast_loads`` raised: decode under the canonical rules or raise ParseError.

    The fast backend may refuse input the rules accept (a BOM, a nesting orjson accepts but
    stdlib's recursion limit does not), so this can return a value.
    """
    return strict_loads(data)


# --------------------------------------------------------------------------------------------
# The canonical encoder check: finds the first value outside the encodable domain and names
# its path. Fast backends only call it when a cheap signal says something may be wrong.


def _path(parts: list[Any]) -> str:
    out = ["$"]
    for p in parts:
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif isinstance(p, str) and p.isidentifier():
            out.append(f".{p}")
        else:
            out.append(f"[{_stdjson.dumps(p, ensure_ascii=False)}]")
    return "".join(out)


def _int_text(value: int) -> str:
    # Python refuses str() of an int of more than 4300 digits (sys.int_info): an error message
    # must not fail to be built, so long ones are shortened to their size.
    if value.bit_length() <= 200:
        return f"{value}"
    return f"{'-' if value < 0 else ''}<{value.bit_length()} bits>"


def check_encodable(obj: Any) -> None:
    """Raise EncodeError for the first value that no backend may encode, else return None."""
    stack: list[tuple[Any, list[Any]]] = [(obj, [])]
    depth_guard = 0
    while stack:
        o, path = stack.pop()
        depth_guard = max(depth_guard, len(path))
        if depth_guard > MAX_DEPTH:
            raise EncodeError(f"Cannot encode: nesting deeper than {MAX_DEPTH} levels - at {_path(path)}")
        if o is None or o is True or o is False:
            continue
        if isinstance(o, str):
            try:
                o.encode("utf-8")
            except UnicodeEncodeError:
                raise EncodeError(
                    f"Cannot encode a string with a lone surrogate - at {_path(path)}"
                ) from None
        elif isinstance(o, int):
            if not _I64_MIN <= o < _U64_END:
                raise EncodeError(
                    f"Cannot encode integer {_int_text(o)} outside [-2**63, 2**64) - at {_path(path)}"
                )
        elif isinstance(o, float):
            if not math.isfinite(o):
                raise EncodeError(f"Cannot encode float {o!r}: not valid JSON - at {_path(path)}")
        elif isinstance(o, dict):
            items = list(o.items())
            for k, v in reversed(items):
                if not isinstance(k, str):
                    raise EncodeError(
                        f"Cannot encode key {k!r} of type {type(k).__name__}: object keys must be str"
                        f" - at {_path(path)}"
                    )
                stack.append((v, path + [k]))
            # keys themselves may hold lone surrogates
            for k, _ in items:
                try:
                    k.encode("utf-8")
                except UnicodeEncodeError:
                    raise EncodeError(
                        f"Cannot encode a key with a lone surrogate - at {_path(path)}"
                    ) from None
        elif isinstance(o, (list, tuple)):
            for i in range(len(o) - 1, -1, -1):
                stack.append((o[i], path + [i]))
        else:
            raise EncodeError(
                f"Cannot encode an object of type {type(o).__module__}.{type(o).__qualname__}"
                f" - at {_path(path)}"
            )


def recover_dumps(obj: Any, exc: BaseException | None = None) -> bytes:
    """Called when ``fast_dumps`` failed or signalled trouble: raise the canonical EncodeError."""
    check_encodable(obj)
    # The checker found nothing: the backend failed for a reason outside the documented domain.
    raise EncodeError(f"Cannot encode: {exc}" if exc is not None else "Cannot encode value")


# --------------------------------------------------------------------------------------------
# Backends


def _make_orjson() -> tuple[Callable[[Any], Any], Callable[[Any], bytes], Callable[[Any], Any], Callable[[Any], bytes]]:
    import orjson

    o_loads = orjson.loads
    o_dumps = orjson.dumps
    global ORJSON_OPTIONS
    # datetime and dataclass instances would be serialised natively by orjson but not by the
    # other backends; these options make orjson refuse them too.
    opt = ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def dumps(obj: Any) -> bytes:
        try:
            # no default: orjson raises TypeError for unsupported types, recover_dumps names them
            out = o_dumps(obj, None, opt)
        except TypeError as exc:
            return recover_dumps(obj, exc)
        # orjson writes NaN and Infinity as null; only then can a null hide one.
        if b"null" in out:
            check_encodable(obj)
        return out

    def loads(data: Any) -> Any:
        try:
            return o_loads(data)
        except orjson.JSONDecodeError as exc:
            return recover_loads(data, exc)

    return o_loads, dumps, loads, dumps


# Inputs ujson decodes although they are not JSON (or decodes differently from orjson) all
# contain one of these; such inputs take the canonical path. Harmless false positives (a
# digit run in a string, a pretty-printed body) only cost speed.
_UJSON_SUSPECT = re.compile(
    rb"[\x00-\x1f\xed\x7f]|\\u[dD][89a-fA-F]|\d{19}|[eE][+-]?\d{3}|NaN|Infinity"
    rb"|(?:^|[\[:,\s])-?0\d|^\xef\xbb\xbf"
    # ujson reads "-" as 0 and "1." / "-.5" as numbers
    rb"|(?:^|[\[:,])\s*-(?![0-9])|[0-9]\.(?![0-9])"
)


def _make_ujson() -> tuple[Callable[[Any], Any], Callable[[Any], bytes], Callable[[Any], Any], Callable[[Any], bytes]]:
    import ujson

    u_loads = ujson.loads
    u_dumps = ujson.dumps
    suspect = _UJSON_SUSPECT.search

    def loads(data: Any) -> Any:
        if isinstance(data, str):
            return strict_loads(data)
        if not isinstance(data, bytes):
            data = bytes(data)
        if suspect(data) is not None:
            return strict_loads(data)
        try:
            return u_loads(data)
        except (ValueError, OverflowError):
            return strict_loads(data)

    def dumps(obj: Any) -> bytes:
        # ujson converts non-str keys and big ints where orjson refuses: check first.
        check_encodable(obj)
        return _float_layout(
            u_dumps(obj, ensure_ascii=False, escape_forward_slashes=False, allow_nan=False, reject_bytes=True)
        ).encode("utf-8")

    return loads, dumps, loads, dumps


# Floats: all backends write the shortest repr that round-trips, but lay it out differently.
# orjson's layout is the reference: decimal for exponents -5..15, else "d.ddde+N"/"d.ddde-N"
# without zero padding. Python's repr pads ("1.5e-07") and switches to an exponent at -5; ujson
# does not pad but also switches at -5. Number tokens with an exponent are rewritten; strings
# are matched whole first so that their contents are never touched.
_EXP_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?e[+-]?[0-9]+')


def _orjson_float_layout(m: re.Match[str]) -> str:
    token = m.group(0)
    if token[0] == '"':
        return token
    mantissa, _, exp = repr(float(token)).partition("e")
    if not exp:
        return mantissa
    e = int(exp)
    if e == -5:
        sign = "-" if mantissa[0] == "-" else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def _float_layout(out: str) -> str:
    if "e-" in out or "e+" in out:
        return _EXP_NUMBER.sub(_orjson_float_layout, out)
    return out


def _make_json() -> tuple[Callable[[Any], Any], Callable[[Any], bytes], Callable[[Any], Any], Callable[[Any], bytes]]:
    encode = _stdjson.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

    def dumps(obj: Any) -> bytes:
        check_encodable(obj)
        return _float_layout(encode(obj)).encode("utf-8")

    return strict_loads, dumps, strict_loads, dumps


_FACTORIES = {"orjson": _make_orjson, "ujson": _make_ujson, "json": _make_json}

BACKEND: str
#: the option bits the orjson backend passes to orjson.dumps (the compiled codec calls it directly)
ORJSON_OPTIONS: int = 0
fast_loads: Callable[[Any], Any]
fast_dumps: Callable[[Any], bytes]
loads: Callable[[Any], Any]
dumps: Callable[[Any], bytes]


def select(name: str) -> None:
    """Switch the backend of this module (tests use it; modules that bound the functions at
    import keep the old ones, so set ``MCPFAST_JSON`` before importing mcpfast instead)."""
    global BACKEND, fast_loads, fast_dumps, loads, dumps
    if name not in _FACTORIES:
        raise ValueError(f"MCPFAST_JSON must be one of {', '.join(BACKENDS)}, got {name!r}")
    fast_loads, fast_dumps, loads, dumps = _FACTORIES[name]()
    BACKEND = name


select(os.environ.get("MCPFAST_JSON", "") or "orjson")
