"""The egress proxy's control API: what Bay sends it and reads from it. One module
imported by both sides, like Ship's protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ship.egress.rules import EgressPolicy, parse_rules

PROXY_PORT = 3128
CONTROL_PORT = 9090
# The name sandboxes reach the proxy by, on each sandbox network (a network alias).
PROXY_HOST = "bay-egress"
# What a bound secret looks like inside the sandbox: this prefix and a random token.
PLACEHOLDER_PREFIX = "bay-secret:"
# In a proxied sandbox: the CA bundle Ship writes at its start (the system's, a
# profile's ca_bundle, and the installation's egress CA), which every tool is pointed
# at; and the script Node.js loads first so that its fetch() uses the proxy too.
CA_BUNDLE_PATH = "/tmp/.bay/ca-bundle.pem"
NODE_PRELOAD = "/opt/ship/app/ship/egress/node_proxy.cjs"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamedPolicy(Model):
    """One policy of a sandbox's chain: `profile`, then `sandbox` (each must allow)."""

    name: Literal["profile", "sandbox"]
    policy: EgressPolicy


class SecretBinding(Model):
    """A secret's value, put in place of `placeholder` in the headers of HTTPS requests
    to `hosts` (rules of the policy forms), and nowhere else."""

    placeholder: str = Field(pattern=rf"^{PLACEHOLDER_PREFIX}[A-Za-z0-9_-]{{16,64}}$")
    value: str = Field(repr=False)
    hosts: list[str] = Field(min_length=1)

    @field_validator("hosts")
    @classmethod
    def _rules(cls, hosts: list[str]) -> list[str]:
        return [rule.text for rule in parse_rules(hosts)]


class SandboxEgress(Model):
    """A sandbox as the proxy knows it: by its address on its sandbox network."""

    sandbox_id: str
    address: str
    chain: list[NamedPolicy]
    bindings: list[SecretBinding] = Field(default_factory=list)


class Registrations(Model):
    sandboxes: list[SandboxEgress]


class LogEntry(Model):
    seq: int
    time: datetime
    sandbox_id: str
    host: str
    port: int
    method: str
    # Bytes sent and received (bodies of HTTP requests and answers; everything through a
    # tunnel), once the request ended.
    bytes: int = 0
    allowed: bool
    reason: str


class LogPage(Model):
    entries: list[LogEntry]
    # Ask for entries after this next time.
    next_seq: int
    # Entries the proxy dropped before anyone read them (its buffer is bounded).
    dropped: int = 0


class Health(Model):
    ok: bool = True
    sandboxes: int
