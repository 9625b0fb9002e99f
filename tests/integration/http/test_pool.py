"""The warm pool with real containers: claims are exclusive under concurrency and
across two Bay processes on one database, survive a SIGKILLed Bay without a double
hand-out, follow an image rebuild, stay out of quotas, and an external cargo starts
cold."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import query, server_database_url
from tests.integration.conftest import IMAGE, docker
from tests.integration.http.conftest import (
    HttpBay,
    mcp_http,
    running_server,
    start_server,
    stop_server,
    text_of,
)

SETTLE_S = 120.0


def pooled_profiles(size: int, image: str = IMAGE) -> str:
    return json.dumps([{"id": "python-default", "warm_pool_size": size, "image": image}])


def health(server: HttpBay) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/health", timeout=10).json()
    return body


def wait_for(what: str, check: Callable[[], bool], timeout: float = SETTLE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def pool_ready(server: HttpBay, size: int) -> Callable[[], bool]:
    return lambda: health(server)["pool"]["python-default"]["ready"] >= size


def pool_containers(server: HttpBay) -> list[str]:
    return server.containers(owner="bay:pool")


def container_of(server: HttpBay, sandbox_id: str) -> str:
    [container] = docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox_id}").split()
    return container


def create_all(clients: list[httpx.Client]) -> list[str]:
    """One create per client, all at once; the new sandboxes' ids, in the clients' order."""
    ids: dict[int, str] = {}
    errors: list[str] = []

    def create(position: int, client: httpx.Client) -> None:
        response = client.post("/v1/sandboxes", json={})
        if response.status_code == 201:
            ids[position] = response.json()["id"]
        else:
            errors.append(response.text)

    threads = [
        threading.Thread(target=create, args=(position, client))
        for position, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return [ids[position] for position in range(len(clients))]


OWNERS = tuple(f"agent{i}" for i in range(20))


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(
        (*OWNERS, "alice"),
        BAY_PROFILES=pooled_profiles(3),
        BAY_GC_ENABLED="false",
        BAY_POOL_CHECK_INTERVAL_SECONDS="1",
    ) as bay:
        wait_for("the pool to fill", pool_ready(bay, 3))
        yield bay


def test_twenty_concurrent_creates_never_share_a_member(server: HttpBay) -> None:
    members = set(pool_containers(server))
    assert len(members) == 3
    clients = [server.client(owner) for owner in OWNERS]
    ids: list[str] = []
    try:
        ids = create_all(clients)
        assert len(set(ids)) == 20
        # Every sandbox runs its own container once used: a claimed one already did.
        containers = {
            sandbox_id: client.get(f"/v1/sandboxes/{sandbox_id}").json()
            for sandbox_id, client in zip(ids, clients, strict=True)
        }
        claimed = [s for s, view in containers.items() if view["status"] == "ready"]
        assert 1 <= len(claimed) <= 3
        for sandbox_id, client in zip(ids, clients, strict=True):
            ran = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "6 * 7"})
            assert ran.json()["output"] == "42\n", ran.text
        used = [container_of(server, sandbox_id) for sandbox_id in ids]
        assert len(set(used)) == 20
        pool = health(server)["pool"]["python-default"]
        assert pool["hits"] == len(claimed)
        assert pool["misses"] == 20 - len(claimed)
        # Owners see only theirs; the pool refills behind them.
        assert [s["id"] for s in clients[0].get("/v1/sandboxes").json()["items"]] == [ids[0]]
        wait_for("the pool to refill", pool_ready(server, 3))
        assert not {container_of(server, member) for member in server.pool_members()} & set(used)
    finally:
        for sandbox_id, client in zip(ids, clients, strict=False):
            client.delete(f"/v1/sandboxes/{sandbox_id}")
        for client in clients:
            client.close()


def test_an_external_cargo_takes_the_cold_path(server: HttpBay) -> None:
    wait_for("the pool to fill", pool_ready(server, 3))
    before = health(server)["pool"]["python-default"]
    with server.client("alice") as alice:
        cargo = alice.post("/v1/cargos", json={}).json()["id"]
        sandbox = alice.post("/v1/sandboxes", json={"cargo_id": cargo}).json()
        assert sandbox["status"] == "idle"  # nothing started for it yet
        after = health(server)["pool"]["python-default"]
        assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
        alice.delete(f"/v1/sandboxes/{sandbox['id']}")
        alice.delete(f"/v1/cargos/{cargo}")


def test_quotas_ignore_the_pool() -> None:
    with running_server(
        ("alice",),
        BAY_PROFILES=pooled_profiles(2),
        BAY_MAX_SANDBOXES_TOTAL="2",
        BAY_POOL_CHECK_INTERVAL_SECONDS="1",
    ) as server:
        wait_for("the pool to fill", pool_ready(server, 2))
        with server.client("alice") as alice:
            for _ in range(2):
                assert alice.post("/v1/sandboxes", json={}).status_code == 201
            third = alice.post("/v1/sandboxes", json={})
            assert third.json()["error"]["code"] == "quota_exceeded", third.text


def test_two_bay_processes_share_one_pool_without_double_claims() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-pool-two-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    settings = {
        "BAY_PROFILES": pooled_profiles(2),
        "BAY_GC_ENABLED": "false",
        "BAY_POOL_CHECK_INTERVAL_SECONDS": "1",
    }
    owners = tuple(f"agent{i}" for i in range(8))
    first = start_server(data_dir, instance, owners=owners, env=settings)
    second = start_server(data_dir, instance, env=settings)
    second.keys = first.keys
    clients: list[httpx.Client] = []
    try:
        wait_for("the pool to fill", pool_ready(first, 2))
        clients = [(first if i % 2 else second).client(owner) for i, owner in enumerate(owners)]
        ids = create_all(clients)
        assert len(set(ids)) == 8
        for sandbox_id, client in zip(ids, clients, strict=True):
            ran = client.post(f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": "true"})
            assert ran.status_code == 200, ran.text
        assert len({container_of(first, sandbox_id) for sandbox_id in ids}) == 8
    finally:
        for client in clients:
            client.close()
        stop_server(second)
        stop_server(first)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_sigkilled_bay_hands_no_member_out_twice() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-pool-kill-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    settings = {"BAY_PROFILES": pooled_profiles(2), "BAY_POOL_CHECK_INTERVAL_SECONDS": "1"}
    server = start_server(data_dir, instance, owners=("alice", "bob"), env=settings)
    try:
        wait_for("the pool to fill", pool_ready(server, 2))
        survivors = set(pool_containers(server))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        again = start_server(data_dir, instance, env=settings)
        again.keys = server.keys
        server = again
        wait_for("the pool to settle", pool_ready(server, 2))
        with server.client("alice") as alice, server.client("bob") as bob:
            ids = create_all([alice, bob])
            used = {container_of(server, sandbox_id) for sandbox_id in ids}
            assert len(used) == 2
            # The members that outlived the kill were adopted, not started again.
            assert used & survivors
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def process_leases_current(data_dir: Path) -> set[str]:
    """The Bay processes whose lease on this data directory's database is current."""
    rows = query(
        server_database_url(data_dir),
        "SELECT holder, expires_at FROM leases WHERE name LIKE 'process:%'",
    )
    now = datetime.now(UTC)
    current = set()
    for holder, expires in rows:
        # SQLite gives text, PostgreSQL a datetime; both are UTC without a zone.
        when = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        if when.replace(tzinfo=UTC) > now:
            current.add(holder)
    return current


def test_a_bay_that_stops_removes_the_members_a_killed_bay_left() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-pool-left-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    settings = {"BAY_PROFILES": pooled_profiles(2), "BAY_POOL_CHECK_INTERVAL_SECONDS": "1"}
    killed = start_server(data_dir, instance, env=settings)
    server = killed
    try:
        wait_for("the pool to fill", pool_ready(killed, 2))
        [killed_holder] = process_leases_current(data_dir)
        assert killed.process is not None
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(timeout=30)
        server = start_server(data_dir, instance, env=settings)
        wait_for("the pool to settle", pool_ready(server, 2))
        # The killed Bay's members were adopted, not replaced.
        assert len(pool_containers(server)) == 2
        # Until its process lease lapses (20 s), a Bay may still be alive elsewhere.
        wait_for(
            "the killed Bay's lease to lapse",
            lambda: killed_holder not in process_leases_current(data_dir),
            timeout=60,
        )
        assert server.process is not None
        server.process.terminate()
        server.process.wait(timeout=60)
        assert server.containers() == []
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_with_no_bay_left_a_member_stops_itself_and_a_claimed_one_does_not() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-pool-orphan-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    orphan_after = 6
    profiles = [
        {"id": "python-default", "warm_pool_size": 2, "pool_orphan_after_seconds": orphan_after}
    ]
    settings = {"BAY_PROFILES": json.dumps(profiles), "BAY_POOL_CHECK_INTERVAL_SECONDS": "1"}
    server = start_server(data_dir, instance, owners=("alice",), env=settings)
    try:
        wait_for("the pool to fill", pool_ready(server, 2))
        with server.client("alice") as alice:
            claimed = alice.post("/v1/sandboxes", json={}).json()["id"]
        wait_for("the pool to refill", pool_ready(server, 2))
        members = set(pool_containers(server)) - {container_of(server, claimed)}
        assert len(members) == 2
        killed_at = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)

        def running(container: str) -> bool:
            return docker("inspect", "-f", "{{.State.Running}}", container).strip() == "true"

        # No Bay checks them any more: each stops itself once its time is up.
        wait_for("the orphaned members to stop", lambda: not any(map(running, members)), 60)
        assert time.monotonic() - killed_at >= orphan_after - 1
        # The claimed one is its owner's sandbox: its watch ended with the claim.
        assert running(container_of(server, claimed))
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_an_image_rebuild_replaces_the_members() -> None:
    tag = f"bay-pool-test-{secrets.token_hex(3)}:latest"
    docker("tag", IMAGE, tag)
    try:
        with running_server(
            ("alice",),
            BAY_PROFILES=pooled_profiles(1, image=tag),
            BAY_POOL_CHECK_INTERVAL_SECONDS="1",
        ) as server:
            wait_for("the pool to fill", pool_ready(server, 1))
            [old] = pool_containers(server)
            rebuilt = docker(
                "build", "-q", "-t", tag, "-",
                input_text=f"FROM {IMAGE}\nLABEL bay.test.rebuilt={secrets.token_hex(3)}\n",
            )  # fmt: skip
            wait_for(
                "a member on the rebuilt image",
                lambda: any(
                    docker("inspect", "--format", "{{.Image}}", c) == rebuilt
                    for c in pool_containers(server)
                    if c != old
                ),
            )
            wait_for("the old member to go", lambda: old not in pool_containers(server))
    finally:
        docker("rmi", "-f", tag, check=False)


async def test_an_mcp_create_is_served_from_the_pool(server: HttpBay) -> None:
    wait_for("the pool to fill", pool_ready(server, 3))
    before = health(server)["pool"]["python-default"]["hits"]
    async with mcp_http(server, "alice") as client:
        made = await client.call_tool("create_sandbox", {})
        assert made.structured_content is not None
        assert made.structured_content["status"] == "ready"  # a running, warm sandbox
        sandbox_id = made.structured_content["id"]
        ran = await client.call_tool("python_exec", {"sandbox_id": sandbox_id, "code": "6*7"})
        assert text_of(ran) == "42"
        await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
    assert health(server)["pool"]["python-default"]["hits"] == before + 1
