"""Egress policies: what a sandbox's traffic may reach, and the one place that decides.

Bay validates policies with these models (a profile's, a sandbox's narrowing of it) and
the egress proxy enforces them with `decide`, so the two cannot disagree. Only pydantic
and the standard library here: Bay's settings import it.

A rule is a host (`pypi.org`), a wildcard of subdomains (`*.githubusercontent.com`,
which does not match `githubusercontent.com` itself), an address or CIDR (`10.0.0.0/8`,
`192.0.2.7`), each optionally limited to one port (`api.example.com:443`). A deny wins
over an allow; a request must pass every policy in the chain (the profile's, then the
sandbox's), so a sandbox's policy can only narrow its profile's.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EgressMode = Literal["open", "none", "allowlist"]
MAX_RULES = 256
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never reachable through the proxy, whatever a policy says: the proxy's own loopback
# (its control port), link-local (cloud metadata) and "this network". Bay adds the
# sandbox networks' range, so one sandbox cannot reach another through the proxy.
ALWAYS_DENIED: tuple[str, ...] = (
    "127.0.0.0/8",
    "0.0.0.0/8",
    "169.254.0.0/16",
    "::1/128",
    "fe80::/10",
)


@dataclass(frozen=True)
class Rule:
    """One parsed rule. `text` is how it was written: refusals quote it."""

    text: str
    host: str | None = None  # an exact host name
    suffix: str | None = None  # a wildcard's ".example.com"
    network: IPNetwork | None = None
    port: int | None = None

    def matches(self, host: str, port: int, address: IPAddress | None = None) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.network is not None:
            literal = _address(host)
            return any(
                found is not None
                and found.version == self.network.version
                and found in self.network
                for found in (literal, address)
            )
        name = host.lower().rstrip(".")
        if self.host is not None:
            return name == self.host
        assert self.suffix is not None
        return name.endswith(self.suffix)

    def covers(self, other: Rule) -> bool:
        """Whether every request `other` allows, this rule allows too."""
        if self.port is not None and other.port != self.port:
            return False
        if self.network is not None:
            return (
                other.network is not None
                and other.network.version == self.network.version
                and other.network.subnet_of(self.network)  # type: ignore[arg-type]
            )
        if other.host is not None:  # (a port of self's equals other's, checked above)
            return self.matches(other.host, other.port or 0)
        if other.suffix is not None and self.suffix is not None:
            return other.suffix.endswith(self.suffix)
        return False


def _within(address: IPAddress | None, network: IPNetwork) -> bool:
    return address is not None and address.version == network.version and address in network


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def parse_rule(text: str) -> Rule:
    """`text` as a Rule; ValueError saying what is wrong and what is accepted."""
    raw = text.strip()
    body, port = raw, None
    # host:port, 1.2.3.4:port, 10.0.0.0/8:port; an IPv6 address or CIDR takes no port.
    if raw.count(":") == 1:
        body, _, port_text = raw.partition(":")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"rule {text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    try:
        network = ipaddress.ip_network(body, strict=False)
        return Rule(text=raw, network=network, port=port)
    except ValueError:
        pass
    name = body.lower().rstrip(".")
    if name.startswith("*."):
        if not _HOST.match(name[2:]):
            raise ValueError(f"rule {text!r}: {name[2:]!r} is not a host name")
        return Rule(text=raw, suffix=name[1:], port=port)
    if "*" in name:
        raise ValueError(
            f"rule {text!r}: a wildcard is only '*.' before a domain (*.example.com); "
            "for every host use the mode 'open'"
        )
    if not _HOST.match(name):
        raise ValueError(
            f"rule {text!r} is not a host (pypi.org), a wildcard (*.example.com), an "
            "address or CIDR (10.0.0.0/8), each with an optional :port"
        )
    return Rule(text=raw, host=name, port=port)


def parse_rules(texts: Sequence[str]) -> tuple[Rule, ...]:
    return _parsed(tuple(texts))


@functools.lru_cache(maxsize=1024)
def _parsed(texts: tuple[str, ...]) -> tuple[Rule, ...]:
    # The proxy decides every request against the same few lists: parse each once.
    return tuple(parse_rule(text) for text in texts)


class EgressPolicy(BaseModel):
    """Where a sandbox's traffic may go: `open` (everywhere but `deny`), `none` (nowhere),
    or `allowlist` (only `allow`, never `deny`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: EgressMode = "open"
    allow: list[str] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description="hosts (pypi.org), wildcards (*.example.com), addresses or CIDRs "
        "(10.0.0.0/8), each optionally with :port; used by the mode allowlist",
    )
    deny: list[str] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description="rules of the same forms, refused whatever allows them",
    )

    @field_validator("allow", "deny")
    @classmethod
    def _rules(cls, texts: list[str]) -> list[str]:
        return [rule.text for rule in parse_rules(texts)]

    @model_validator(mode="after")
    def _allow_needs_allowlist(self) -> EgressPolicy:
        if self.allow and self.mode != "allowlist":
            raise ValueError(
                f"egress.allow is used by the mode 'allowlist' only; this policy's mode is "
                f"{self.mode!r}: set mode to 'allowlist' or leave allow out"
            )
        return self

    @property
    def proxied(self) -> bool:
        """Whether enforcing it takes the proxy (anything but all or nothing)."""
        return self.mode == "allowlist" or (self.mode == "open" and bool(self.deny))


OPEN = EgressPolicy()
NONE = EgressPolicy(mode="none")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # What decided, for the log and the refusal: `allow "pypi.org"`, `deny "x"`,
    # `no allow rule of the sandbox's policy matches`, `mode none`.
    reason: str


def narrowing_problems(sandbox: EgressPolicy, profile: EgressPolicy) -> list[str]:
    """Why `sandbox` would widen `profile` (nothing when it only narrows it)."""
    if profile.mode == "none" and sandbox.mode != "none":
        return ["the profile's egress mode is 'none': a sandbox of it can only have 'none'"]
    if profile.mode == "allowlist":
        if sandbox.mode == "open":
            return ["the profile's egress mode is 'allowlist': a sandbox cannot make it 'open'"]
        granted = parse_rules(profile.allow)
        return [
            f"egress.allow {rule.text!r} is not within the profile's allowlist "
            f"({', '.join(profile.allow) or 'empty'})"
            for rule in parse_rules(sandbox.allow)
            if not any(mine.covers(rule) for mine in granted)
        ]
    return []


def decide(
    chain: Sequence[tuple[str, EgressPolicy]],
    host: str,
    port: int,
    address: IPAddress | None = None,
    always_denied: Sequence[IPNetwork] = (),
) -> Decision:
    """Whether a request to `host:port` (resolved to `address`, when known) passes every
    named policy of `chain`, and which rule decided."""
    for network in always_denied:
        for found in (_address(host), address):
            if _within(found, network):
                return Decision(False, f"the address {found} is never reachable ({network})")
    reason = "mode open"
    for name, policy in chain:
        for rule in parse_rules(policy.deny):
            if rule.matches(host, port, address):
                return Decision(False, f"deny {rule.text!r} of the {name}'s policy")
        if policy.mode == "none":
            return Decision(False, f"the {name}'s policy has the mode none")
        if policy.mode == "allowlist":
            granted = next(
                (rule for rule in parse_rules(policy.allow) if rule.matches(host, port, address)),
                None,
            )
            if granted is None:
                return Decision(False, f"no allow rule of the {name}'s policy matches")
            reason = f"allow {granted.text!r} of the {name}'s policy"
    return Decision(True, reason)


def always_denied(extra: Sequence[str] = ()) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text) for text in (*ALWAYS_DENIED, *extra))
