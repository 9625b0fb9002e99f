"""Egress rules and the one decision Bay and the proxy share."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from ship.egress.rules import (
    EgressPolicy,
    always_denied,
    decide,
    narrowing_problems,
    parse_rule,
)

ALLOWLIST = EgressPolicy(mode="allowlist", allow=["pypi.org", "*.github.com:443", "10.1.0.0/16"])


@pytest.mark.parametrize(
    ("rule", "host", "port", "matches"),
    [
        ("pypi.org", "pypi.org", 443, True),
        ("pypi.org", "PyPI.org.", 80, True),
        ("pypi.org", "files.pypi.org", 443, False),
        ("*.github.com", "api.github.com", 443, True),
        ("*.github.com", "a.b.github.com", 443, True),
        ("*.github.com", "github.com", 443, False),
        ("*.github.com", "evilgithub.com", 443, False),
        ("api.example.com:443", "api.example.com", 443, True),
        ("api.example.com:443", "api.example.com", 80, False),
        ("10.0.0.0/8", "10.2.3.4", 80, True),
        ("10.0.0.0/8", "11.2.3.4", 80, False),
        ("192.0.2.7", "192.0.2.7", 22, True),
        ("192.0.2.7:80", "192.0.2.7", 22, False),
        ("2001:db8::/32", "2001:db8::1", 443, True),
    ],
)
def test_a_rule_matches_its_hosts_only(rule: str, host: str, port: int, matches: bool) -> None:
    assert parse_rule(rule).matches(host, port) is matches


def test_an_address_rule_matches_the_address_a_name_resolves_to() -> None:
    rule = parse_rule("10.0.0.0/8")
    assert rule.matches("internal.example", 80, ipaddress.ip_address("10.9.9.9"))
    assert not rule.matches("internal.example", 80, ipaddress.ip_address("192.0.2.1"))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("*x.com", "a wildcard is only '*.'"),
        ("*", "a wildcard is only '*.'"),
        ("exa mple.com", "is not a host"),
        ("pypi.org:99999", "the port must be a number from 1 to 65535"),
        ("pypi.org:http", "the port must be a number"),
        ("-bad.com", "is not a host"),
    ],
)
def test_a_bad_rule_is_refused_saying_what_is_accepted(text: str, said: str) -> None:
    with pytest.raises(ValueError, match="rule") as refused:
        parse_rule(text)
    assert said in str(refused.value)


def test_allow_rules_need_the_allowlist_mode() -> None:
    with pytest.raises(ValidationError, match="mode 'allowlist' only"):
        EgressPolicy(mode="open", allow=["pypi.org"])
    assert EgressPolicy(mode="open", deny=["evil.com"]).proxied
    assert not EgressPolicy(mode="open").proxied
    assert ALLOWLIST.proxied


def test_a_deny_wins_and_every_policy_of_the_chain_must_allow() -> None:
    profile = EgressPolicy(mode="allowlist", allow=["*.example.com"], deny=["bad.example.com"])
    sandbox = EgressPolicy(mode="allowlist", allow=["api.example.com"])
    chain = [("profile", profile), ("sandbox", sandbox)]
    allowed = decide(chain, "api.example.com", 443)
    assert allowed.allowed
    assert allowed.reason == "allow 'api.example.com' of the sandbox's policy"
    assert decide(chain, "bad.example.com", 443).reason == (
        "deny 'bad.example.com' of the profile's policy"
    )
    narrowed = decide(chain, "www.example.com", 443)
    assert not narrowed.allowed
    assert narrowed.reason == "no allow rule of the sandbox's policy matches"
    assert not decide([("profile", EgressPolicy(mode="none"))], "x.com", 80).allowed
    assert decide([("profile", EgressPolicy())], "anything.org", 80).allowed


def test_some_addresses_are_never_reached_whatever_the_policy() -> None:
    never = always_denied(["10.213.0.0/16"])
    open_chain = [("profile", EgressPolicy())]
    for host in ("127.0.0.1", "169.254.169.254", "10.213.4.2", "::1"):
        assert not decide(open_chain, host, 80, None, never).allowed, host
    resolved = decide(open_chain, "sneaky.example", 80, ipaddress.ip_address("127.0.0.5"), never)
    assert not resolved.allowed
    assert "never reachable" in resolved.reason
    assert decide(open_chain, "10.212.0.1", 80, None, never).allowed


def test_a_sandbox_policy_may_narrow_never_widen() -> None:
    inside = EgressPolicy(mode="allowlist", allow=["pypi.org", "api.github.com:443", "10.1.2.0/24"])
    assert narrowing_problems(inside, ALLOWLIST) == []
    assert narrowing_problems(EgressPolicy(mode="none"), ALLOWLIST) == []
    wider = EgressPolicy(mode="allowlist", allow=["example.org", "*.github.com", "10.0.0.0/8"])
    problems = narrowing_problems(wider, ALLOWLIST)
    assert len(problems) == 3  # *.github.com (any port) and 10.0.0.0/8 are wider too
    assert any("'example.org'" in problem for problem in problems)
    assert narrowing_problems(EgressPolicy(), ALLOWLIST) == [
        "the profile's egress mode is 'allowlist': a sandbox cannot make it 'open'"
    ]
    assert narrowing_problems(ALLOWLIST, EgressPolicy(mode="none")) == [
        "the profile's egress mode is 'none': a sandbox of it can only have 'none'"
    ]
    assert narrowing_problems(wider, EgressPolicy()) == []
