"""HostOriginGuard: DNS-rebinding protection defaults, allow-lists, environment, messages."""

from __future__ import annotations

import json
import timeit

import pytest

from mcpfast.transports.http.security import (
    ENV_ALLOWED_HOSTS,
    ENV_ALLOWED_ORIGINS,
    ENV_DNS_REBINDING_PROTECTION,
    HostOriginGuard,
    Rejection,
    is_loopback_host,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_ALLOWED_HOSTS, ENV_ALLOWED_ORIGINS, ENV_DNS_REBINDING_PROTECTION):
        monkeypatch.delenv(name, raising=False)


def error_of(rejection: Rejection | None) -> dict[str, object]:
    assert rejection is not None
    body = json.loads(rejection.body)
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert ("content-type", "application/json") in rejection.headers
    return body["error"]  # type: ignore[no-any-return]


# -- when it is on ---------------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_on_by_default_for_loopback_bind(bind: str) -> None:
    guard = HostOriginGuard(bind_host=bind)
    assert guard.enabled
    assert guard.check("evil.example", None) is not None


def test_on_by_default_when_bind_unknown() -> None:
    # an ASGI app does not know its address: assume loopback, like the SDK's ASGI default
    guard = HostOriginGuard(bind_host=None)
    assert guard.enabled
    assert guard.check("evil.example:8000", None) is not None
    assert guard.check("localhost:8000", None) is None


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.10", "mcp.example.com"])
def test_off_by_default_for_other_binds(bind: str) -> None:
    guard = HostOriginGuard(bind_host=bind)
    assert not guard.enabled
    assert guard.check("evil.example", "http://evil.example") is None
    assert guard.check(None, None) is None


def test_non_loopback_bind_with_allow_list_turns_on() -> None:
    guard = HostOriginGuard(bind_host="0.0.0.0", allowed_hosts=["api.example.com"])
    assert guard.enabled
    assert guard.check("api.example.com", None) is None
    assert guard.check("localhost:8000", None) is None
    assert guard.check("evil.example", None) is not None


def test_explicit_enabled_wins() -> None:
    assert not HostOriginGuard(bind_host="127.0.0.1", enabled=False).enabled
    assert HostOriginGuard(bind_host="127.0.0.1", enabled=False).check("evil.example", "http://x") is None
    forced = HostOriginGuard(bind_host="0.0.0.0", enabled=True)
    assert forced.enabled and forced.check("evil.example", None) is not None


def test_specific_bind_address_is_allowed_when_forced_on() -> None:
    guard = HostOriginGuard(bind_host="192.168.1.10", enabled=True)
    assert guard.check("192.168.1.10:8000", None) is None
    assert guard.check("192.168.1.11:8000", None) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]:80", True),
        ("localhost:3000", True),
        ("a.localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("localhost.evil.com", False),
        (None, False),
    ],
)
def test_is_loopback_host(value: str | None, expected: bool) -> None:
    assert is_loopback_host(value) is expected


# -- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "LocalHost:1",
        "127.0.0.1",
        "127.0.0.1:65535",
        "[::1]",
        "[::1]:3001",
        "127.0.0.2:80",
    ],
)
def test_default_hosts_allowed(host: str) -> None:
    assert HostOriginGuard(bind_host="127.0.0.1").check(host, None) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8000",
        "localhost.evil.example",
        "localhost.:8000",
        "evil@localhost",
        "localhost:80x",
        "[::2]:80",
        "10.0.0.1",
        "0.0.0.0:8000",
        "[::1",
    ],
)
def test_foreign_hosts_rejected_421(host: str) -> None:
    rejection = HostOriginGuard(bind_host="127.0.0.1").check(host, None)
    assert rejection is not None and rejection.status == 421
    error = error_of(rejection)
    assert error["code"] == -32000
    message = str(error["message"])
    assert repr(host) in message
    assert "allowed_hosts" in message and "MCPFAST_ALLOWED_HOSTS" in message
    assert "dns_rebinding_protection=False" in message


def test_missing_host_rejected() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1")
    for host in (None, ""):
        rejection = guard.check(host, None)
        assert rejection is not None and rejection.status == 421
        assert "Missing Host header" in str(error_of(rejection)["message"])


def test_host_rejection_suggests_the_name() -> None:
    rejection = HostOriginGuard(bind_host="127.0.0.1").check("Api.Example.com:8443", None)
    assert "allowed_hosts=['api.example.com']" in str(error_of(rejection)["message"])


def test_host_rejection_quotes_long_values_shortened() -> None:
    rejection = HostOriginGuard(bind_host="127.0.0.1").check("a" * 5000, None)
    assert rejection is not None and len(rejection.body) < 2000


@pytest.mark.parametrize(
    ("patterns", "allowed", "rejected"),
    [
        (["api.example.com"], ["api.example.com", "API.example.com:443", "api.example.com:8080"], ["example.com"]),
        (["api.example.com:8443"], ["api.example.com:8443"], ["api.example.com", "api.example.com:8080"]),
        (["api.example.com:*"], ["api.example.com:1", "api.example.com"], ["x.api.example.com"]),
        (["*.example.com"], ["a.example.com", "a.b.example.com:9"], ["example.com", "aexample.com"]),
        (["*.example.com:443"], ["a.example.com:443"], ["a.example.com:80", "a.example.com"]),
        (["::2"], ["[::2]:80", "[::2]"], ["[::3]"]),
        (["10.0.0.5"], ["10.0.0.5:8000"], ["10.0.0.6"]),
        (["*"], ["anything.example", "x:1"], []),
    ],
)
def test_host_patterns(patterns: list[str], allowed: list[str], rejected: list[str]) -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1", allowed_hosts=patterns)
    for host in allowed:
        assert guard.check(host, None) is None, host
    for host in rejected:
        assert guard.check(host, None) is not None, host


def test_single_string_allow_list_is_one_entry() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1", allowed_hosts="api.example.com")
    assert guard.check("api.example.com", None) is None
    assert guard.check("a", None) is not None


# -- Origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "http://localhost:3000",
        "https://localhost:3000",
        "http://127.0.0.1:8000",
        "https://127.0.0.1",
        "http://[::1]:3000",
        "HTTP://LOCALHOST:5",
        "",
    ],
)
def test_default_origins_allowed(origin: str) -> None:
    assert HostOriginGuard(bind_host="127.0.0.1").check("localhost:8000", origin) is None


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://evil.example:8000",
        "null",
        "http://localhost.evil.example",
        "file://",
        "http://localhost:80/x",
        "http://localhost:abc",
        "ftp://localhost",
        "http://127.0.0.2",
    ],
)
def test_foreign_origins_rejected_403(origin: str) -> None:
    rejection = HostOriginGuard(bind_host="127.0.0.1").check("localhost:8000", origin)
    assert rejection is not None and rejection.status == 403
    message = str(error_of(rejection)["message"])
    assert repr(origin) in message
    assert "allowed_origins" in message and "MCPFAST_ALLOWED_ORIGINS" in message


def test_origin_checked_even_when_host_valid_and_cached() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1")
    assert guard.check("localhost:8000", "http://localhost:8000") is None
    assert guard.check("localhost:8000", "http://evil.example") is not None
    assert guard.check("localhost:8000", None) is None


def test_host_checked_before_origin() -> None:
    rejection = HostOriginGuard(bind_host="127.0.0.1").check("evil.example", "http://evil.example")
    assert rejection is not None and rejection.status == 421


@pytest.mark.parametrize(
    ("patterns", "allowed", "rejected"),
    [
        (
            ["https://app.example.com"],
            ["https://app.example.com", "https://APP.example.com"],
            ["http://app.example.com", "https://app.example.com:8443", "https://x.app.example.com"],
        ),
        (["https://app.example.com:8443"], ["https://app.example.com:8443"], ["https://app.example.com"]),
        (
            ["https://app.example.com:*"],
            ["https://app.example.com:1", "https://app.example.com"],
            ["http://app.example.com:1"],
        ),
        (["https://*.example.com"], ["https://a.example.com"], ["https://example.com", "https://a.example.com:1"]),
        (["https://app.example.com/"], ["https://app.example.com"], []),
        (["*"], ["null", "http://evil.example"], []),
    ],
)
def test_origin_patterns(patterns: list[str], allowed: list[str], rejected: list[str]) -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1", allowed_origins=patterns)
    for origin in allowed:
        assert guard.check("localhost", origin) is None, origin
    for origin in rejected:
        assert guard.check("localhost", origin) is not None, origin


@pytest.mark.parametrize("pattern", ["app.example.com", "https://", "https://a.com/path", "://x"])
def test_bad_origin_pattern_fails_at_construction(pattern: str) -> None:
    with pytest.raises(ValueError, match="allowed origin pattern"):
        HostOriginGuard(bind_host="127.0.0.1", allowed_origins=[pattern])


def test_bad_host_pattern_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="no host name"):
        HostOriginGuard(bind_host="127.0.0.1", allowed_hosts=[":8080"])
    with pytest.raises(ValueError, match="port must be a number"):
        HostOriginGuard(bind_host="127.0.0.1", allowed_hosts=["api.example.com:https"])
    with pytest.raises(ValueError, match="port must be a number"):
        HostOriginGuard(bind_host="127.0.0.1", allowed_origins=["https://app.example.com:x"])


# -- environment -----------------------------------------------------------------------------


def test_env_extends_allow_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ALLOWED_HOSTS, " api.example.com , other.example:9000,")
    monkeypatch.setenv(ENV_ALLOWED_ORIGINS, "https://app.example.com")
    guard = HostOriginGuard(bind_host="127.0.0.1", allowed_hosts=["mine.example"])
    assert guard.check("api.example.com", None) is None
    assert guard.check("other.example:9000", None) is None
    assert guard.check("mine.example", None) is None
    assert guard.check("other.example:9001", None) is not None
    assert guard.check("localhost", "https://app.example.com") is None
    assert guard.check("localhost", "https://evil.example") is not None


def test_env_allow_list_turns_on_for_public_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ALLOWED_HOSTS, "api.example.com")
    guard = HostOriginGuard(bind_host="0.0.0.0")
    assert guard.enabled and guard.check("evil.example", None) is not None


@pytest.mark.parametrize(
    ("value", "bind", "expected"),
    [
        ("0", "127.0.0.1", False),
        ("false", None, False),
        ("OFF", "localhost", False),
        ("1", "0.0.0.0", True),
        ("yes", "10.0.0.1", True),
        ("", "0.0.0.0", False),
        ("", "127.0.0.1", True),
    ],
)
def test_env_flag_overrides_default(
    monkeypatch: pytest.MonkeyPatch, value: str, bind: str | None, expected: bool
) -> None:
    monkeypatch.setenv(ENV_DNS_REBINDING_PROTECTION, value)
    guard = HostOriginGuard(bind_host=bind)
    assert guard.enabled is expected
    assert (guard.check("evil.example", None) is not None) is expected


def test_env_flag_does_not_override_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DNS_REBINDING_PROTECTION, "0")
    assert HostOriginGuard(bind_host="0.0.0.0", enabled=True).enabled
    monkeypatch.setenv(ENV_DNS_REBINDING_PROTECTION, "1")
    assert not HostOriginGuard(bind_host="127.0.0.1", enabled=False).enabled


def test_env_flag_reason_in_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DNS_REBINDING_PROTECTION, "1")
    rejection = HostOriginGuard(bind_host="0.0.0.0").check("evil.example", None)
    assert "MCPFAST_DNS_REBINDING_PROTECTION=1" in str(error_of(rejection)["message"])


def test_env_flag_garbage_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DNS_REBINDING_PROTECTION, "maybe")
    with pytest.raises(ValueError, match="MCPFAST_DNS_REBINDING_PROTECTION must be 1 or 0"):
        HostOriginGuard(bind_host="127.0.0.1")


# -- settings, cache, speed ------------------------------------------------------------------


class _Settings:
    bind_host = "0.0.0.0"
    allowed_hosts = ["api.example.com"]
    allowed_origins = ["https://app.example.com"]
    dns_rebinding_protection = True


def test_from_settings() -> None:
    guard = HostOriginGuard.from_settings(_Settings())
    assert guard.enabled
    assert guard.check("api.example.com", "https://app.example.com") is None
    assert guard.check("api.example.com", "https://evil.example") is not None


def test_from_real_settings() -> None:
    settings_mod = pytest.importorskip("mcpfast.transports.http.settings")
    guard = HostOriginGuard.from_settings(settings_mod.HTTPSettings(bind_host="127.0.0.1"))
    assert guard.enabled and guard.check("evil.example", None) is not None


def test_cache_is_bounded_and_still_correct() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1")
    for port in range(5000):
        assert guard.check(f"localhost:{port}", f"http://localhost:{port}") is None
    assert len(guard._hosts_ok) <= 512 and len(guard._origins_ok) <= 513
    assert guard.check("evil.example", None) is not None
    assert guard.check("localhost:1", "http://evil.example") is not None


def test_rejections_are_not_cached_as_allowed() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1")
    for _ in range(3):
        assert guard.check("evil.example", None) is not None
        assert guard.check("localhost", "http://evil.example") is not None


def test_check_is_fast() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1")
    guard.check("localhost:8000", "http://localhost:8000")
    n = 20_000
    per_call = (
        min(timeit.repeat(lambda: guard.check("localhost:8000", "http://localhost:8000"), number=n, repeat=3)) / n
    )
    # well under 1 us on the reference machine (~0.1 us); generous bound for slow CI
    assert per_call < 5e-6


# -- absolute-form request targets -------------------------------------------------------------


def test_request_target_authority_held_to_the_host_allow_list() -> None:
    guard = HostOriginGuard(bind_host="127.0.0.1", allowed_hosts=["api.example.com"])
    for ok in ("127.0.0.1:8000", "localhost", "[::1]:9", "api.example.com", "API.example.com:443", "127.0.0.2"):
        assert guard.check_target(ok) is None, ok
    for bad in ("evil.example", "evil.example:8000", "", "127.0.0.1:x", "10.0.0.1"):
        rejection = guard.check_target(bad)
        assert rejection is not None and rejection.status == 421, bad
        err = error_of(rejection)
        assert err["code"] == -32000 and "request target" in str(err["message"])
    # a rejected authority is not remembered as allowed; an allowed one is
    assert guard.check_target("evil.example") is not None
    assert guard.check_target("api.example.com") is None


def test_request_target_not_checked_when_off() -> None:
    assert HostOriginGuard(bind_host="127.0.0.1", enabled=False).check_target("evil.example") is None
    assert HostOriginGuard(bind_host="0.0.0.0").check_target("evil.example") is None
