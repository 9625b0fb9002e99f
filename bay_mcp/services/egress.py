"""A sandbox's egress: the policies it runs under (its profile's, then its own, which
may only narrow), the secrets bound to hosts, what its container gets to go through
the proxy, and the log of what the proxy decided.

Where a sandbox's traffic goes follows from its policy chain and its bindings:
nowhere (a `none` anywhere in the chain), straight out (every policy open without
deny rules, and no secret bound), else through the egress proxy, its only way out.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from bay_mcp.environment import CA_VARIABLES
from bay_mcp.errors import CapabilityNotSupported, ValidationFailed
from bay_mcp.managers.egress_proxy import EgressPlan, EgressProxy
from bay_mcp.services.owner_secrets import SecretStore
from bay_mcp.services.sandbox_catalogue import live_row
from bay_mcp.services.sandbox_inputs import SecretBinding
from bay_mcp.services.views import EgressLog, EgressLogItem
from bay_mcp.settings import Profile
from bay_mcp.storage.egress_log import EgressLogRepository
from bay_mcp.storage.models import Sandbox
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository
from ship.egress.protocol import (
    CA_BUNDLE_PATH,
    NODE_PRELOAD,
    PLACEHOLDER_PREFIX,
    PROXY_HOST,
    PROXY_PORT,
    NamedPolicy,
    SandboxEgress,
)
from ship.egress.protocol import SecretBinding as ProxyBinding
from ship.egress.rules import EgressPolicy, narrowing_problems, parse_rules

Network = Literal["bridge", "none", "egress"]
PROXY_URL = f"http://{PROXY_HOST}:{PROXY_PORT}"
# Never through the proxy: the sandbox itself (`ship` names it too).
NO_PROXY = "localhost,127.0.0.1,::1,ship"


def chain_of(profile: Profile, sandbox: Sandbox) -> list[NamedPolicy]:
    chain = [NamedPolicy(name="profile", policy=profile.egress_policy)]
    if sandbox.egress is not None:
        chain.append(
            NamedPolicy(name="sandbox", policy=EgressPolicy.model_validate(sandbox.egress))
        )
    return chain


def network_of(profile: Profile, sandbox: Sandbox) -> Network:
    chain = chain_of(profile, sandbox)
    if any(named.policy.mode == "none" for named in chain):
        return "none"
    if sandbox.secret_bindings or any(named.policy.proxied for named in chain):
        return "egress"
    return "bridge"


def _invalid(message: str, fields: Sequence[str]) -> ValidationFailed:
    return ValidationFailed(message, {"fields": list(fields)})


class EgressService:
    def __init__(
        self,
        secrets_store: SecretStore,
        sandboxes: SandboxRepository,
        sessions: SessionRepository,
        log_rows: EgressLogRepository,
        profiles: list[Profile],
    ) -> None:
        # The proxy and its CA: attach_proxy, at Bay's start, when the driver runs one.
        self._proxy: EgressProxy | None = None
        self._ca = ""
        self._secrets = secrets_store
        self._sandboxes = sandboxes
        self._sessions = sessions
        self._log_rows = log_rows
        self._profiles = {profile.id: profile for profile in profiles}
        secrets_store.on_change.append(self.secrets_changed)

    def attach_proxy(self, proxy: EgressProxy, ca_certificate: str) -> None:
        self._proxy, self._ca = proxy, ca_certificate
        proxy.set_registrar(self.registrations)

    async def resume(self) -> None:
        """At Bay's start: proxied sandboxes still running (adopted) get their proxy
        back and told of them, and their log read again."""
        if self._proxy is not None and await self.registrations():
            await self._proxy.ensure()

    async def close(self) -> None:
        if self._proxy is not None:
            await self._proxy.close()

    # -- creation --------------------------------------------------------------------

    async def check_create(
        self,
        owner: str,
        profile: Profile,
        egress: EgressPolicy | None,
        bindings: Sequence[SecretBinding],
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """A create's egress and bindings, checked (the policy only narrows the
        profile's; each secret exists; each bound host is one the policy reaches), as
        the sandbox's row keeps them. ValidationFailed says what is wrong."""
        problems = narrowing_problems(egress, profile.egress_policy) if egress else []
        if problems:
            raise _invalid(
                f"egress would widen profile {profile.id}'s policy: {'; '.join(problems)}",
                ["egress"],
            )
        if bindings and self._proxy is None:
            raise CapabilityNotSupported(
                "secrets bound to hosts need the egress proxy, which this Bay's driver "
                "does not run (docs/egress.md)"
            )
        chain = [profile.egress_policy, *([egress] if egress else [])]
        if bindings and any(policy.mode == "none" for policy in chain):
            raise _invalid("secrets need egress: this sandbox's egress mode is none", ["secrets"])
        names = [binding.secret for binding in bindings]
        if names:  # most creates bind none: no read for them
            await self._secrets.values(owner, names)  # NotFound names a missing one
        envs = [binding.env or binding.secret for binding in bindings]
        if len(set(envs)) != len(envs):
            raise _invalid("two secrets bound to the same environment variable", ["secrets"])
        return (
            egress.model_dump() if egress is not None else None,
            [
                {
                    "secret": binding.secret,
                    "env": env,
                    "hosts": [rule.text for rule in parse_rules(binding.hosts)],
                    "placeholder": f"{PLACEHOLDER_PREFIX}{secrets.token_urlsafe(24)}",
                }
                for binding, env in zip(bindings, envs, strict=True)
            ],
        )

    # -- sessions ---------------------------------------------------------------------

    async def plan(self, sandbox: Sandbox, profile: Profile) -> EgressPlan:
        network = network_of(profile, sandbox)
        if network != "egress":
            return EgressPlan(network)
        if self._proxy is None:
            raise CapabilityNotSupported(
                f"sandbox {sandbox.id}'s egress policy needs the egress proxy, which this "
                "Bay's driver does not run: under Kubernetes apply the proxy's manifests "
                "(docs/kubernetes.md), or use a policy of mode open or none"
            )
        env = {
            "HTTP_PROXY": PROXY_URL, "HTTPS_PROXY": PROXY_URL,
            "http_proxy": PROXY_URL, "https_proxy": PROXY_URL,
            "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
            "NODE_OPTIONS": f"--require {NODE_PRELOAD}",
            "SHIP_EGRESS_CA": self._ca,
        }  # fmt: skip
        env.update(dict.fromkeys(CA_VARIABLES, CA_BUNDLE_PATH))
        env.update({binding["env"]: binding["placeholder"] for binding in sandbox.secret_bindings})
        return EgressPlan("egress", await self._proxy.ensure(), env)

    async def started(self, sandbox: Sandbox, profile: Profile, address: str) -> None:
        """Tell the proxy of a proxied sandbox now at `address`: before Ship answers,
        so no code of the sandbox runs before its policy is in place."""
        assert self._proxy is not None
        await self._proxy.register(await self._entry(sandbox, profile, address))

    async def stopped(self, address: str) -> None:
        if self._proxy is not None:
            await self._proxy.forget(address)

    async def _entry(self, sandbox: Sandbox, profile: Profile, address: str) -> SandboxEgress:
        names = [binding["secret"] for binding in sandbox.secret_bindings]
        values = await self._secrets.values(sandbox.owner, names) if names else {}
        return SandboxEgress(
            sandbox_id=sandbox.id,
            address=address,
            chain=chain_of(profile, sandbox),
            bindings=[
                ProxyBinding(
                    placeholder=binding["placeholder"],
                    value=values[binding["secret"]],
                    hosts=binding["hosts"],
                )
                for binding in sandbox.secret_bindings
                if binding["secret"] in values
            ],
        )

    async def registrations(self, owner: str | None = None) -> list[SandboxEgress]:
        """Every proxied sandbox with a running session (of `owner`), as the proxy
        must know it; a secret deleted since is left out of its bindings."""
        entries = []
        for session in await self._sessions.all():
            if session.observed_state != "ready" or not session.endpoint:
                continue
            sandbox = await self._sandboxes.get(session.sandbox_id)
            if sandbox is None or sandbox.deleted_at is not None:
                continue
            if owner is not None and sandbox.owner != owner:
                continue
            profile = self._profiles.get(sandbox.profile)
            if profile is None or network_of(profile, sandbox) != "egress":
                continue
            address = urlsplit(session.endpoint).hostname
            if address:
                entries.append(await self._entry_kept(sandbox, profile, address))
        return entries

    async def _entry_kept(self, sandbox: Sandbox, profile: Profile, address: str) -> SandboxEgress:
        try:
            return await self._entry(sandbox, profile, address)
        except ValidationError:  # a row from an older Bay: no bindings then
            return SandboxEgress(
                sandbox_id=sandbox.id, address=address, chain=chain_of(profile, sandbox)
            )

    async def secrets_changed(self, owner: str) -> None:
        """A secret set or deleted: the owner's running sandboxes get the new value (or
        lose a deleted one) at once."""
        if self._proxy is None:
            return
        for entry in await self.registrations(owner):
            await self._proxy.register(entry)

    # -- the log -----------------------------------------------------------------------

    async def log(
        self, owner: str, sandbox_id: str, limit: int, before: int | None = None
    ) -> EgressLog:
        """The sandbox's egress log, newest first: `limit` entries older than `before`."""
        live_row(await self._sandboxes.get(sandbox_id), owner, sandbox_id)
        rows = await self._log_rows.newest(sandbox_id, limit + 1, before)
        items = [
            EgressLogItem(
                id=row.id or 0,
                time=row.time,
                host=row.host,
                port=row.port,
                method=row.method,
                bytes=row.bytes,
                allowed=row.allowed,
                reason=row.reason,
            )
            for row in rows[:limit]
        ]
        more = len(rows) > limit
        return EgressLog(
            sandbox_id=sandbox_id, items=items, next_before=items[-1].id if more else None
        )
