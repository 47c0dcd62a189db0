"""JSON-RPC envelope codec: mcpfast/wire/_jsonrpc.pyx (impl "c") and mcpfast/wire/_jsonrpc_py.py
(impl "py") on the active JSON backend (mcpfast/wire/_json.py, ``MCPFAST_JSON``), plus bare
orjson / ujson / stdlib json on the same bytes and dicts as baselines.

Inputs (tests/bench/payloads.py): a ``tools/call`` request of exactly ``size`` bytes, and a
``CallToolResult`` whose envelope encodes to exactly ``size`` bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .common import IMPLS, LIBS, SIZES, load, load_json_lib, payloads


class DecodeEnvelope:
    """``decode`` of one tools/call request."""

    params = (IMPLS, SIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: str) -> None:
        self.decode: Callable[[bytes], Any] = load(impl, "jsonrpc").decode
        self.data: bytes = payloads.tools_call_request(size)

    def time_decode(self, impl: str, size: str) -> None:
        self.decode(self.data)

    def peakmem_decode(self, impl: str, size: str) -> None:
        self.decode(self.data)


class DecodeAll:
    """``decode_all`` of 64 request frames (one splitter batch)."""

    params = (IMPLS, ["100B", "10KB"])
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: str) -> None:
        self.decode_all: Callable[[list[bytes]], Any] = load(impl, "jsonrpc").decode_all
        self.frames: list[bytes] = list(payloads.request_frames(size, 64))

    def time_decode_all_64(self, impl: str, size: str) -> None:
        self.decode_all(self.frames)


class EncodeResponse:
    """``encode_result`` of a result dict, and of the same result already encoded (bytes are
    passed through into the envelope)."""

    params = (IMPLS, SIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: str) -> None:
        self.encode_result: Callable[[int, Any], bytes] = load(impl, "jsonrpc").encode_result
        self.id: int = payloads.RESULT_ID
        self.result: dict[str, Any] = payloads.tools_call_result(size)
        self.result_bytes: bytes = payloads.result_bytes(size)

    def time_encode_result(self, impl: str, size: str) -> None:
        self.encode_result(self.id, self.result)

    def time_encode_result_passthrough(self, impl: str, size: str) -> None:
        self.encode_result(self.id, self.result_bytes)

    def peakmem_encode_result(self, impl: str, size: str) -> None:
        self.encode_result(self.id, self.result)


class JSONBaseline:
    """The JSON libraries alone: ``loads`` of the request bytes, and ``dumps`` of the envelope
    dict to the same wire bytes (ujson and json need keyword arguments and ``.encode()``)."""

    params = (LIBS, SIZES)
    param_names = ["lib", "size"]

    def setup(self, lib: str, size: str) -> None:
        module = load_json_lib(lib)
        self.loads: Callable[[bytes], Any] = module.loads
        if lib == "orjson":
            self.dumps: Callable[[Any], bytes] = module.dumps
        elif lib == "ujson":
            u_dumps = module.dumps

            def ujson_dumps(obj: Any) -> bytes:
                out: str = u_dumps(obj, ensure_ascii=False, escape_forward_slashes=False)
                return out.encode()

            self.dumps = ujson_dumps
        else:
            encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

            def json_dumps(obj: Any) -> bytes:
                return encode(obj).encode()

            self.dumps = json_dumps
        self.data: bytes = payloads.tools_call_request(size)
        self.envelope: dict[str, Any] = payloads.result_envelope(size)

    def time_loads(self, lib: str, size: str) -> None:
        self.loads(self.data)

    def time_dumps(self, lib: str, size: str) -> None:
        self.dumps(self.envelope)

    def peakmem_loads(self, lib: str, size: str) -> None:
        self.loads(self.data)
