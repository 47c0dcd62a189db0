"""``Store.event_position`` and ``append_event(position=...)``: a writer hands an event id out
before the write lands (the HTTP front's SSE streams on a shared store), on both backends."""

from __future__ import annotations

from collections.abc import Callable

from mcpfast.stores import Store
from mcpfast.testing import async_test


def test_positions_grow(make: Callable[..., Store]) -> None:
    store = make()
    positions = [store.event_position() for _ in range(50)]
    keys = [tuple(int(x) for x in p.split("-")) for p in positions]
    assert keys == sorted(keys) and len(set(keys)) == 50


def test_an_id_made_before_the_write_replays(make: Callable[..., Store]) -> None:
    @async_test
    async def run() -> None:
        writer, reader = make(), make()  # (two clients: two processes, for Redis)
        try:
            ids = []
            for msg in (b"", b'{"n":1}', b'{"n":2}', b'{"n":3}'):
                pos = writer.event_position()
                ids.append(f"s1.0/{pos}")
                await writer.append_event("s1.0", msg, position=pos)
            found = await reader.replay_after(ids[0])  # the priming event's id
            assert found is not None
            assert found[0] == "s1.0"
            assert [m for _, m in found[1]] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
            assert [e for e, _ in found[1]] == ids[1:]  # the ids handed out are the stored ones
            found = await reader.replay_after(ids[2])
            assert found is not None and [m for _, m in found[1]] == [b'{"n":3}']
            # a position below the stream's last (another process's clock behind): stored after it
            await writer.append_event("s1.0", b'{"n":4}', position=ids[1].rpartition("/")[2])
            found = await reader.replay_after(ids[3])
            assert found is not None and [m for _, m in found[1]] == [b'{"n":4}']
        finally:
            await writer.close()
            await reader.close()

    run()
