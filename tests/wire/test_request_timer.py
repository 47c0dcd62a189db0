"""``RequestTimer`` and ``OperationKeys``'s last-key memo, each test run on both twins (the
compiled one where it is built), then the two compared on one script of requests."""

from __future__ import annotations

import asyncio
from importlib import import_module
from types import ModuleType
from types import SimpleNamespace as NS
from typing import Any

import pytest


def _modules() -> list[Any]:
    mods: list[Any] = [pytest.param("mcpfast.wire._counters_py", id="pure")]
    try:
        import_module("mcpfast.wire._counters")
    except ImportError:  # pragma: no cover - a pure-only checkout
        mods.append(pytest.param("mcpfast.wire._counters", id="compiled",
                                 marks=pytest.mark.skip(reason="the compiled twin is not built")))
    else:
        mods.append(pytest.param("mcpfast.wire._counters", id="compiled"))
    return mods


@pytest.fixture(params=_modules())
def mod(request: pytest.FixtureRequest) -> ModuleType:
    return import_module(request.param)


class Boom(Exception):
    code = -32602


class Deferred:
    """Stands in for the peer's Deferred: a callback run on resolve."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.value: Any = None
        self.exc: BaseException | None = None

    def add_done_callback(self, fn: Any) -> None:
        self.callbacks.append(fn)

    def result(self) -> Any:
        if self.exc is not None:
            raise self.exc
        return self.value

    def settle(self, value: Any = None, exc: BaseException | None = None) -> None:
        self.value, self.exc = value, exc
        for fn in self.callbacks:
            fn(self)


def error_type(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(code) if type(code) is int else type(exc).__qualname__


def make(mod: ModuleType, inner: Any, resolved: list[tuple[Any, ...]] | None = None, max_size: int = 100) -> Any:
    children: dict[tuple[Any, ...], Any] = {}
    seen = resolved if resolved is not None else []

    def resolve(key: tuple[Any, ...]) -> Any:
        seen.append(key)
        return children.setdefault(key, mod.Histogram("op"))

    keys = mod.OperationKeys(resolve, tool_method="tools/call", version_key="v", max_size=max_size)

    async def timed(timer: Any, peer: Any, request: Any, coro: Any, t0: int, slot: Any, session: Any) -> Any:
        try:
            result = await coro
        except BaseException as exc:
            timer.done(peer, request, t0, None, exc, slot, session)
            raise
        timer.done(peer, request, t0, result, None, slot, session)
        return result

    timer = mod.RequestTimer(inner, keys, error_type=error_type, tool_error="tool_error", timed=timed,
                             settles=(Deferred, asyncio.Future))
    return timer, keys, children


PEER = NS(state=NS(protocol_version="2025-11-25"), network_transport="pipe")


def req(method: str = "tools/call", name: Any = "echo", **params: Any) -> Any:
    p = dict(params)
    if name is not None:
        p["name"] = name
    return NS(method=method, params=p)


def counts(children: dict[tuple[Any, ...], Any]) -> dict[tuple[Any, ...], int]:
    return {k: h.count for k, h in children.items() if h.count}


def test_eager_answers_are_timed_by_outcome(mod: ModuleType) -> None:
    answers: list[Any] = [{"content": []}, {"isError": True}, "text", None]

    def inner(peer: Any, request: Any) -> Any:
        a = answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return a

    timer, _, children = make(mod, inner)
    for _ in range(4):
        timer.on_request(PEER, req())
    answers.append(Boom("bad"))
    with pytest.raises(Boom):
        timer.on_request(PEER, req())
    answers.append(KeyError("k"))
    with pytest.raises(KeyError):
        timer.on_request(PEER, req())
    base = ("tools/call", "echo")
    assert counts(children) == {(*base, "", "pipe", "2025-11-25"): 3, (*base, "tool_error", "pipe", "2025-11-25"): 1,
                                (*base, "-32602", "pipe", "2025-11-25"): 1, (*base, "KeyError", "pipe", "2025-11-25"): 1}
    assert timer.started == 6


def test_a_feed_observes_its_answers_at_exit_and_nests(mod: ModuleType) -> None:
    timer, _, children = make(mod, lambda peer, request: {})
    outer = timer.enter()
    timer.on_request(PEER, req())
    inner_mark = timer.enter()  # another peer's feed inside a handler's step
    timer.on_request(PEER, req(name="other"))
    assert sum(h.count for h in children.values()) == 0  # nothing observed before its exit
    timer.exit(inner_mark)
    assert counts(children) == {("tools/call", "other", "", "pipe", "2025-11-25"): 1}
    timer.on_request(PEER, req())
    timer.exit(outer)
    assert counts(children)[("tools/call", "echo", "", "pipe", "2025-11-25")] == 2
    timer.on_request(PEER, req())  # outside a feed: observed at once
    assert counts(children)[("tools/call", "echo", "", "pipe", "2025-11-25")] == 3


def test_futures_deferreds_and_coroutines_are_timed_when_they_settle(mod: ModuleType) -> None:
    pending: list[Any] = []

    def inner(peer: Any, request: Any) -> Any:
        return pending.pop(0)

    timer, _, children = make(mod, inner)
    loop = asyncio.new_event_loop()
    try:
        d_ok, d_err = Deferred(), Deferred()
        f_ok, f_cancel = loop.create_future(), loop.create_future()
        pending += [d_ok, d_err, f_ok, f_cancel]
        for _ in range(4):
            timer.on_request(PEER, req())
        assert sum(h.count for h in children.values()) == 0
        d_ok.settle({"isError": True})
        d_err.settle(exc=Boom())
        f_ok.set_result({})
        f_cancel.cancel()

        async def ok() -> dict[str, Any]:
            return {}

        async def fails() -> None:
            raise ValueError("x")

        pending += [ok(), fails()]
        c1 = timer.on_request(PEER, req())
        c2 = timer.on_request(PEER, req())
        assert asyncio.iscoroutine(c1) and asyncio.iscoroutine(c2)
        assert loop.run_until_complete(c1) == {}
        with pytest.raises(ValueError):
            loop.run_until_complete(c2)
        loop.run_until_complete(asyncio.sleep(0))  # the futures' callbacks run a loop turn later
    finally:
        loop.close()
    by_error = {k[2]: n for k, n in counts(children).items()}
    assert by_error == {"tool_error": 1, "-32602": 1, "": 2, "CancelledError": 1, "ValueError": 1}
    assert timer.started == 6


def test_a_call_back_in_passes_through_untimed(mod: ModuleType) -> None:
    seen: list[tuple[Any, ...]] = []

    def inner(peer: Any, request: Any, *rest: Any) -> Any:
        seen.append(rest)
        return {}

    timer, _, children = make(mod, inner)
    assert timer.on_request(PEER, req(), True) == {}
    assert timer.on_request(PEER, req()) == {}
    assert seen == [(True,), ()]
    assert sum(h.count for h in children.values()) == 1
    assert timer.started == 1


def test_the_last_key_is_reused_only_while_it_is_cached(mod: ModuleType) -> None:
    resolved: list[tuple[Any, ...]] = []
    timer, keys, children = make(mod, lambda peer, request: {}, resolved)
    # equal but distinct strings (a decoder makes new ones per message) hit the kept key
    for _ in range(3):
        timer.on_request(PEER, req("".join(["tools/", "call"]), "".join(["ec", "ho"])))
    assert len(resolved) == 1
    timer.on_request(NS(state=None, network_transport="tcp"), req())  # another connection: a new key
    timer.on_request(PEER, req())  # back: from the cache, not resolved again
    assert len(resolved) == 2
    keys.clear()  # what a key resolves to changed: the kept key goes too
    timer.on_request(PEER, req())
    assert len(resolved) == 3
    # nothing cached (max_size 0): nothing kept aside either, every request resolved
    resolved2: list[tuple[Any, ...]] = []
    timer2, keys2, _ = make(mod, lambda peer, request: {}, resolved2, max_size=0)
    for _ in range(3):
        timer2.on_request(PEER, req())
    assert len(resolved2) == 3 and len(keys2) == 0
    assert sum(h.count for h in children.values()) == 6


def test_a_legacy_peer_s_transport_and_version_are_read_once_per_state(mod: ModuleType) -> None:
    resolved: list[tuple[Any, ...]] = []
    timer, keys, children = make(mod, lambda peer, request: {}, resolved)
    reads: list[str] = []

    class Peer:
        def __init__(self, transport: str) -> None:
            self.transport = transport
            self.state: Any = None

        @property
        def network_transport(self) -> str:
            reads.append(self.transport)
            return self.transport

    a, b = Peer("pipe"), Peer("tcp")
    for _ in range(3):
        timer.on_request(a, req("ping", None))  # before initialize: no state, version ""
    assert reads == ["pipe"]
    a.state = NS(protocol_version="2025-06-18")  # initialize: a new state object, read again
    timer.on_request(a, req())
    timer.on_request(a, req())
    assert reads == ["pipe", "pipe"]
    timer.on_request(b, req())  # another peer: its own transport
    timer.on_request(a, req())  # back to the first: read again (only the last pair is kept)
    assert reads == ["pipe", "pipe", "tcp", "pipe"]
    timer.on_request(a, req(_meta={"v": "2026-07-28"}))  # a modern request: read, the memo kept
    timer.on_request(a, req())
    assert reads == ["pipe", "pipe", "tcp", "pipe", "pipe"]
    keys.clear()  # forgets the pair too
    timer.on_request(a, req())
    assert reads[-1] == "pipe" and len(reads) == 6
    assert [k[3:] for k in resolved] == [("pipe", ""), ("pipe", "2025-06-18"), ("tcp", ""),
                                         ("pipe", "2026-07-28"), ("pipe", "2025-06-18")]
    assert counts(children)[("tools/call", "echo", "", "pipe", "2025-06-18")] == 5


def test_the_twins_agree_on_a_script() -> None:
    try:
        mods = [import_module("mcpfast.wire._counters"), import_module("mcpfast.wire._counters_py")]
    except ImportError:  # pragma: no cover
        pytest.skip("the compiled twin is not built")
    peers = [PEER, NS(state=None, network_transport="tcp"), NS(state=NS(protocol_version=None), network_transport=None)]
    requests = [req(), req(name="t"), req(name=3), req("tools/list", None), req("ping", None),
                req(name="echo", _meta={"v": "2026-07-28"}), req(name="echo", _meta="m"), NS(method="x", params=None)]
    results = []
    answers = [{}, {"isError": True}, "x", Boom()]
    for m in mods:
        calls = iter(range(10**6))

        def inner(peer: Any, request: Any, calls: Any = calls) -> Any:
            a = answers[next(calls) % len(answers)]
            if isinstance(a, BaseException):
                raise a
            return a

        resolved: list[tuple[Any, ...]] = []
        timer, keys, children = make(m, inner, resolved, max_size=7)
        mark = timer.enter()
        for p in peers:
            for r in requests:
                try:
                    timer.on_request(p, r)
                except Boom:
                    pass
        timer.exit(mark)
        results.append((resolved, sorted(counts(children).items(), key=repr), timer.started, len(keys)))
    assert results[0] == results[1]




def resolving(mod: ModuleType, answers: list[Any], tool: str | None = None,
              resolved: list[tuple[Any, ...]] | None = None) -> Any:
    """A timer whose inner says what it resolved each request to, as ServerCore's tools/call
    does: the slot of ``tool`` (default: the request's name) and the peer's session (None for
    a modern request); it answers ``answers`` in turn (an exception is raised)."""
    made: list[Any] = []

    def inner(peer: Any, request: Any) -> Any:
        p = request.params
        modern = isinstance(p.get("_meta"), dict) and "v" in p["_meta"]
        made[0].resolved[0] = made[1].slot("tools/call", tool if tool is not None else p["name"])
        made[0].resolved[1] = None if modern else peer.state
        a = answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return a

    timer, keys, children = make(mod, inner, resolved)
    made += [timer, keys]
    return timer, keys, children


def test_a_slot_from_the_dispatcher_gives_the_labels_read_from_the_request(mod: ModuleType) -> None:
    peers = [PEER, NS(state=NS(protocol_version="2025-06-18"), network_transport="tcp")]
    requests = [req(), req(name="t"), req(_meta={"progressToken": 1}), req(_meta={"v": "2026-07-28"}),
                req(_meta={"v": 7})]
    outcomes: list[Any] = [{}, {"isError": True}, Boom(), "x"]
    script = [(p, r, o) for p in peers for r in requests for o in outcomes] * 2
    answers: list[Any] = []
    read, _, read_children = make(mod, lambda peer, request: _pop(answers))
    slotted, _, slot_children = resolving(mod, answers)
    for timer in (read, slotted):
        for p, r, o in script:
            answers.append(o)
            try:
                timer.on_request(p, r)
            except Boom:
                pass
        assert timer.resolved == [None, None]  # taken out after each request
    assert counts(slot_children) == counts(read_children)
    # by peer, then legacy: by tool and outcome; modern: by version (a non-str one is "") and outcome
    assert len(counts(read_children)) == 2 * (2 * 3 + 2 * 3)
    # a legacy request with a _meta but no version is labelled with its session's version
    assert counts(read_children)[("tools/call", "echo", "", "tcp", "2025-06-18")] == 2 * 2 * 2


def _pop(answers: list[Any]) -> Any:
    a = answers.pop(0)
    if isinstance(a, BaseException):
        raise a
    return a


def test_the_slot_is_what_labels_the_request_and_it_keeps_its_last_child(mod: ModuleType) -> None:
    resolved: list[tuple[Any, ...]] = []
    answers: list[Any] = [{}] * 7 + [{"isError": True}, {}]
    timer, keys, children = resolving(mod, answers, tool="resolved", resolved=resolved)
    slot = keys.slot("tools/call", "resolved")
    assert (slot.method, slot.tool) == ("tools/call", "resolved")
    for _ in range(3):
        timer.on_request(PEER, req(name="other"))  # the slot's tool, not the request's name
    assert resolved == [("tools/call", "resolved", "", "pipe", "2025-11-25")]
    keys.clear()  # what a key resolves to changed: the slots' kept children go too
    timer.on_request(PEER, req())
    assert len(resolved) == 2
    a = NS(state=NS(protocol_version="2025-06-18"), network_transport="pipe")
    timer.on_request(a, req())  # another peer: resolved
    a.state = NS(protocol_version="2025-11-25")  # a new session on it: read again, cached key
    timer.on_request(a, req())
    assert len(resolved) == 3
    timer.on_request(a, req())
    timer.on_request(a, req())  # an error: its own key
    timer.on_request(a, req())
    assert len(resolved) == 4
    assert counts(children) == {("tools/call", "resolved", "", "pipe", "2025-11-25"): 7,
                                ("tools/call", "resolved", "", "pipe", "2025-06-18"): 1,
                                ("tools/call", "resolved", "tool_error", "pipe", "2025-11-25"): 1}



def test_a_slot_is_used_by_its_own_request_only(mod: ModuleType) -> None:
    made: list[Any] = []

    def inner(peer: Any, request: Any) -> Any:
        timer, keys = made
        if request.method == "tools/list" or len(timer.resolved) < 2:  # resolves nothing
            return {}
        timer.resolved[0] = keys.slot("tools/call", request.params["name"] + "-slot")
        timer.resolved[1] = peer.state
        if request.params["name"] == "outer":  # another request handled inside this one's inner
            timer.on_request(peer, req(name="inner"))
        return {}

    timer, keys, children = make(mod, inner)
    made += [timer, keys]
    timer.on_request(PEER, req(name="outer"))
    timer.on_request(PEER, req("tools/list", None))  # right after a slotted request: not its slot
    timer.resolved[0] = keys.slot("tools/call", "stale")  # left there outside any request
    timer.on_request(PEER, req("tools/list", None))
    timer.resolved.clear()  # a shrunk list: labelled from the request, nothing read past its end
    timer.on_request(PEER, req(name="short"))
    v = ("", "pipe", "2025-11-25")
    assert counts(children) == {("tools/call", "inner-slot", *v): 1, ("tools/call", "outer", *v): 1,
                                ("tools/list", "", *v): 2, ("tools/call", "short", *v): 1}


def test_deferred_and_coroutine_answers_keep_their_slot(mod: ModuleType) -> None:
    answers: list[Any] = []
    timer, _, children = resolving(mod, answers, tool="resolved")
    d = Deferred()

    async def fails() -> None:
        raise ValueError("x")

    answers += [d, fails()]
    timer.on_request(PEER, req())
    coro = timer.on_request(PEER, req(_meta={"v": "2026-07-28"}))
    assert timer.resolved == [None, None]
    d.settle({"isError": True})
    with pytest.raises(ValueError):
        asyncio.run(coro)
    assert counts(children) == {("tools/call", "resolved", "tool_error", "pipe", "2025-11-25"): 1,
                                ("tools/call", "resolved", "ValueError", "pipe", "2026-07-28"): 1}
