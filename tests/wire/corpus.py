"""One corpus of wire inputs, shared by the codec tests, the twins-agree tests and the
backend-agreement tests. Every entry is bytes; the tests decide what each must give."""

from __future__ import annotations

from typing import Any

REQ = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'

VALID: list[bytes] = [
    REQ,
    b'{"jsonrpc":"2.0","id":"abc","method":"ping"}',
    b'{"jsonrpc":"2.0","id":0,"method":"x","params":[1,2]}',
    b'{"jsonrpc":"2.0","id":-9223372036854775808,"method":"x"}',
    b'{"jsonrpc":"2.0","id":18446744073709551615,"method":"x"}',
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
    b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":0.5}}',
    b'{"jsonrpc":"2.0","id":1,"result":{}}',
    b'{"jsonrpc":"2.0","id":"r","result":null}',
    b'{"jsonrpc":"2.0","id":2,"result":[1,"two",3.5,true,false,null]}',
    b'{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}',
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{"x":1}}}',
    b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"no id"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"x","extra":"ignored"}',
    b'{"id":1,"method":"x","jsonrpc":"2.0"}',
    b'\xef\xbb\xbf{"jsonrpc":"2.0","method":"bom"}',
    b'  {"jsonrpc":"2.0","method":"ws"}\r',
    b'{"jsonrpc":"2.0","method":"x","params":{"a":1,"a":2}}',
    '{"jsonrpc":"2.0","method":"ünïcødé/€","params":{"s":"😀 \\ud83d\\ude00 \\u00e9 /"}}'.encode(),
    b'{"jsonrpc":"2.0","method":"big","params":{"n":18446744073709551616,"m":-9223372036854775809}}',
    b'{"jsonrpc":"2.0","method":"f","params":{"a":1.5e300,"b":-0,"c":1E2,"d":0.1}}',
    b'[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]',
    b'[{"jsonrpc":"2.0","id":1,"method":"a"},5,{"jsonrpc":"1.0","id":"k","method":"c"},{"jsonrpc":"2.0","id":true,"method":"d"}]',
    b'{"jsonrpc":"2.0","method":"deep","params":{"a":' + b"[" * 1000 + b"]" * 1000 + b"}}",
]

INVALID_ENVELOPE: list[bytes] = [
    b'{"jsonrpc":"1.0","id":1,"method":"x"}',
    b'{"jsonrpc":2.0,"id":1,"method":"x"}',
    b'{"id":1,"method":"x"}',
    b'{"jsonrpc":"2.0","id":true,"method":"x"}',
    b'{"jsonrpc":"2.0","id":false,"method":"x"}',
    b'{"jsonrpc":"2.0","id":1.0,"method":"x"}',
    b'{"jsonrpc":"2.0","id":1.5,"method":"x"}',
    b'{"jsonrpc":"2.0","id":null,"method":"x"}',
    b'{"jsonrpc":"2.0","id":[1],"method":"x"}',
    b'{"jsonrpc":"2.0","id":{"a":1},"method":"x"}',
    b'{"jsonrpc":"2.0","id":7,"method":5}',
    b'{"jsonrpc":"2.0","id":7,"method":null}',
    b'{"jsonrpc":"2.0","id":"s","method":"x","params":"str"}',
    b'{"jsonrpc":"2.0","id":"s","method":"x","params":null}',
    b'{"jsonrpc":"2.0","id":"s","method":"x","params":3}',
    b'{"jsonrpc":"2.0","id":1}',
    b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"x","result":1}',
    b'{"jsonrpc":"2.0","id":1,"method":"x","error":{"code":1,"message":"m"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{},"result":null}',
    b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"x"}',
    b'{"jsonrpc":"2.0","id":-9223372036854775809,"result":1}',
    b'{"jsonrpc":"2.0","result":1}',
    b'{"jsonrpc":"2.0","id":null,"result":1}',
    b'{"jsonrpc":"2.0","id":true,"result":1}',
    b'{"jsonrpc":"2.0","id":1,"error":"bad"}',
    b'{"jsonrpc":"2.0","id":1,"error":{"message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":true,"message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":1}}',
    b'{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":2}}',
    b'{"jsonrpc":"2.0","id":1.5,"error":{"code":1,"message":"m"}}',
    b"[]",
    b"1",
    b'"str"',
    b"null",
    b"true",
    b"{}",
]

PARSE_ERRORS: list[bytes] = [
    b"",
    b"   ",
    b"{",
    b'{"jsonrpc":"2.0",',
    b'{"jsonrpc":"2.0" "id":1}',
    b"{'jsonrpc':'2.0'}",
    b'{"jsonrpc":"2.0","id":1,"method":"x"} trailing',
    b'{"jsonrpc":"2.0","id":01,"method":"x"}',
    b'{"jsonrpc":"2.0","id":1,"method":"x",}',
    b'{"jsonrpc":"2.0","method":"x","params":[1,]}',
    b'{"jsonrpc":"2.0","method":"x","params":{"n":NaN}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"n":Infinity}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"n":-Infinity}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"n":1e400}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"\\ud800"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"a\\udc00b"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"\xff"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"\xed\xa0\x80"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"\xc3"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"tab\there"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"ctl\x01"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"\\x41"}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"s":"unterminated}}',
    b'{"jsonrpc":"2.0","method":"x","params":{"t":tru}}',
    b"\xef\xbb\xbf",
    b"\xff\xfe{}",
    b'{"jsonrpc":"2.0","method":"deep","params":' + b"[" * 1100 + b"]" * 1100 + b"}",
    b"[" * 100000,
    b'{"a":1}{"b":2}',
    b"\x00",
]


def same(a: Any, b: Any) -> bool:
    """Equal values of identical types (1 and 1.0 differ), iteratively: inputs nest deep."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif x != y:
            return False
    return True
