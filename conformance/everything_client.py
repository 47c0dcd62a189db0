"""The client under test for the official MCP conformance suite (client mode).

The harness runs ``python conformance/everything_client.py <server-url>`` once per scenario, with
``MCP_CONFORMANCE_SCENARIO`` naming it, ``MCP_CONFORMANCE_PROTOCOL_VERSION`` the revision its mock
speaks and, for some scenarios, ``MCP_CONFORMANCE_CONTEXT`` (JSON: credentials, keys, tool calls
to replay). One program, a handler per scenario, everything done with ``mcpfast.Client`` and
``mcpfast.client.auth``; the process exits 0 when the scenario's steps ran (what the harness
scores is what it observed on the wire), 1 with the error on stderr otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mcpfast import Client
from mcpfast.client.auth import (
    AuthorizationCodeResult,
    ClientCredentialsOAuthProvider,
    IdentityAssertionOAuthProvider,
    InMemoryTokenStorage,
    JWTBearerOAuthProvider,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthClientProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)

log = logging.getLogger("everything_client")

SCENARIO = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
PROTOCOL_VERSION = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION")
MODERN = ("2026-07-28",)
REDIRECT_URI = "http://localhost:3000/callback"
CIMD_URL = "https://conformance-test.local/client-metadata.json"

Handler = Callable[[str], Coroutine[Any, Any, None]]
HANDLERS: dict[str, Handler] = {}


def scenario(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


def context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    return json.loads(raw) if raw else {}


def mode() -> str:
    """The era of the harness's mock: a modern revision (or none given) -> ``auto`` (discover,
    then the ``_meta`` envelope); a handshake revision -> ``legacy`` (no discover probe that a
    handshake-only mock would reject)."""
    return "auto" if PROTOCOL_VERSION is None or PROTOCOL_VERSION in MODERN else "legacy"


def connect(url: str, *, auth: Any = None, era: str | None = None, **kw: Any) -> Client:
    options = {"auth": auth} if auth is not None else {}
    return Client(url, mode=era or mode(), transport_options=options, **kw)


# ---------------------------------------------------------------------- callbacks


async def sampling(ctx: Any, params: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": {"type": "text", "text": ""}, "model": "conformance-stub"}


async def list_roots(ctx: Any) -> dict[str, Any]:
    return {"roots": []}


async def accept_defaults(ctx: Any, params: Any) -> dict[str, Any]:
    """Accept an elicitation with every ``default`` of its form schema (SEP-1034)."""
    schema = params.requested_schema or {}
    content = {name: prop["default"] for name, prop in (schema.get("properties") or {}).items()
               if isinstance(prop, dict) and "default" in prop}
    return {"action": "accept", "content": content}


# ---------------------------------------------------------------------- core scenarios


@scenario("initialize", "tools_call", "tools-call", "request-metadata", "http-standard-headers")
async def add_numbers(url: str) -> None:
    """Connect with every client capability, list tools, call ``add_numbers(5, 3)``."""
    async with connect(url, sampling_callback=sampling, list_roots_callback=list_roots,
                       elicitation_callback=accept_defaults) as client:
        await client.list_tools()
        await client.call_tool("add_numbers", {"a": 5, "b": 3})


@scenario("json-schema-ref-no-deref")
async def list_only(url: str) -> None:
    """List tools; the scenario fails if the client fetched a network ``$ref``. Its mock speaks
    only the handshake era whatever revision the harness announces."""
    async with connect(url, era="legacy") as client:
        await client.list_tools()


@scenario("json-schema-2020-12-preservation")
async def echo_schema(url: str) -> None:
    """Echo the focal tool's inputSchema back verbatim through ``json_schema_echo``."""
    async with connect(url) as client:
        tools = (await client.list_tools()).tools
        focal = next(t for t in tools if t.name == "json_schema_2020_12_tool")
        await client.call_tool("json_schema_echo", {"schema": focal.input_schema})


@scenario("sse-retry")
async def reconnection(url: str) -> None:
    """A call whose SSE stream the server cuts: the transport resumes it (``retry``,
    ``Last-Event-ID``)."""
    async with connect(url) as client:
        await client.list_tools()
        await client.call_tool("test_reconnection", {})


@scenario("elicitation-sep1034-client-defaults", "elicitation-defaults")
async def elicitation_defaults(url: str) -> None:
    async with connect(url, elicitation_callback=accept_defaults) as client:
        await client.list_tools()
        await client.call_tool("test_client_elicitation_defaults", {})


def stub_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The smallest arguments a tool's inputSchema requires."""
    by_type = {"string": "x", "integer": 0, "number": 0, "boolean": False, "object": {}, "array": [], "null": None}
    props = schema.get("properties") or {}
    return {name: by_type.get((props.get(name) or {}).get("type"), "x") for name in schema.get("required") or ()}


@scenario("http-invalid-tool-headers")
async def call_every_listed_tool(url: str) -> None:
    """Call every tool the client keeps: tools with invalid ``x-mcp-header`` annotations must
    have been dropped from the listing."""
    async with connect(url) as client:
        for tool in (await client.list_tools()).tools:
            try:
                await client.call_tool(tool.name, stub_arguments(tool.input_schema or {}))
            except Exception as exc:  # one failing call must not hide the others
                log.info("call_tool(%s) failed: %s", tool.name, exc)


@scenario("http-custom-headers")
async def replay_tool_calls(url: str) -> None:
    """Replay the context's ``toolCalls``: ``x-mcp-header`` arguments go out as ``Mcp-Param-*``."""
    calls = context().get("toolCalls") or []
    async with connect(url) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        for call in calls:
            if call["name"] not in listed:
                continue
            try:
                await client.call_tool(call["name"], call.get("arguments") or {})
            except Exception as exc:
                log.info("call_tool(%s) failed: %s", call["name"], exc)


@scenario("sep-2322-client-request-state")
async def request_state(url: str) -> None:
    """Input-required rounds: ``requestState`` echoed exactly, a new id per round."""

    async def confirm(ctx: Any, params: Any) -> dict[str, Any]:
        return {"action": "accept", "content": {"confirmed": True}}

    async with connect(url, elicitation_callback=confirm) as client:
        await client.list_tools()
        for name in ("test_mrtr_echo_state", "test_mrtr_unrelated", "test_mrtr_no_state", "test_mrtr_no_result_type"):
            await client.call_tool(name, {})


# ---------------------------------------------------------------------- authorization


class HeadlessBrowser:
    """Plays the user agent: follows the authorization URL without a person (the harness's
    authorization server approves at once) and hands the redirect's parameters to the flow."""

    def __init__(self) -> None:
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        import httpx2

        async with httpx2.AsyncClient(follow_redirects=False, timeout=30.0) as http:
            resp = await http.get(authorization_url)
        location = resp.headers.get("location")
        if not location:
            raise RuntimeError(f"the authorization endpoint answered {resp.status_code} without a redirect")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if "code" not in query:
            raise RuntimeError(f"the redirect carries no code: {query.get('error', '?')}")
        self._result = AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        if self._result is None:
            raise RuntimeError("no authorization response was received")
        result, self._result = self._result, None
        return result


async def authorized_session(url: str, auth: Any) -> None:
    """Connect through ``auth``, list the tools and call the first one (the scenarios differ in
    which tool needs which scope)."""
    async with connect(url, auth=auth, elicitation_callback=accept_defaults) as client:
        tools = (await client.list_tools()).tools
        if tools:
            await client.call_tool(tools[0].name, {})


def code_flow_provider(url: str, storage: InMemoryTokenStorage | None = None) -> OAuthClientProvider:
    browser = HeadlessBrowser()
    metadata = OAuthClientMetadata(client_name="mcpfast-conformance-client", redirect_uris=[REDIRECT_URI],
                                   grant_types=["authorization_code", "refresh_token"])
    return OAuthClientProvider(url, metadata, storage or InMemoryTokenStorage(), browser.redirect, browser.callback,
                               client_metadata_url=CIMD_URL)


async def authorization_code(url: str) -> None:
    """Every auth scenario without a dedicated handler: discovery, registration (CIMD or
    dynamic), authorization code + PKCE, scopes, step-up, iss, DPoP when offered."""
    await authorized_session(url, code_flow_provider(url))


@scenario("auth/pre-registration")
async def pre_registered(url: str) -> None:
    ctx = context()
    info = OAuthClientInformationFull(client_id=ctx["client_id"], client_secret=ctx.get("client_secret"),
                                      redirect_uris=[REDIRECT_URI])
    await authorized_session(url, code_flow_provider(url, InMemoryTokenStorage(client_info=info)))


@scenario("auth/client-credentials-basic")
async def client_credentials_basic(url: str) -> None:
    ctx = context()
    await authorized_session(url, ClientCredentialsOAuthProvider(url, None, ctx["client_id"], ctx["client_secret"]))


@scenario("auth/client-credentials-jwt")
async def client_credentials_jwt(url: str) -> None:
    ctx = context()
    signer = SignedJWTParameters(issuer=ctx["client_id"], subject=ctx["client_id"], signing_key=ctx["private_key_pem"],
                                 signing_algorithm=ctx.get("signing_algorithm") or "ES256")
    await authorized_session(url, PrivateKeyJWTOAuthProvider(url, None, ctx["client_id"],
                                                             signer.create_assertion_provider()))


@scenario("auth/wif-jwt-bearer")
async def workload_identity(url: str) -> None:
    """Workload identity federation: the platform's JWT through the JWT-bearer grant."""
    ctx = context()
    token = ctx["valid_jwt"]

    async def assertion(audience: str) -> str:
        return str(token)

    await authorized_session(url, JWTBearerOAuthProvider(url, None, ctx["client_id"], assertion))


@scenario("auth/enterprise-managed-authorization")
async def enterprise_managed(url: str) -> None:
    """SEP-990: an RFC 8693 token exchange at the enterprise IdP turns its ID token into an
    ID-JAG, which the JWT-bearer grant trades for an access token at the MCP authorization
    server. That server is configuration in a deployment; the harness names it only in its
    protected resource metadata, so this reads it from there."""
    import httpx2

    from mcpfast.client.auth.discovery import prm_urls

    ctx = context()
    async with httpx2.AsyncClient(timeout=30.0) as http:
        prm = (await http.get(prm_urls(url, None)[0])).raise_for_status().json()

        async def id_jag(audience: str, resource: str) -> str:
            resp = await http.post(ctx["idp_token_endpoint"], data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "subject_token": ctx["idp_id_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                "audience": audience,
                "resource": resource,
                "client_id": ctx["idp_client_id"],
            })
            resp.raise_for_status()
            return str(resp.json()["access_token"])

        provider = IdentityAssertionOAuthProvider(
            url, None, ctx["client_id"], ctx["client_secret"], prm["authorization_servers"][0], id_jag,
            token_endpoint_auth_method="client_secret_basic")
        await authorized_session(url, provider)


# ---------------------------------------------------------------------- main


def main() -> int:
    logging.basicConfig(level=logging.DEBUG if os.environ.get("MCPFAST_CONFORMANCE_DEBUG") else logging.WARNING,
                        stream=sys.stderr)
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} <server-url>", file=sys.stderr)
        return 2
    url = sys.argv[1]
    handler = HANDLERS.get(SCENARIO)
    if handler is None and SCENARIO.startswith("auth/"):
        handler = authorization_code
    if handler is None:
        print(f"unknown scenario {SCENARIO!r}", file=sys.stderr)
        return 2
    try:
        asyncio.run(handler(url))
    except Exception as exc:
        # the whole chain (an ExceptionGroup's members too): the harness keeps stderr per scenario
        traceback.print_exception(exc, file=sys.stderr)
        print(f"{SCENARIO}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
