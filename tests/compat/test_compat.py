"""The same server files, served by the official SDK and by mcpfast, must answer alike.

Each file in ``servers/`` is written for the official SDK (``from mcp.server.mcpserver import
MCPServer``). ``run_server.py`` runs it as it is (``sdk``) or with that import swapped for
``from mcpfast import MCPServer`` (``mcpfast``): the one change a user makes. Both run over
stdio as subprocesses, each driven by the official SDK's client (``mcp`` 2.3.0, in this
process) in both eras (``legacy``: ``initialize``; ``auto``: ``server/discover`` then the
2026-07-28 envelope) through the same scripted steps; one subprocess per (file, impl, era), all
four of a file started together, recorded once per test session. Each test compares one step's
raw JSON-RPC answer (result or error object, as received on the wire) and the notifications
that came with it (progress, log messages; tool calls ask for progress, and the client opts in
to log messages at ``debug``).

Allowed differences (normalised away before comparing; each is intentional):

* ``isError: false`` - the SDK always sends it, mcpfast omits it on success. The schema makes
  it optional with ``false`` as the default, so the two mean the same.
* capabilities in ``initialize``/``server/discover`` are compared exactly, but for two
  declarations MCP requires of what mcpfast does: ``logging`` (MCP: a server that sends
  ``notifications/message`` MUST declare it; both send log messages, the SDK 2.3 declares it in
  neither era) and, in a session, ``listChanged``/``subscribe`` ``true`` where the SDK says
  ``false`` (mcpfast sends the list-changed notifications and serves ``resources/subscribe``
  in a session; the SDK does neither). At 2026-07-28 both say ``true``.
* unknown tool - the SDK answers an ``isError`` result, mcpfast JSON-RPC -32602: MCP
  (server/tools, Error Handling) lists unknown tools under protocol errors, and mcpfast follows
  it (``ServerCore._handle_tools_call``). Compared as "both refuse, naming the tool".
* tools asking the client for input (elicitation, sampling, roots) at 2026-07-28: the SDK 2.3
  refuses them over stdio (-32600, no back-channel for server-initiated requests); mcpfast
  answers an ``InputRequiredResult`` (multi round-trip requests), the client retries with the
  answers. mcpfast is compared with the SDK's session there: the same input requested, the
  same final answer.
* ``params`` of a server->client request without parameters (``roots/list``): absent (SDK) or
  ``{}`` (mcpfast) mean the same.
* ``resultType`` in a session (legacy): a 2026-07-28 field; the SDK sends it in a session when a
  tool returns a ``CallToolResult`` it built itself (the model's default), mcpfast never does
  there. Ignored in sessions (it is compared at 2026-07-28).
* ``requestState`` in an ``InputRequiredResult`` - opaque to the client by the spec; each
  server encodes (and signs) its own.
* error messages and ``data`` - free text; the codes are compared. Where the SDK's code is
  wrong, mcpfast's is checked instead: an unknown prompt or a missing prompt argument gets code 0
  (sessions) or -32603 (2026-07-28) from the SDK, -32602 (invalid params) from mcpfast; an
  unknown resource gets -32602 in both eras from the SDK, while MCP says -32002 in sessions
  (2025-11-25) and -32602 at 2026-07-28 (SEP-2164), which is what mcpfast sends.
* the text of an argument-validation failure - the SDK sends pydantic's report, mcpfast its own
  one-line message; both are ``isError`` results (SEP-1303) that must name the argument.

``test_sse.py`` replays these steps over the deprecated HTTP+SSE transport (both servers'
``sse_app()`` under uvicorn, the SDK's ``sse_client``) with the same comparisons.

Genuine mismatches still open are marked ``xfail(strict=True)`` with the reason: they turn into
failures the day they are fixed, so the mark must go then.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from . import recorder, sdk

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")

SERVERS = Path(__file__).with_name("servers")

# a step: (id, SDK Client method, its arguments, kind); kind tells how the answers compare:
# "same" (equal after the normalisation above); "list" (a list result: its other fields and the
# order of its items; each item is compared by its own test, see ITEMS); "invalid:<arg>" (an
# argument-validation failure naming <arg>); "unknown-tool:<name>"; "error" (both JSON-RPC
# errors with the same code); "refused" (both JSON-RPC errors); "resource-not-found";
# "interactive" (a tool asking the client for input: see test_same_input_requests)
STEPS: dict[str, list[tuple[str, str, tuple[Any, ...], str]]] = {
    "tools_server": [
        ("tools/list", "list_tools", (), "list"),
        ("echo", "call_tool", ("echo", {"message": "héllo ✓"}), "same"),
        ("add", "call_tool", ("add", {"a": 1, "b": 2}), "same"),
        ("add-lax-string", "call_tool", ("add", {"a": "1", "b": 2}), "same"),
        ("scale-defaults", "call_tool", ("scale", {"value": 3}), "same"),
        ("scale-all", "call_tool", ("scale", {"value": 80, "factor": 3, "clamp": True}), "same"),
        ("optional-given", "call_tool", ("greet", {"name": "bob", "times": 2}), "same"),
        ("optional-omitted", "call_tool", ("greet", {}), "same"),
        ("optional-null", "call_tool", ("greet", {"name": None}), "same"),
        ("list-dict", "call_tool", ("total", {"numbers": [1, 2, 3], "weights": {"0": 2}}), "same"),
        ("literal-enum", "call_tool", ("pick", {"mode": "fast", "color": "green"}), "same"),
        ("literal-bad", "call_tool", ("pick", {"mode": "medium"}), "invalid:mode"),
        ("enum-bad", "call_tool", ("pick", {"mode": "fast", "color": "blue"}), "invalid:color"),
        ("constrained", "call_tool", ("constrained", {"name": "al", "tags": ["x"]}), "same"),
        ("constrained-too-short", "call_tool", ("constrained", {"name": "a"}), "invalid:name"),
        ("constrained-too-old", "call_tool", ("constrained", {"name": "al", "age": 200}), "invalid:age"),
        ("model-param", "call_tool", ("distance", {"p": {"x": 3, "y": 4}}), "same"),
        ("model-params", "call_tool", ("distance", {"p": {"x": 3}, "q": {"x": 1, "y": 1, "label": "q"}}), "same"),
        ("model-param-bad", "call_tool", ("distance", {"p": {"y": 4}}), "invalid:p"),
        ("typeddict-return", "call_tool", ("stats", {"values": [1, 2]}), "same"),
        ("dataclass-return", "call_tool", ("make_box", {"width": 1, "height": 2}), "same"),
        ("async-model-return", "call_tool", ("reply", {"items": ["a"]}), "same"),
        ("list-return", "call_tool", ("names", {}), "same"),
        ("untyped", "call_tool", ("untyped", {"x": 5}), "same"),
        ("none-return", "call_tool", ("nothing", {}), "same"),
        ("unstructured-dict", "call_tool", ("raw_dict", {}), "same"),
        ("raises", "call_tool", ("fail", {}), "same"),
        ("tool-error", "call_tool", ("refuse", {}), "same"),
        ("annotations", "call_tool", ("described", {}), "same"),
        ("missing-argument", "call_tool", ("add", {"a": 1}), "invalid:b"),
        ("wrong-type", "call_tool", ("add", {"a": "x", "b": 1}), "invalid:a"),
        ("unknown-tool", "call_tool", ("nope", {}), "unknown-tool:nope"),
    ],
    "resources_server": [
        ("resources/list", "list_resources", (), "list"),
        ("templates/list", "list_resource_templates", (), "list"),
        ("read-text", "read_resource", ("docs://index",), "same"),
        ("read-blob", "read_resource", ("docs://logo",), "same"),
        ("read-named", "read_resource", ("config://app",), "same"),
        ("read-template", "read_resource", ("docs://intro",), "same"),
        ("read-template-2-vars", "read_resource", ("users://7/posts/42",), "same"),
        ("read-template-raises", "read_resource", ("docs://missing",), "error"),
        ("read-unknown", "read_resource", ("nothing://here",), "resource-not-found"),
        ("prompts/list", "list_prompts", (), "list"),
        ("prompt-str", "get_prompt", ("review", {"code": "x = 1"}), "same"),
        ("prompt-default", "get_prompt", ("translate", {"text": "hello"}), "same"),
        ("prompt-all-args", "get_prompt", ("translate", {"text": "hello", "language": "German"}), "same"),
        ("prompt-messages", "get_prompt", ("conversation", {"topic": "owls"}), "same"),
        ("prompt-missing-arg", "get_prompt", ("review", {}), "refused"),
        ("prompt-unknown", "get_prompt", ("nope", {}), "refused"),
        ("complete", "complete", (types.PromptReference(type="ref/prompt", name="translate"),
                                  {"name": "language", "value": "Fr"}), "same"),
        ("complete-nothing", "complete", (types.PromptReference(type="ref/prompt", name="translate"),
                                          {"name": "text", "value": "x"}), "same"),
    ],
    "content_server": [
        ("tools/list", "list_tools", (), "list"),
        ("image", "call_tool", ("picture", {}), "same"),
        ("audio", "call_tool", ("sound", {}), "same"),
        ("mixed-list", "call_tool", ("mixed", {}), "same"),
        ("content-blocks", "call_tool", ("blocks", {}), "same"),
        ("call-tool-result", "call_tool", ("call_result", {}), "same"),
        ("prompts/list", "list_prompts", (), "list"),
        ("message-classes", "get_prompt", ("dialogue", {"question": "Why?"}), "same"),
    ],
    "interactive_server": [
        ("tools/list", "list_tools", (), "list"),
        ("elicitation", "call_tool", ("book", {"restaurant": "Chez Nous"}), "interactive"),
        ("sampling", "call_tool", ("haiku", {"topic": "rain"}), "interactive"),
        ("roots", "call_tool", ("workspace", {}), "interactive"),
    ],
    "context_server": [
        ("tools/list", "list_tools", (), "list"),
        ("progress-and-log", "call_tool", ("work", {"steps": 3}), "same"),
        ("lifespan", "call_tool", ("state", {}), "same"),
        ("read-own-resource", "call_tool", ("read_own", {}), "same"),
    ],
}

#: the items of each list step, by their key (name, uri or uriTemplate), each compared on its own
ITEMS: dict[tuple[str, str], list[str]] = {
    ("tools_server", "tools/list"): [
        "echo", "add", "scale", "greet", "total", "pick", "constrained", "distance", "stats", "make_box", "reply",
        "names", "untyped", "nothing", "raw_dict", "fail", "refuse", "described"],
    ("resources_server", "resources/list"): ["docs://index", "docs://logo", "config://app"],
    ("resources_server", "templates/list"): ["docs://{name}", "users://{user_id}/posts/{post_id}"],
    ("resources_server", "prompts/list"): ["review", "translate", "conversation"],
    ("context_server", "tools/list"): ["work", "state", "read_own"],
    ("interactive_server", "tools/list"): ["book", "haiku", "workspace"],
    ("content_server", "tools/list"): ["picture", "sound", "mixed", "blocks", "call_result"],
    ("content_server", "prompts/list"): ["dialogue"],
}

#: (server, step) or (server, list step, item) -> why mcpfast differs (routed to the owners of
#: mcpfast/server/)
XFAIL: dict[tuple[str, ...], str] = {}


@functools.cache
def recorded(server: str) -> dict[tuple[str, str], dict[str, recorder.Outcome]]:
    """All four recordings of one server file (made on first use, kept for the session)."""
    steps = [(sid, method, args) for sid, method, args, _ in STEPS[server]]
    return recorder.record_all(SERVERS / f"{server}.py", steps)


# ------------------------------------------------------------------------------ normalisation


def _norm_result(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _norm_result(v) for k, v in value.items()}
        if out.get("isError") is False:
            del out["isError"]
        return out
    if isinstance(value, list):
        return [_norm_result(v) for v in value]
    return value


def normalise(outcome: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(outcome)
    if "result" in out:
        out["result"] = _norm_result(out["result"])
    for req in out.get("requests", ()):
        if req.get("params") is None:
            req["params"] = {}  # no params and empty params mean the same for these requests
    for note in out.get("notifications", ()):
        params = note.get("params") or {}
        params.pop("progressToken", None)  # the client's own token, echoed
    for r in out.get("rounds", ()):
        r.pop("requestState", None)  # opaque to the client, each server's own encoding
    return out


def _items(outcome: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A list result -> (its other fields, {item key: item})."""
    res = outcome["result"]
    [key] = [k for k, v in res.items() if isinstance(v, list)]
    items = {}
    for item in res[key]:
        items[item.get("uriTemplate") or item.get("uri") or item["name"]] = item
    return {k: v for k, v in res.items() if k != key}, items


def _features(handshake: dict[str, Any]) -> dict[str, Any]:
    res = handshake["result"]
    shown = {k: v for k, v in res.items() if k != "capabilities"}
    return {"fields": shown}


def _refusal_text(outcome: dict[str, Any]) -> tuple[str, str]:
    """("result" | "error", the text) of a refused call."""
    if "error" in outcome:
        return "error", outcome["error"]["message"]
    res = outcome["result"]
    assert res.get("isError") is True, f"not refused: {res}"
    return "result", " ".join(b.get("text", "") for b in res["content"])


# ------------------------------------------------------------------------------ the tests


def _cases() -> list[Any]:
    cases = []
    for server, steps in STEPS.items():
        for sid, _method, _args, kind in steps:
            for mode in sdk.MODES:
                reason = XFAIL.get((server, sid))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                cases.append(pytest.param(server, sid, kind, mode, marks=marks, id=f"{server}-{sid}-{mode}"))
    return cases


@pytest.mark.parametrize(("server", "step", "kind", "mode"), _cases())
def test_same_answer(server: str, step: str, kind: str, mode: str) -> None:
    rec = recorded(server)
    theirs, ours = rec[("sdk", mode)][step], rec[("mcpfast", mode)][step]
    assert theirs, f"the SDK's server gave no answer to {step}"
    if kind == "interactive":
        # the SDK serves these in a session only: at 2026-07-28 over stdio it refuses them
        # (-32600, no back-channel), while mcpfast asks with an InputRequiredResult and gives the
        # answer a session gets; so both eras of mcpfast are compared with the SDK's session
        session = normalise(rec[("sdk", "legacy")][step])
        if mode != "legacy":
            assert theirs["error"]["code"] == -32600
        final = normalise(ours)["result"]
        final.pop("resultType", None)
        final.pop("_meta", None)
        assert final == session["result"]
        return
    compare(kind, server, step, mode, theirs, ours)


def compare(kind: str, server: str, step: str, mode: str, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """One step's outcomes, the SDK's and mcpfast's, compared as ``kind`` says (see STEPS)."""
    if kind == "same":
        theirs, ours = normalise(theirs), normalise(ours)
        if mode == "legacy":
            for o in (theirs, ours):
                o.get("result", {}).pop("resultType", None)  # see the module docstring
        assert ours == theirs
        return
    if kind == "list":
        (their_rest, their_items), (our_rest, our_items) = _items(normalise(theirs)), _items(normalise(ours))
        assert our_rest == their_rest
        assert list(our_items) == list(their_items) == ITEMS[(server, step)]
        return
    if kind in ("error", "refused", "resource-not-found"):
        assert "error" in theirs and "error" in ours, (theirs, ours)
        their_code, our_code = theirs["error"]["code"], ours["error"]["code"]
        if kind == "error":
            assert our_code == their_code
        elif kind == "resource-not-found":
            # MCP: -32002 in sessions, -32602 with data.uri at 2026-07-28 (SEP-2164); the SDK
            # 2.3 answers -32602 in both eras
            assert their_code == -32602
            assert our_code == (-32002 if mode == "legacy" else -32602)
            assert ours["error"]["data"] == theirs["error"]["data"]
        else:  # the SDK's code here is 0 (sessions) or -32603 (2026-07-28); ours says invalid params
            assert our_code == -32602
        return
    what, _, name = kind.partition(":")
    their_form, their_text = _refusal_text(theirs)
    our_form, our_text = _refusal_text(ours)
    assert name in their_text and name in our_text, (their_text, our_text)
    if what == "invalid":
        assert our_form == their_form == "result", f"SDK: {their_form}, mcpfast: {our_form} ({our_text})"
    else:  # unknown tool: the protocol error MCP lists (an allowed difference, see the docstring)
        assert (their_form, our_form) == ("result", "error")
        assert ours["error"]["code"] == -32602


def _input_cases() -> list[Any]:
    cases = []
    for server, steps in STEPS.items():
        for sid, _method, _args, kind in steps:
            if kind != "interactive":
                continue
            reason = XFAIL.get((server, sid, "requests"))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            for mode in sdk.MODES:
                cases.append(pytest.param(server, sid, mode, marks=marks, id=f"{server}-{sid}-{mode}"))
    return cases


@pytest.mark.parametrize(("server", "step", "mode"), _input_cases())
def test_same_input_requests(server: str, step: str, mode: str) -> None:
    """What the server asked the client: the SDK's server->client requests in a session, against
    mcpfast's requests in a session, or the input requests of its InputRequiredResult."""
    rec = recorded(server)
    theirs = normalise(rec[("sdk", "legacy")][step])["requests"]
    ours = normalise(rec[("mcpfast", mode)][step])
    if mode == "legacy":
        assert ours["requests"] == theirs
        assert "rounds" not in ours
    else:
        assert "requests" not in ours
        [round_] = ours["rounds"]
        assert round_["resultType"] == "input_required"
        assert list(round_["inputRequests"].values()) == theirs


def _item_cases() -> list[Any]:
    cases = []
    for (server, step), keys in ITEMS.items():
        for key in keys:
            for mode in sdk.MODES:
                reason = XFAIL.get((server, step, key))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                cases.append(pytest.param(server, step, key, mode, marks=marks, id=f"{server}-{step}-{key}-{mode}"))
    return cases


@pytest.mark.parametrize(("server", "step", "key", "mode"), _item_cases())
def test_same_list_item(server: str, step: str, key: str, mode: str) -> None:
    rec = recorded(server)
    _, theirs = _items(normalise(rec[("sdk", mode)][step]))
    _, ours = _items(normalise(rec[("mcpfast", mode)][step]))
    assert ours.get(key) == theirs[key]


@pytest.mark.parametrize("mode", sdk.MODES)
@pytest.mark.parametrize("server", list(STEPS))
def test_same_handshake(server: str, mode: str) -> None:
    rec = recorded(server)
    compare_handshake(server, mode, rec[("sdk", mode)]["@handshake"], rec[("mcpfast", mode)]["@handshake"])


def compare_handshake(server: str, mode: str, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """The ``initialize`` or ``server/discover`` results, compared (capabilities: see the docstring)."""
    assert _features(ours) == _features(theirs)
    their_caps, our_caps = theirs["result"]["capabilities"], copy.deepcopy(ours["result"]["capabilities"])
    assert our_caps.pop("logging") == {}  # see the module docstring: MCP requires it of a server that logs
    assert "logging" not in their_caps
    if mode == "legacy":  # mcpfast sends list-changed notifications and serves resources/subscribe
        for feature, flags in our_caps.items():
            for flag in ("listChanged", "subscribe"):
                if flag in flags:
                    assert flags[flag] is True
                    assert their_caps.get(feature, {}).get(flag) is False, (feature, flag, their_caps)
                    flags[flag] = False
    assert our_caps == their_caps
    # the completions capability follows a registered completion handler, in both
    assert ("completions" in our_caps) is (server == "resources_server")


#: the argument-validation steps (SEP-1303): compared again with mcpfast run as
#: ``MCPServer(validation_errors="error")`` (``run_server.py mcpfast-error``), the opt-in to
#: JSON-RPC -32602
INVALID_STEPS = [step for step in STEPS["tools_server"] if step[3].startswith("invalid:")]


@functools.cache
def recorded_error_mode() -> dict[str, dict[str, recorder.Outcome]]:
    """tools_server's argument-validation steps served by mcpfast with validation_errors="error", per era."""
    steps = [(sid, method, args) for sid, method, args, _ in INVALID_STEPS]

    async def main() -> list[dict[str, recorder.Outcome]]:
        return await asyncio.gather(*(recorder.record("mcpfast-error", SERVERS / "tools_server.py", mode, steps)
                                      for mode in sdk.MODES))

    return dict(zip(sdk.MODES, asyncio.run(main())))


@pytest.mark.parametrize("mode", sdk.MODES)
@pytest.mark.parametrize(("step", "kind"), [(sid, kind) for sid, _, _, kind in INVALID_STEPS])
def test_validation_errors_error(step: str, kind: str, mode: str) -> None:
    """With ``validation_errors="error"`` mcpfast answers a call whose arguments break the
    input schema with JSON-RPC -32602 naming the argument (the default is the SDK's ``isError``
    result, compared by test_same_answer)."""
    ours = recorded_error_mode()[mode][step]
    name = kind.partition(":")[2]
    our_form, our_text = _refusal_text(ours)
    assert our_form == "error", ours
    assert ours["error"]["code"] == -32602
    assert name in our_text, our_text


def test_invalid_steps_are_all_compared_in_error_mode() -> None:
    assert len(INVALID_STEPS) == 7


def test_the_import_swap_is_the_only_change() -> None:
    from .run_server import OURS_IMPORT, SDK_IMPORT, source_for

    for path in SERVERS.glob("*.py"):
        theirs, ours = source_for("sdk", path), source_for("mcpfast", path)
        assert SDK_IMPORT in theirs and SDK_IMPORT not in ours
        assert ours.replace(OURS_IMPORT, SDK_IMPORT) == theirs


def test_every_server_file_is_scripted() -> None:
    assert {p.stem for p in SERVERS.glob("*.py")} == set(STEPS)
