"""A fake transport that records writes and reading pauses (for protocol tests)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__({"peername": ("fake", 0)})
        self.writes: list[bytes] = []
        self.reading = True
        self.pauses = 0
        self.closed = False
        self.protocol: Any = None

    def write(self, data: Any) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def pause_reading(self) -> None:
        if self.reading:
            self.pauses += 1
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def messages(self) -> list[Any]:
        """Every line written so far, decoded."""
        out = []
        for chunk in self.writes:
            assert chunk.endswith(b"\n"), chunk[-50:]
            for line in chunk.split(b"\n")[:-1]:
                out.append(json.loads(line))
        return out

    def by_id(self) -> dict[Any, Any]:
        return {m.get("id"): m for m in self.messages() if isinstance(m, dict)}


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def req(rid: Any, method: str, params: Any = None) -> bytes:
    d: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        d["params"] = params
    return line(d)


def note(method: str, params: Any = None) -> bytes:
    d: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        d["params"] = params
    return line(d)


def connect(protocol: Any) -> FakeTransport:
    t = FakeTransport()
    t.protocol = protocol
    protocol.connection_made(t)
    return t
