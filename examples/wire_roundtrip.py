"""The wire core end to end: a byte stream of JSON-RPC lines in, typed messages out, replies
encoded and framed back. Run: python examples/wire_roundtrip.py"""

from __future__ import annotations

import mcpfast
from mcpfast.errors import JSONRPCError
from mcpfast.wire import _json
from mcpfast.wire.framing import LineSplitter
from mcpfast.wire.jsonrpc import Request, decode_all, encode_error, encode_result

STREAM = (
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}\n'
    b'{"jsonrpc":"2.0","id":2,"method":"tools/ca'  # a chunk boundary in the middle of a frame
)
REST = b'll","params":{"name":"echo","arguments":{"message":"again"}}}\r\n\n{not json}\n{"jsonrpc":"1.0","id":9,"method":"x"}\n'


def main() -> None:
    print(f"mcpfast {mcpfast.__version__}: compiled wire core = {mcpfast.EXTENSIONS}, JSON backend = {_json.BACKEND}")
    splitter = LineSplitter()
    out: list[bytes] = []  # the replies, framed and written at the end in one go
    for chunk in (STREAM, REST):
        for msg in decode_all(splitter.feed(chunk)):
            if isinstance(msg, JSONRPCError):  # -32700 / -32600, id recovered when usable
                out.append(encode_error(msg.id, msg.code, msg.message))
            elif isinstance(msg, Request):
                text = msg.params["arguments"]["message"]
                out.append(encode_result(msg.id, {"content": [{"type": "text", "text": text}]}))
    print(b"\n".join([*out, b""]).decode(), end="")


if __name__ == "__main__":
    main()
