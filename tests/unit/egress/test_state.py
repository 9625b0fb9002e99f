"""The proxy's state: registrations by address, and the bounded log Bay drains."""

from __future__ import annotations

import asyncio

import pytest

from ship.egress import state as egress_state
from ship.egress.protocol import NamedPolicy, SandboxEgress, SecretBinding
from ship.egress.rules import EgressPolicy
from ship.egress.state import EgressState


def _sandbox(address: str, hosts: list[str]) -> SandboxEgress:
    return SandboxEgress(
        sandbox_id=f"sandbox-{address}",
        address=address,
        chain=[NamedPolicy(name="profile", policy=EgressPolicy())],
        bindings=[SecretBinding(placeholder="bay-secret:" + "a" * 20, value="v", hosts=hosts)],
    )


def test_registrations_are_by_address_and_bindings_by_host() -> None:
    state = EgressState()
    state.replace([_sandbox("10.0.0.2", ["api.example.com"]), _sandbox("10.0.0.3", ["*.x.io"])])
    found = state.lookup("10.0.0.2")
    assert found is not None
    assert [b.value for b in found.bound("api.example.com", 443)] == ["v"]
    assert found.bound("other.example.com", 443) == []
    assert state.remove("10.0.0.2")
    assert state.lookup("10.0.0.2") is None
    assert len(state) == 1


async def test_the_log_is_read_after_a_sequence_and_waits_for_news() -> None:
    state = EgressState()
    state.record("s", "a.com", 443, "CONNECT", True, "allow 'a.com'", 10)
    page = await state.read(0, 0)
    assert [entry.host for entry in page.entries] == ["a.com"]
    assert page.next_seq == 1
    waiting = asyncio.create_task(state.read(1, 5))
    await asyncio.sleep(0)
    state.record("s", "b.com", 80, "GET", False, "no allow rule")
    page = await asyncio.wait_for(waiting, 5)
    assert [(e.host, e.allowed) for e in page.entries] == [("b.com", False)]
    # A proxy started again counts from 1: a reader ahead of it reads from the start.
    fresh = EgressState()
    fresh.record("s", "c.com", 80, "GET", True, "ok")
    assert [e.host for e in (await fresh.read(500, 0)).entries] == ["c.com"]


async def test_the_log_is_bounded_and_says_what_it_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(egress_state, "LOG_CAPACITY", 3)
    state = EgressState()
    for n in range(5):
        state.record("s", f"{n}.com", 80, "GET", True, "ok")
    page = await state.read(0, 0)
    assert [e.host for e in page.entries] == ["2.com", "3.com", "4.com"]
    assert page.dropped == 2
