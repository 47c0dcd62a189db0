"""JSON-RPC 2.0 envelope codec, compiled twin of ``_jsonrpc_py.py`` (the specification: read
its docstrings for the rules).

The fast path checks a decoded envelope with borrowed dict look-ups and builds the typed
record through the freelisted C constructor. Whenever the fast path sees anything wrong it
hands the value to the pure twin's checker, which raises the error: error texts therefore
come from one place and cannot drift between the twins.

Object pooling lives here, and only here: ``@cython.freelist(N)`` on the four message records
keeps up to N freed instances of each type and hands them back to the next ``__new__``, so a
decoded message's record costs no trip to the allocator (256 for requests and responses, the
records a busy connection makes per call; 64 for notifications and errors). That is the pooling
the wire core needs: invisible to callers, nothing to acquire or release, no use-after-release
or wrong-owner bug possible, bounded by construction. General-purpose pools of envelopes and
write buffers (``ObjectPool``/``BufferPool``, and a ``WriteBuffer``) were measured against what
the transports do and removed: each was 1.4 to 7 times slower than a dict literal, a
``b"".join`` or ``bytes + b"\\n"``, since CPython already serves small dicts and bytes from its
own free lists and a Python-level acquire/release costs more than the allocation it saves.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.string cimport memchr, memcmp, memcpy

from ..errors import EncodeError, InvalidRequest, JSONRPCError
from . import _json
from . import _jsonrpc_py as _spec



cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    bint PyUnicode_IS_ASCII(object)
    bint PyUnicode_IS_COMPACT_ASCII(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    const unsigned char* PyUnicode_1BYTE_DATA(object)
    bint PyDict_Next(object d, Py_ssize_t* pos, PyObject** key, PyObject** value)

cdef extern from "math.h" nogil:
    bint isfinite(double x)

cdef extern from "Python.h":
    double PyFloat_AS_DOUBLE(object)
    bint PyFloat_Check(object)
    bint PyDict_Check(object)
    bint PyList_Check(object)
    bint PyTuple_Check(object)


cdef bint _may_hide_nonfinite(bytes out, object obj) except -1:
    """Whether orjson's output may hold a NaN or an infinity (orjson writes them as null).

    Up to 512 bytes: look for the token "null" with memchr on "n" (cheaper than any walk at
    100 B). Beyond: walk the encoded value's containers for non-finite floats, whose cost
    follows the number of objects, not of bytes (scanning 10 KB of text took 3-10 us).
    """
    cdef const char* p = PyBytes_AS_STRING(out)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(out)
    cdef const char* end = p + n
    if n > 512:
        return _has_nonfinite(obj, 0)
    while True:
        p = <const char*>memchr(p, b"n", <size_t>(end - p))
        if p == NULL or end - p < 4:
            return False
        if p[1] == b"u" and p[2] == b"l" and p[3] == b"l":
            return True
        p += 1


cdef inline bint _is_leaf(object v) noexcept:
    # the JSON scalars that cannot hide a float, tested by exact type (no call, no MRO walk)
    cdef type t = type(v)
    return t is str or t is int or t is bool or v is None


cdef bint _has_nonfinite(object o, int depth) except -1:
    """Whether a value holds NaN or an infinity anywhere (subclasses count: orjson encodes
    them)."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    if PyFloat_Check(o):
        return not isfinite(PyFloat_AS_DOUBLE(o))
    if depth > 1100:  # orjson refuses deeper nesting before we get here; never recurse unbounded
        return False
    if PyDict_Check(o):
        while PyDict_Next(o, &pos, &key, &value):
            if not _is_leaf(<object>value) and _has_nonfinite(<object>value, depth + 1):
                return True
    elif PyList_Check(o):
        for item in <list>o:
            if not _is_leaf(item) and _has_nonfinite(item, depth + 1):
                return True
    elif PyTuple_Check(o):
        for item in <tuple>o:
            if not _is_leaf(item) and _has_nonfinite(item, depth + 1):
                return True
    return False


__all__ = [
    "Request",
    "Notification",
    "Response",
    "ErrorResponse",
    "Batch",
    "decode",
    "decode_all",
    "validate",
    "encode_request",
    "encode_notification",
    "encode_result",
    "encode_error",
    "encode_message",
]

# bound once (uvloop's stdlib.pxi habit): these are called per message
cdef object _fast_loads = _json.fast_loads
cdef object _recover_loads = _json.recover_loads
cdef object _recover_dumps = _json.recover_dumps
cdef object _check_encodable = _json.check_encodable
cdef object _dumps = _json.dumps
cdef object _spec_check = _spec._check
cdef object _spec_validate = _spec.validate
cdef object _spec_check_id = _spec._check_id
cdef bint _ORJSON = _json.BACKEND == "orjson"
cdef object _odumps = None
cdef object _oopt = _json.ORJSON_OPTIONS
if _ORJSON:
    import orjson
    _odumps = orjson.dumps

Batch = _spec.Batch


@cython.final
@cython.freelist(256)
cdef class Request:
    """A JSON-RPC request: it must get exactly one response with the same ``id``. (Its fields
    ``id``, ``method``, ``params`` are declared in ``_jsonrpc.pxd``, for ``_counters``.)"""

    def __init__(self, id, method, params=None):
        self.id = id
        self.method = method
        self.params = params

    def as_dict(self):
        d = {"jsonrpc": "2.0", "id": self.id, "method": self.method}
        if self.params is not None:
            d["params"] = self.params
        return d

    def __eq__(self, other):
        if type(other) is not Request:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Request(id={self.id!r}, method={self.method!r}, params={self.params!r})"


@cython.final
@cython.freelist(64)
cdef class Notification:
    """A JSON-RPC notification: never answered."""

    cdef public object method
    cdef public object params

    def __init__(self, method, params=None):
        self.method = method
        self.params = params

    def as_dict(self):
        d = {"jsonrpc": "2.0", "method": self.method}
        if self.params is not None:
            d["params"] = self.params
        return d

    def __eq__(self, other):
        if type(other) is not Notification:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Notification(method={self.method!r}, params={self.params!r})"


@cython.final
@cython.freelist(256)
cdef class Response:
    """A successful JSON-RPC response (``result`` is any JSON value; MCP sends objects)."""

    cdef public object id
    cdef public object result

    def __init__(self, id, result):
        self.id = id
        self.result = result

    def as_dict(self):
        return {"jsonrpc": "2.0", "id": self.id, "result": self.result}

    def __eq__(self, other):
        if type(other) is not Response:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Response(id={self.id!r}, result={self.result!r})"


@cython.final
@cython.freelist(64)
cdef class ErrorResponse:
    """A JSON-RPC error response. ``id`` is None when the failing message's id was unreadable."""

    cdef public object id
    cdef public object code
    cdef public object message
    cdef public object data

    def __init__(self, id, code, message, data=None):
        self.id = id
        self.code = code
        self.message = message
        self.data = data

    def as_dict(self):
        err = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return {"jsonrpc": "2.0", "id": self.id, "error": err}

    def to_exception(self):
        """The error as an ``MCPError`` (a ``McpError``: what a caller awaiting the request gets
        raised; the official SDK's class name)."""
        from ..errors import MCPError

        return MCPError(self.code, self.message, self.data, id=self.id)

    def __eq__(self, other):
        if type(other) is not ErrorResponse:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        return (
            f"ErrorResponse(id={self.id!r}, code={self.code!r}, message={self.message!r},"
            f" data={self.data!r})"
        )


# ---------------------------------------------------------------------------------- decoding

cdef inline bint _is_id(object v) noexcept:
    # exact types: bool is an int subclass and True would alias id 1
    return type(v) is str or type(v) is int


cdef inline bint _is_plain_id(object v) except -1:
    """An id the encoders take without asking the pure twin: a str, or an int that fits a
    C long long. Anything else (a wrong type, an int in [2**63, 2**64) or out of range) goes
    through ``_spec._check_id``, which accepts or raises the canonical error."""
    cdef int overflow = 0
    if type(v) is str:
        return True
    if type(v) is not int:
        return False
    PyLong_AsLongLongAndOverflow(v, &overflow)
    return overflow == 0


# member slots filled by one PyDict_Next walk (one walk beats a look-up per member: measured
# 4 look-ups ~ 85 ns, the walk ~ 40 ns on a tools/call envelope)
cdef enum:
    M_JSONRPC = 0
    M_ID = 1
    M_METHOD = 2
    M_PARAMS = 3
    M_RESULT = 4
    M_ERROR = 5
    M_COUNT = 6


cdef inline int _member(PyObject* key) noexcept:
    """Which JSON-RPC member a key names, or -1. Keys decoded from JSON are always str."""
    cdef object k = <object>key
    if not PyUnicode_IS_COMPACT_ASCII(k):
        return -1
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(k)
    cdef const char* c = <const char*>PyUnicode_1BYTE_DATA(k)
    if n == 7:
        return M_JSONRPC if memcmp(c, b"jsonrpc", 7) == 0 else -1
    if n == 2:
        return M_ID if c[0] == b"i" and c[1] == b"d" else -1
    if n == 6:
        if memcmp(c, b"method", 6) == 0:
            return M_METHOD
        if memcmp(c, b"params", 6) == 0:
            return M_PARAMS
        if memcmp(c, b"result", 6) == 0:
            return M_RESULT
        return -1
    if n == 5:
        return M_ERROR if memcmp(c, b"error", 5) == 0 else -1
    return -1


cdef inline bint _is_v2(object v) noexcept:
    # exactly the str "2.0" (a str subclass never comes out of a JSON decoder)
    return (
        type(v) is str
        and PyUnicode_IS_COMPACT_ASCII(v)
        and PyUnicode_GET_LENGTH(v) == 3
        and memcmp(PyUnicode_1BYTE_DATA(v), b"2.0", 3) == 0
    )


cdef object _check_fast(dict d):
    """The typed record for a valid envelope, or None (then the spec checker words the error)."""
    cdef PyObject* m[M_COUNT]
    cdef PyObject* key
    cdef PyObject* value
    cdef PyObject* pp
    cdef Py_ssize_t pos = 0
    cdef int which
    cdef Request req
    cdef Notification note
    cdef Response resp
    cdef ErrorResponse eresp
    m[0] = m[1] = m[2] = m[3] = m[4] = m[5] = NULL
    while PyDict_Next(d, &pos, &key, &value):
        which = _member(key)
        if which >= 0:
            m[which] = value
    if m[M_JSONRPC] is NULL or not _is_v2(<object>m[M_JSONRPC]):
        return None
    if m[M_METHOD] is not NULL:
        if m[M_RESULT] is not NULL or m[M_ERROR] is not NULL:
            return None  # a request that is also a response: invalid
        if type(<object>m[M_METHOD]) is not str:
            return None
        pp = m[M_PARAMS]
        if pp is not NULL and type(<object>pp) is not dict and type(<object>pp) is not list:
            return None  # null params included: JSON-RPC allows omission, not null
        params = <object>pp if pp is not NULL else None
        if m[M_ID] is NULL:
            note = Notification.__new__(Notification)
            note.method = <object>m[M_METHOD]
            note.params = params
            return note
        if not _is_id(<object>m[M_ID]):
            return None
        req = Request.__new__(Request)
        req.id = <object>m[M_ID]
        req.method = <object>m[M_METHOD]
        req.params = params
        return req
    if m[M_RESULT] is not NULL:
        if m[M_ERROR] is not NULL or m[M_ID] is NULL or not _is_id(<object>m[M_ID]):
            return None
        resp = Response.__new__(Response)
        resp.id = <object>m[M_ID]
        resp.result = <object>m[M_RESULT]
        return resp
    value = m[M_ERROR]
    if value is NULL or type(<object>value) is not dict:
        return None
    if m[M_ID] is not NULL and <object>m[M_ID] is not None and not _is_id(<object>m[M_ID]):
        return None
    pp = PyDict_GetItem(<dict>value, "code")
    if pp is NULL or type(<object>pp) is not int:
        return None
    code = <object>pp
    pp = PyDict_GetItem(<dict>value, "message")
    if pp is NULL or type(<object>pp) is not str:
        return None
    eresp = ErrorResponse.__new__(ErrorResponse)
    eresp.code = code
    eresp.message = <object>pp
    eresp.id = <object>m[M_ID] if m[M_ID] is not NULL else None
    pp = PyDict_GetItem(<dict>value, "data")
    eresp.data = <object>pp if pp is not NULL else None
    return eresp


cdef inline object _check(object obj, str where):
    cdef object msg
    if type(obj) is dict:
        msg = _check_fast(<dict>obj)
        if msg is not None:
            return msg
    _spec_check(obj, where)  # raises InvalidRequest with the canonical text
    raise AssertionError(f"twins disagree on the validity of {obj!r}")  # pragma: no cover


cdef object _validate(object obj):
    cdef Py_ssize_t i
    if type(obj) is list:
        if not obj:
            return _spec_validate(obj)  # raises
        items = []
        for i in range(len(<list>obj)):
            item = (<list>obj)[i]
            msg = _check_fast(<dict>item) if type(item) is dict else None
            if msg is None:
                try:
                    _spec_check(item, f"$[{i}]")
                except InvalidRequest as exc:
                    msg = exc
            items.append(msg)
        return Batch(items)
    return _check(obj, "$")


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def validate(obj):
    """Validate an already decoded JSON value as a message or a batch (see ``decode``)."""
    return _validate(obj)


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def decode(data):
    """Decode and validate one JSON-RPC message (or batch) from its UTF-8 bytes.

    Raises ``ParseError`` (-32700) for bytes that are not JSON and ``InvalidRequest``
    (-32600, ``.id`` recovered when usable) for JSON that is not a JSON-RPC 2.0 message.
    """
    try:
        obj = _fast_loads(data)
    except Exception as exc:
        obj = _recover_loads(data, exc)
    return _validate(obj)


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def decode_all(list frames):
    """Decode many frames in one call; a frame that fails gives its error object in place."""
    cdef list out = []
    for frame in frames:
        try:
            obj = _fast_loads(frame)
        except Exception as exc:
            try:
                obj = _recover_loads(frame, exc)
            except JSONRPCError as err:
                out.append(err)
                continue
        try:
            out.append(_validate(obj))
        except JSONRPCError as err:
            out.append(err)
    return out


# ---------------------------------------------------------------------------------- encoding

cdef object _encode(object obj):
    """``_json.dumps`` with the orjson call inlined and its NaN check done in C."""
    cdef bytes out
    if not _ORJSON:
        return _dumps(obj)
    try:
        out = _odumps(obj, None, _oopt)
    except TypeError as exc:
        return _recover_dumps(obj, exc)
    if _may_hide_nonfinite(out, obj):
        _check_encodable(obj)  # raises the canonical EncodeError
    return out


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def encode_request(id, method, params=None):
    """``{"jsonrpc":"2.0","id":..,"method":..,"params":..}`` (params omitted when None)."""
    if not _is_plain_id(id):
        _spec_check_id(id)
    if type(method) is not str:
        raise TypeError(f"Expected a str method, got {type(method).__name__}")
    if params is None:
        return _encode({"jsonrpc": "2.0", "id": id, "method": method})
    return _encode({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def encode_notification(method, params=None):
    """``{"jsonrpc":"2.0","method":..,"params":..}`` (params omitted when None)."""
    if type(method) is not str:
        raise TypeError(f"Expected a str method, got {type(method).__name__}")
    if params is None:
        return _encode({"jsonrpc": "2.0", "method": method})
    return _encode({"jsonrpc": "2.0", "method": method, "params": params})


cdef const char* _HEAD = b'{"jsonrpc":"2.0","id":'
cdef const char* _MID = b',"result":'
cdef enum:
    _NHEAD = 22
    _NMID = 10


cdef bytes _envelope(object id, const char* body, Py_ssize_t nbody):
    """'{"jsonrpc":"2.0","id":' + id + ',"result":' + body + '}' in one allocation.

    64-bit int ids and plain ASCII string ids are written here directly (no intermediate
    bytes object: measured ~25 ns a message); anything else goes through the encoder.
    """
    cdef int overflow = 0
    cdef long long v
    cdef unsigned long long u
    cdef char digits[24]
    cdef const char* idp = NULL
    cdef Py_ssize_t nid = 0, i
    cdef int quote = 0
    cdef unsigned char ch
    cdef bytes idb
    if type(id) is int:
        v = PyLong_AsLongLongAndOverflow(id, &overflow)
        if not overflow:
            # digits backwards from the end; the magnitude as unsigned so -2**63 fits
            idp = digits + 24
            u = <unsigned long long>(-(v + 1)) + 1 if v < 0 else <unsigned long long>v
            while True:
                idp -= 1
                (<char*>idp)[0] = <char>(48 + u % 10)
                u //= 10
                if u == 0:
                    break
            if v < 0:
                idp -= 1
                (<char*>idp)[0] = b"-"
            nid = digits + 24 - idp
    elif PyUnicode_IS_ASCII(id):
        nid = PyUnicode_GET_LENGTH(id)
        idp = <const char*>PyUnicode_1BYTE_DATA(id)
        quote = 1
        for i in range(nid):
            ch = <unsigned char>idp[i]
            if ch < 0x20 or ch == 0x22 or ch == 0x5C or ch == 0x7F:
                idp = NULL  # needs escaping: let the encoder write it
                quote = 0
                break
    if idp == NULL:
        idb = _encode(id)
        idp = PyBytes_AS_STRING(idb)
        nid = PyBytes_GET_SIZE(idb)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, _NHEAD + nid + 2 * quote + _NMID + nbody + 1)
    cdef char* w = PyBytes_AS_STRING(out)
    memcpy(w, _HEAD, _NHEAD)
    w += _NHEAD
    if quote:
        w[0] = b'"'
        w += 1
    memcpy(w, idp, <size_t>nid)
    w += nid
    if quote:
        w[0] = b'"'
        w += 1
    memcpy(w, _MID, _NMID)
    w += _NMID
    if nbody:
        memcpy(w, body, <size_t>nbody)
    w[nbody] = b"}"
    return out


cdef bytes _encode_result_body(object id, object result):
    cdef bytes out
    if _ORJSON:
        try:
            out = _odumps(result, None, _oopt)
        except TypeError as exc:
            return _recover_dumps({"jsonrpc": "2.0", "id": id, "result": result}, exc)
        if _may_hide_nonfinite(out, result):
            _check_encodable({"jsonrpc": "2.0", "id": id, "result": result})
        return out
    try:
        return _dumps(result)
    except EncodeError:
        _recover_dumps({"jsonrpc": "2.0", "id": id, "result": result})
        raise


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def encode_result(id, result):
    """``{"jsonrpc":"2.0","id":..,"result":..}``; bytes-like ``result`` is passed through as
    already-encoded JSON (see the pure twin)."""
    cdef bytes body
    cdef const unsigned char[:] raw
    cdef const char* start = b""
    if not _is_plain_id(id):
        _spec_check_id(id)
    if type(result) is dict:  # MCP results are objects: test that first (isinstance costs ~20 ns)
        body = _encode_result_body(id, result)
        return _envelope(id, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body))
    if type(result) is bytes:
        return _envelope(id, PyBytes_AS_STRING(result), PyBytes_GET_SIZE(result))
    if isinstance(result, (bytearray, memoryview)):
        raw = result
        if raw.shape[0]:
            start = <const char*>&raw[0]
        return _envelope(id, start, raw.shape[0])
    body = _encode_result_body(id, result)
    return _envelope(id, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body))


# binding=False: a plain C method, not a CyFunction (whose vectorcall shim cost ~30 ns)
@cython.binding(False)
def encode_error(id, code, message, data=None):
    """``{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":..,"data":..}}``."""
    if id is not None and not _is_plain_id(id):
        _spec_check_id(id)
    if type(code) is not int:
        raise TypeError(f"Expected an int error code, got {type(code).__name__}")
    if data is None:
        err = {"code": code, "message": message}
    else:
        err = {"code": code, "message": message, "data": data}
    return _encode({"jsonrpc": "2.0", "id": id, "error": err})


def encode_message(msg):
    """Encode a message object (any of the four classes of this module)."""
    t = type(msg)
    if t is Request:
        return encode_request(msg.id, msg.method, msg.params)
    if t is Notification:
        return encode_notification(msg.method, msg.params)
    if t is Response:
        return encode_result(msg.id, msg.result)
    if t is ErrorResponse:
        return encode_error(msg.id, msg.code, msg.message, msg.data)
    raise TypeError(f"Expected a Request, Notification, Response or ErrorResponse, got {t.__name__}")
