"""What the proxy holds: the sandboxes Bay registered (by address) and the egress log,
a bounded buffer Bay drains."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from ship.egress.protocol import LogEntry, LogPage, SandboxEgress, SecretBinding
from ship.egress.rules import Rule, parse_rules

# Entries kept until Bay reads them; older ones are dropped (and counted) past this.
LOG_CAPACITY = 20_000
MAX_PAGE = 1000


@dataclass(frozen=True)
class Registered:
    egress: SandboxEgress
    # Each binding with its hosts parsed once.
    bindings: tuple[tuple[SecretBinding, tuple[Rule, ...]], ...]

    def bound(self, host: str, port: int) -> list[SecretBinding]:
        """The bindings whose hosts include `host:port`."""
        return [
            binding
            for binding, rules in self.bindings
            if any(rule.matches(host, port) for rule in rules)
        ]


class EgressState:
    def __init__(self) -> None:
        self._by_address: dict[str, Registered] = {}
        self._log: deque[LogEntry] = deque()
        self._seq = 0
        self._dropped = 0
        self._written = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_address)

    def replace(self, sandboxes: list[SandboxEgress]) -> None:
        self._by_address = {sandbox.address: _registered(sandbox) for sandbox in sandboxes}

    def put(self, sandbox: SandboxEgress) -> None:
        self._by_address[sandbox.address] = _registered(sandbox)

    def remove(self, address: str) -> bool:
        return self._by_address.pop(address, None) is not None

    def lookup(self, address: str) -> Registered | None:
        return self._by_address.get(address)

    def record(
        self,
        sandbox_id: str,
        host: str,
        port: int,
        method: str,
        allowed: bool,
        reason: str,
        size: int = 0,
    ) -> None:
        self._seq += 1
        if len(self._log) >= LOG_CAPACITY:
            self._log.popleft()
            self._dropped += 1
        self._log.append(
            LogEntry(
                seq=self._seq,
                time=datetime.now(UTC),
                sandbox_id=sandbox_id,
                host=host,
                port=port,
                method=method,
                bytes=size,
                allowed=allowed,
                reason=reason,
            )
        )
        self._written.set()

    async def read(self, after: int, wait_s: float) -> LogPage:
        """Entries after `after`, waiting up to `wait_s` for the first one."""
        if after > self._seq:  # the proxy restarted since: its log starts again
            after = 0
        if self._seq <= after and wait_s > 0:
            self._written.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written.wait(), wait_s)
        entries = [entry for entry in self._log if entry.seq > after][:MAX_PAGE]
        next_seq = entries[-1].seq if entries else after
        dropped, self._dropped = self._dropped, 0
        return LogPage(entries=entries, next_seq=next_seq, dropped=dropped)


def _registered(sandbox: SandboxEgress) -> Registered:
    return Registered(
        egress=sandbox,
        bindings=tuple((binding, parse_rules(binding.hosts)) for binding in sandbox.bindings),
    )
