#!/usr/bin/env python3
"""The "everything server" the official MCP conformance suite tests, written with mcpfast.

    python conformance/everything_server.py --port 3001 [--host 127.0.0.1] [--frontend builtin|asgi]

serves every fixture the suite's server scenarios look for (``../shared/CONFORMANCE.md`` §5.1)
over Streamable HTTP at ``http://HOST:PORT/mcp``, speaking both eras on that one URL: legacy
sessions (``initialize``, 2025-11-25 and earlier) and the stateless 2026-07-28 wire.

It is written the way a user of the official SDK's ``MCPServer`` would write it (decorators,
``ctx: Context``), so it doubles as a test of that surface. Where a fixture needs something the
decorator API has no spelling for (a hand-written 2020-12 input schema) it uses ``app.core``, the
``ServerCore`` underneath.

Handlers that need input from the client are written once for both eras: at 2026-07-28 asking
raises ``InputRequired`` (the request is answered with an ``InputRequiredResult``, the client
retries with ``inputResponses``); in a legacy session the same calls become server->client
requests. The MRTR fixtures (``test_input_required_result_*``) raise ``InputRequired`` themselves
because the suite fixes the keys and shapes of their input requests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import struct
import sys
import wave
import zlib
from typing import Annotated, Any

# the installed mcpfast is served (pip install . or -e .): the checkout is never put on the path,
# so the conformance run tests what a release ships
from pydantic import Field

from mcpfast import Context, MCPServer
from mcpfast.errors import InternalError, ToolError
from mcpfast.server import InputRequired, MissingClientCapability, ToolResult

log = logging.getLogger("everything_server")

SERVER_NAME = "mcpfast-everything-server"
SERVER_VERSION = "1.0.0"


# ---------------------------------------------------------------------------- media fixtures
# Made here rather than pasted as base64: a real 1x1 PNG and a real (silent) WAV file.

def _png_1x1() -> bytes:
    """A valid 1x1 RGBA PNG (one opaque red pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # width, height, depth 8, RGBA
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00\xff")  # filter byte + one pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """A valid mono 8 kHz 16-bit WAV file holding 10 ms of silence."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 80)
    return buf.getvalue()


PNG_BYTES = _png_1x1()
PNG_B64 = base64.b64encode(PNG_BYTES).decode("ascii")
WAV_B64 = base64.b64encode(_wav_silence()).decode("ascii")


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image() -> dict[str, Any]:
    return {"type": "image", "data": PNG_B64, "mimeType": "image/png"}


def _embedded(uri: str, mime: str, text: str) -> dict[str, Any]:
    return {"type": "resource", "resource": {"uri": uri, "mimeType": mime, "text": text}}


# ---------------------------------------------------------------------------- MRTR helpers

def _elicit_request(message: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An ``elicitation/create`` input request (form mode, flat object schema)."""
    return {"method": "elicitation/create", "params": {
        "mode": "form", "message": message,
        "requestedSchema": {"type": "object", "properties": properties, "required": required},
    }}


def _name_request(message: str = "What is your name?") -> dict[str, Any]:
    return _elicit_request(message, {"name": {"type": "string"}}, ["name"])


def _sampling_request(text: str, max_tokens: int) -> dict[str, Any]:
    return {"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": _text(text)}], "maxTokens": max_tokens,
    }}


_ROOTS_REQUEST: dict[str, Any] = {"method": "roots/list", "params": {}}


def _accepted(answer: Any, field: str) -> Any:
    """The ``field`` of an accepted ``ElicitResult``, or None when ``answer`` is not one.

    The answers come from the client (``inputResponses``) and are untrusted: anything that is
    not an object with ``action: "accept"`` and a ``content`` object counts as no answer, so the
    fixture asks again instead of completing with garbage (SEP-2322: validate input responses).
    """
    if type(answer) is not dict or answer.get("action") != "accept":
        return None
    content = answer.get("content")
    if type(content) is not dict:
        return None
    return content.get(field)


def _sampled_text(answer: Any) -> str | None:
    """The text of a ``CreateMessageResult``, or None when ``answer`` is not one."""
    if type(answer) is not dict:
        return None
    content = answer.get("content")
    if type(content) is dict and content.get("type") == "text" and type(content.get("text")) is str:
        return content["text"]  # type: ignore[no-any-return]
    return None


def _is_answer(answer: Any) -> bool:
    return type(answer) is dict


# ---------------------------------------------------------------------------- the server

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"response": {"type": "string", "description": "The user's answer"}},
    "required": ["response"],
}


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        },
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"],
                   "default": "active"},
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
}

SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "description": "Plain single-select",
                           "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "description": "Single-select with titles", "oneOf": [
            {"const": "value1", "title": "First Option"},
            {"const": "value2", "title": "Second Option"},
            {"const": "value3", "title": "Third Option"},
        ]},
        "legacyEnum": {"type": "string", "description": "Deprecated enumNames form",
                       "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "description": "Plain multi-select",
                          "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "description": "Multi-select with titles", "items": {"anyOf": [
            {"const": "value1", "title": "First Choice"},
            {"const": "value2", "title": "Second Choice"},
            {"const": "value3", "title": "Third Choice"},
        ]}},
    },
    "required": ["untitledSingle", "titledSingle", "legacyEnum", "untitledMulti", "titledMulti"],
}


def build_app() -> MCPServer[Any]:
    """The everything server (every tool, resource and prompt the suite looks for)."""
    app: MCPServer[Any] = MCPServer(SERVER_NAME, version=SERVER_VERSION,
                    instructions="Conformance fixture: every MCP feature, for the official test suite.")

    # ------------------------------------------------------------------ content tools

    @app.tool()
    def test_simple_text() -> str:
        """Returns one text block."""
        return "This is a simple text response for testing."

    @app.tool()
    def test_image_content() -> ToolResult:
        """Returns one PNG image block."""
        return ToolResult(content=[_image()])

    @app.tool()
    def test_audio_content() -> ToolResult:
        """Returns one WAV audio block."""
        return ToolResult(content=[{"type": "audio", "data": WAV_B64, "mimeType": "audio/wav"}])

    @app.tool()
    def test_embedded_resource() -> ToolResult:
        """Returns one embedded text resource."""
        return ToolResult(content=[
            _embedded("test://embedded-resource", "text/plain", "This is an embedded resource content."),
        ])

    @app.tool()
    def test_multiple_content_types() -> ToolResult:
        """Returns text, image and embedded resource blocks together."""
        return ToolResult(content=[
            _text("Multiple content types test:"),
            _image(),
            _embedded("test://mixed-content-resource", "application/json", json.dumps({"test": "data", "value": 123})),
        ])

    @app.tool()
    def test_error_handling() -> str:
        """Always fails (the failure is reported as a result with isError: true)."""
        raise RuntimeError("This tool intentionally returns an error for testing")

    # ------------------------------------------------------------------ notifications while running

    @app.tool()
    async def test_tool_with_logging(ctx: Context) -> str:
        """Sends three info log messages, 50 ms apart."""
        await ctx.info("Tool execution started")
        await asyncio.sleep(0.05)
        await ctx.info("Tool processing data")
        await asyncio.sleep(0.05)
        await ctx.info("Tool execution completed")
        return "Tool with logging executed successfully"

    @app.tool()
    async def test_logging_tool(ctx: Context) -> str:
        """Logs at info level: at 2026-07-28 nothing may be sent unless the request set a log level."""
        await ctx.info("Diagnostic log message")
        return "Logging evaluated"

    @app.tool()
    async def test_tool_with_progress(ctx: Context) -> str:
        """Reports progress 0, 50 and 100 of 100 (when the request carries a progress token)."""
        for step in (0, 50, 100):
            if step:
                await asyncio.sleep(0.05)
            await ctx.report_progress(step, 100, f"Completed step {step} of 100")
        return str(ctx.progress_token)

    @app.tool()
    async def test_reconnection(ctx: Context) -> str:
        """Ends its SSE response stream mid-call; the client resumes with Last-Event-ID (SEP-1699)."""
        await ctx.info("Before disconnect")
        await ctx.close_sse_stream()
        await asyncio.sleep(0.2)  # the rest is stored and replayed when the client reconnects
        await ctx.info("After reconnect")
        return "Reconnection test completed"

    # ------------------------------------------------------------------ input from the client

    @app.tool()
    async def test_sampling(prompt: str, ctx: Context) -> str:
        """Asks the client's LLM (sampling/createMessage) and returns its answer."""
        # the SDK's spelling (ctx.session.create_message): the result reads by attribute
        result = await ctx.session.create_message(
            messages=[{"role": "user", "content": _text(prompt)}], max_tokens=100)
        text = result.content.text if result.content.type == "text" else "No response"
        return f"LLM response: {text}"

    @app.tool()
    async def test_elicitation(message: str, ctx: Context) -> str:
        """Asks the user (elicitation/create) and returns the answer."""
        # a schema dict, not a pydantic model: the suite's client answers with fields of its own
        # choosing, which a model would reject; the answer is echoed as given
        result = await ctx.elicit(message=message, schema=RESPONSE_SCHEMA)
        return f"User response: action={result.action}, content={json.dumps(result.get('content') or {})}"

    @app.tool()
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        """Elicitation whose schema gives a default for every primitive type (SEP-1034)."""
        result = await ctx.elicit("Please provide user information", SEP1034_SCHEMA)
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.get('content') or {})}"

    @app.tool()
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        """Elicitation with all five enum schema forms (SEP-1330)."""
        result = await ctx.elicit("Please select values using different enum schema types", SEP1330_SCHEMA)
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.get('content') or {})}"

    @app.tool()
    async def test_streaming_elicitation(ctx: Context) -> str:
        """Asks for input mid-call: at 2026-07-28 the answer is an InputRequiredResult, never a
        server->client request on the response stream."""
        await ctx.report_progress(50, 100, "halfway")
        result = await ctx.elicit("Continue?", {"type": "object", "properties": {"ok": {"type": "boolean"}}})
        return f"Streaming complete: action={result.action}"

    @app.tool()
    async def test_missing_capability(ctx: Context) -> str:
        """Needs the client's sampling capability; without it the call is a -32021 error."""
        if "sampling" not in ctx.client_capabilities:
            raise MissingClientCapability.of({"sampling": {}}, "tool 'test_missing_capability'")
        return "Client declared sampling capability; proceeding."

    # ------------------------------------------------------------------ SEP-2243 custom header

    @app.tool()
    def test_x_mcp_header(
        region: Annotated[str, Field(description="Mirrored into the Mcp-Param-Region header",
                                     json_schema_extra={"x-mcp-header": "Region"})] = "<none>",
    ) -> str:
        """Echoes its region argument, which clients mirror into Mcp-Param-Region (SEP-2243)."""
        return f"region={region}"

    # ------------------------------------------------------------------ list changes (SEP-2575)

    def dynamic_tool() -> str:
        """Exists only for an instant (test_trigger_tool_change)."""
        return "dynamic"

    def dynamic_prompt() -> str:
        return "dynamic"

    # async: list changes notify the open streams, which belong to the event loop's thread
    # (a plain def tool may run in the thread pool)
    @app.tool()
    async def test_trigger_tool_change() -> str:
        """Adds and removes a tool: subscribers hear notifications/tools/list_changed."""
        app.add_tool(dynamic_tool, name="test_dynamic_tool")
        app.remove_tool("test_dynamic_tool")
        return "tool list changed"

    @app.tool()
    async def test_trigger_prompt_change() -> str:
        """Adds and removes a prompt: subscribers hear notifications/prompts/list_changed."""
        app.add_prompt(dynamic_prompt, name="test_dynamic_prompt", description="Exists only for an instant")
        app.remove_prompt("test_dynamic_prompt")
        return "prompt list changed"

    # ------------------------------------------------------------------ MRTR (SEP-2322)

    @app.tool()
    async def test_input_required_result_elicitation(ctx: Context) -> str:
        """One elicitation round (key user_name), then a greeting."""
        name = _accepted(ctx.input_responses.get("user_name"), "name")
        if type(name) is not str:
            raise InputRequired({"user_name": _name_request()})
        return f"Hello, {name}!"

    @app.tool()
    async def test_input_required_result_sampling(ctx: Context) -> str:
        """One sampling round (key capital_question), then the model's answer."""
        text = _sampled_text(ctx.input_responses.get("capital_question"))
        if text is None:
            raise InputRequired({"capital_question": _sampling_request("What is the capital of France?", 100)})
        return f"Model said: {text}"

    @app.tool()
    async def test_input_required_result_list_roots(ctx: Context) -> str:
        """One roots/list round (key client_roots), then how many roots the client has."""
        answer = ctx.input_responses.get("client_roots")
        roots = answer.get("roots") if type(answer) is dict else None
        if type(roots) is not list:
            raise InputRequired({"client_roots": _ROOTS_REQUEST})
        return f"Client exposed {len(roots)} root(s)."

    @app.tool()
    async def test_input_required_result_request_state(ctx: Context) -> str:
        """One round carrying requestState; the retry must echo it (answer contains state-ok)."""
        if _is_answer(ctx.input_responses.get("confirm")) and ctx.state == "request-state-nonce":
            return "state-ok: confirmation received"
        raise InputRequired(
            {"confirm": _elicit_request("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])},
            "request-state-nonce")

    @app.tool()
    async def test_input_required_result_multiple_inputs(ctx: Context) -> str:
        """Elicitation, sampling and roots asked for together in one round."""
        have = ctx.input_responses
        if all(_is_answer(have.get(k)) for k in ("user_name", "greeting", "client_roots")):
            return "All inputs received."
        raise InputRequired({
            "user_name": _name_request(),
            "greeting": _sampling_request("Generate a greeting", 50),
            "client_roots": _ROOTS_REQUEST,
        }, "multiple-inputs")

    @app.tool()
    async def test_input_required_result_multi_round(ctx: Context) -> str:
        """Three rounds: step1 (a name), step2 (a colour), then the answer; the state evolves."""
        state = ctx.state if type(ctx.state) is dict else {"round": 0}
        have = ctx.input_responses
        if state.get("round") == 1:
            name = _accepted(have.get("step1"), "name")
            if name is not None:
                raise InputRequired(
                    {"step2": _elicit_request("Step 2: What is your favorite color?",
                                              {"color": {"type": "string"}}, ["color"])},
                    {"round": 2, "name": name})
        elif state.get("round") == 2:
            color = _accepted(have.get("step2"), "color")
            if color is not None:
                return f"{state.get('name')} likes {color}."
        # first round, or a missing / out-of-order answer: start over
        raise InputRequired({"step1": _name_request("Step 1: What is your name?")}, {"round": 1})

    @app.tool()
    async def test_input_required_result_tampered_state(ctx: Context) -> str:
        """Issues a signed requestState; a tampered echo is rejected by the core (-32602)."""
        if ctx.state is None:
            raise InputRequired(
                {"confirm": _elicit_request("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])}, "round-1")
        return f"state-ok: {ctx.state}"

    @app.tool()
    async def test_input_required_result_capabilities(ctx: Context) -> str:
        """Asks only for what the client declared it can answer."""
        caps = ctx.client_capabilities
        wanted: dict[str, Any] = {}
        if "sampling" in caps:
            wanted["sample"] = _sampling_request("Say hello", 50)
        if "elicitation" in caps:
            wanted["ask"] = _name_request()
        if "roots" in caps:
            wanted["roots"] = _ROOTS_REQUEST
        if wanted and not all(_is_answer(ctx.input_responses.get(k)) for k in wanted):
            raise InputRequired(wanted, "capability-gated")
        return "Capability-gated inputs received."

    # ------------------------------------------------------------------ JSON Schema 2020-12

    def json_schema_2020_12_tool(**arguments: Any) -> str:
        return "json_schema_2020_12_tool"

    # The decorator API derives a schema from the signature; this tool's schema is written by
    # hand (the suite checks that 2020-12 keywords survive into tools/list), so it goes to the core.
    app.core.add_tool("json_schema_2020_12_tool", json_schema_2020_12_tool, input_schema=JSON_SCHEMA_2020_12,
                      description="Has an input schema using JSON Schema 2020-12 keywords ($defs, $anchor, "
                                  "allOf/anyOf, if/then/else).")

    # ------------------------------------------------------------------ resources

    @app.resource("test://static-text", mime_type="text/plain")
    def static_text() -> str:
        """A static text resource."""
        return "This is the content of the static text resource."

    @app.resource("test://static-binary", mime_type="image/png")
    def static_binary() -> bytes:
        """A static binary resource (a PNG image)."""
        return PNG_BYTES

    @app.resource("test://template/{id}/data", mime_type="application/json")
    def template_data(id: str) -> str:  # noqa: A002 - the template variable is called id
        """A resource template: JSON for any id."""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @app.resource("test://watched-resource", mime_type="text/plain")
    def watched_resource() -> str:
        """A resource clients may subscribe to."""
        return "Watched resource content"

    # ------------------------------------------------------------------ prompts

    @app.prompt()
    def test_simple_prompt() -> list[dict[str, Any]]:
        """A prompt without arguments."""
        return [{"role": "user", "content": _text("This is a simple prompt for testing.")}]

    @app.prompt()
    def test_prompt_with_arguments(
        arg1: Annotated[str, Field(description="First argument")],
        arg2: Annotated[str, Field(description="Second argument")],
    ) -> list[dict[str, Any]]:
        """A prompt with two required arguments."""
        return [{"role": "user", "content": _text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")}]

    @app.prompt()
    def test_prompt_with_embedded_resource(
        resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # noqa: N803 - the suite's name
    ) -> list[dict[str, Any]]:
        """A prompt whose first message embeds a resource."""
        return [
            {"role": "user", "content": _embedded(resourceUri, "text/plain", "Embedded resource content for testing.")},
            {"role": "user", "content": _text("Please process the embedded resource above.")},
        ]

    @app.prompt()
    def test_prompt_with_image() -> list[dict[str, Any]]:
        """A prompt whose first message is an image."""
        return [
            {"role": "user", "content": _image()},
            {"role": "user", "content": _text("Please analyze the image above.")},
        ]

    @app.prompt()
    async def test_input_required_result_prompt(ctx: Context) -> list[dict[str, Any]]:
        """A prompt that needs one elicitation round (key user_context) first (SEP-2322)."""
        context = _accepted(ctx.input_responses.get("user_context"), "context")
        if type(context) is not str:
            raise InputRequired({"user_context": _elicit_request(
                "What context should the prompt use?", {"context": {"type": "string"}}, ["context"])})
        return [{"role": "user", "content": _text(f"Use the following context: {context}")}]

    # ------------------------------------------------------------------ Tasks (§5.2)
    # the io.modelcontextprotocol/tasks extension at 2026-07-28, experimental tasks in a 2025-11-25
    # session: a task-supporting tool runs in the background and the client polls its task

    @app.tool()
    async def greet(name: str) -> str:
        """A plain (never a task) greeting."""
        return f"Hello, {name}!"

    @app.tool(task="optional")
    async def slow_compute(seconds: float = 1.0, label: str = "") -> str:
        """Sleeps ``seconds`` then answers; a task when the client can take one. Cancelling the
        task cancels the sleep (the task ends ``cancelled``)."""
        await asyncio.sleep(max(0.0, min(float(seconds), 300.0)))
        return f"computed {label or 'result'} after {seconds}s"

    @app.tool(task="required")
    async def failing_job() -> str:
        """Always fails as a tool (isError): the task ends ``completed`` with ``result.isError``."""
        await asyncio.sleep(0.5)
        raise ToolError("failing_job failed, as it always does")

    @app.tool(task="optional", task_window=0)
    async def protocol_error_job() -> str:
        """Fails with a JSON-RPC error: the task ends ``failed`` with the error inlined (always a
        task, ``task_window=0``: it fails in 50 ms, inside the immediate-result window, and the
        check wants the failed task, not the plain error a fast call gets)."""
        await asyncio.sleep(0.05)
        raise InternalError("protocol_error_job hit an internal error", {"job": "protocol_error_job"})

    @app.tool(task="optional")
    async def confirm_delete(ctx: Context, filename: str = "file.txt") -> str:
        """Asks the user to confirm (one elicitation: the task parks on input_required)."""
        answer = await ctx.elicit(f"Delete {filename}?", {
            "type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]},
            key="confirm")
        if answer.action == "accept" and (answer.get("content") or {}).get("confirm"):
            return f"Deleted {filename}"
        return f"Kept {filename}"

    @app.tool(task="optional")
    async def multi_input(ctx: Context) -> str:
        """Two elicitations at once: the task waits on both keys until each is answered."""
        schema = {"type": "object", "properties": {"name": {"type": "string"}, "confirm": {"type": "boolean"}}}
        first, second = await asyncio.gather(
            ctx.elicit("First input?", schema, key="first"), ctx.elicit("Second input?", schema, key="second"))
        return f"Got {first.action} and {second.action}"

    @app.tool(task="required", defer_task=True)
    async def test_tool_with_task(ctx: Context) -> str:
        """Asks for a name by multi round-trip on the call itself, then becomes a task whose
        result greets that name."""
        answer = await ctx.elicit("What is your name?", {
            "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}, key="user_name")
        name = (answer.get("content") or {}).get("name") if answer.action == "accept" else None
        await ctx.start_task()
        await asyncio.sleep(0.05)
        return f"Hello, {name or 'stranger'}! (from a task)"

    # ------------------------------------------------------------------ completion

    @app.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> None:
        """No suggestions (an empty completion is a valid answer)."""
        return None

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mcpfast everything-server (MCP conformance fixture)")
    parser.add_argument("--port", type=int, default=3001, help="TCP port (default 3001)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--frontend", choices=("builtin", "asgi"), default="builtin",
                        help="builtin: mcpfast's own HTTP server (app.run); asgi: app.streamable_http_app()"
                             " under uvicorn (default builtin)")
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = build_app()
    log.info("serving http://%s:%d/mcp (%s front end)", args.host, args.port, args.frontend)
    # retry_interval: the SSE priming event's retry (ms); short, so SEP-1699 resumption is quick
    if args.frontend == "asgi":
        import uvicorn

        uvicorn.run(app.streamable_http_app(host=args.host, retry_interval=100), host=args.host, port=args.port,
                    log_level=args.log_level.lower(), lifespan="on")
    else:
        app.run(transport="streamable-http", host=args.host, port=args.port, retry_interval=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
