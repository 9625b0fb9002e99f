"""Two `bay-mcp serve` processes on one PostgreSQL and one engine behave as one Bay.

PostgreSQL comes from scripts/test (BAY_TEST_POSTGRES_URL: a throwaway server); without
it these tests fail, saying how to get one. Each test's replicas share a database of
their own, the instance id (so each one's reaper knows the other's containers) and
nothing else: separate data directories, separate ports. MCP goes through a client-side
round-robin "load balancer" (every request to the next replica) over stateless
streamable HTTP.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.announced import call_every_announced
from tests.databases import create_postgres_database, drop_postgres_database, query, run_async
from tests.integration.conftest import docker
from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    key_headers,
    start_server,
    stop_server,
    text_of,
)
from tests.integration.http.test_mcp_confirmations import Person

OWNERS = ("alice", "admin")


@dataclass
class Replicas:
    first: HttpBay
    second: HttpBay
    database_url: str

    def each(self, n: int) -> HttpBay:
        return self.first if n % 2 == 0 else self.second


def _postgres_server() -> str:
    url = os.environ.get("BAY_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "the replica tests need PostgreSQL: run scripts/test (it starts a throwaway "
            "server), or set BAY_TEST_POSTGRES_URL=postgresql+asyncpg://user@host:port/db",
            pytrace=False,
        )
    return url


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    server = _postgres_server()
    url = run_async(create_postgres_database, server)
    instance = f"bay-test-{secrets.token_hex(4)}"
    settings = {
        "BAY_DATABASE_URL": url,
        "BAY_STATELESS_HTTP": "true",
        "BAY_ALLOW_ANONYMOUS": "false",
        "BAY_GC_INTERVAL_SECONDS": "3600",  # the tests run the reaper themselves
    }
    dirs = [Path(tempfile.mkdtemp(prefix="bay-replica-")) for _ in range(2)]
    first = start_server(dirs[0], instance, owners=OWNERS, env=settings)
    second: HttpBay | None = None
    try:
        second = start_server(dirs[1], instance, env=settings)
        second.keys = first.keys  # keys live in the shared database
        yield Replicas(first, second, url)
    finally:
        for server_ in (second, first):
            if server_ is not None:
                stop_server(server_)
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
        run_async(drop_postgres_database, url)


def test_a_sandbox_made_through_one_replica_is_used_through_the_other(
    replicas: Replicas,
) -> None:
    with replicas.first.client("alice") as one, replicas.second.client("alice") as other:
        for client in (one, other):
            assert client.get("/health").json()["checks"]["database"] == "ok (postgresql)"
        made = one.post("/v1/sandboxes", json={})
        assert made.status_code == 201, made.text
        sandbox = made.json()["id"]
        ran = other.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x = 41"})
        assert ran.status_code == 200, ran.text
        # The same kernel, whichever replica the call goes through.
        again = one.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "print(x + 1)"})
        assert again.json()["output"].strip() == "42", again.text
        wrote = other.put(
            f"/v1/sandboxes/{sandbox}/filesystem/files",
            json={"path": "shared.txt", "content": "from the second"},
        )
        assert wrote.status_code == 200, wrote.text
        read = one.get(f"/v1/sandboxes/{sandbox}/filesystem/files", params={"path": "shared.txt"})
        assert read.json()["content"] == "from the second", read.text
        assert [s["id"] for s in other.get("/v1/sandboxes").json()["items"]] == [sandbox]
        assert len(docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox}").split()) == 1
        assert other.delete(f"/v1/sandboxes/{sandbox}").status_code == 204
        assert one.get(f"/v1/sandboxes/{sandbox}").status_code == 404


def test_twenty_concurrent_first_calls_over_both_start_one_container(replicas: Replicas) -> None:
    with replicas.first.client("alice") as one:
        sandbox = one.post("/v1/sandboxes", json={}).json()["id"]
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def first_call(n: int) -> None:
        with replicas.each(n).client("alice") as client:
            response = client.post(
                f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": f"echo {n}"}
            )
        with lock:
            answers.append((response.status_code, response.text))

    threads = [threading.Thread(target=first_call, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(answers) == 20
    assert [status for status, _ in answers] == [200] * 20, answers
    containers = docker("ps", "-aq", "--filter", f"label=bay.sandbox_id={sandbox}").split()
    assert len(containers) == 1
    sessions = query(
        replicas.database_url, "SELECT id FROM sessions WHERE sandbox_id = $1", sandbox
    )
    assert len(sessions) == 1


def test_one_reaper_runs_at_a_time(replicas: Replicas) -> None:
    # A reaper run in progress elsewhere holds the lease: both replicas' runs are refused.
    query(
        replicas.database_url,
        "INSERT INTO leases (name, holder, expires_at) "
        "VALUES ('reaper', 'a-reaper-elsewhere', now() + interval '1 minute') RETURNING name",
    )
    for replica in (replicas.first, replicas.second):
        with replica.client("admin") as admin:
            refused = admin.post("/v1/admin/gc/run", json={})
            error = error_of(refused, 423, "locked")
            assert "another Bay process" in str(error["message"])
    query(replicas.database_url, "DELETE FROM leases WHERE name = 'reaper' RETURNING name")
    # Free again: the two ask at once, and each run either runs or is told to wait.
    statuses: list[int] = []

    def run(replica: HttpBay) -> None:
        with replica.client("admin") as admin:
            statuses.append(admin.post("/v1/admin/gc/run", json={}).status_code)

    threads = [threading.Thread(target=run, args=(r,)) for r in (replicas.first, replicas.second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) in ([200, 200], [200, 423]), statuses
    assert query(replicas.database_url, "SELECT holder FROM leases WHERE name = 'reaper'") == []


# 2026-07-28 needs no server session at all; the legacy protocol, BAY_STATELESS_HTTP.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_over_stateless_http_needs_no_sticky_sessions(
    replicas: Replicas, mode: str
) -> None:
    balancer = RoundRobin([replicas.first.url, replicas.second.url])
    async with balanced_mcp(balancer, key_headers(replicas.first, "alice"), mode) as client:
        assert (client.protocol_version == "2026-07-28") == (mode == "auto")
        made = await client.call_tool("create_sandbox", {})
        assert not made.is_error, text_of(made)
        assert made.structured_content is not None
        sandbox = made.structured_content["id"]
        for code in ("x = 6", "y = 7", "print(x * y)"):
            ran = await client.call_tool("python_exec", {"sandbox_id": sandbox, "code": code})
            assert not ran.is_error, text_of(ran)
        assert "42" in text_of(ran)
        shell = await client.call_tool("shell_exec", {"sandbox_id": sandbox, "command": "pwd"})
        assert "/workspace" in text_of(shell)
        await client.call_tool("delete_sandbox", {"sandbox_id": sandbox})
    # Every replica served some of it.
    assert all(count > 0 for count in balancer.served.values()), balancer.served


async def test_a_modern_client_alternating_between_replicas_gets_progress_and_cancels(
    replicas: Replicas,
) -> None:
    """MCP 2026-07-28 through a balancer without stickiness: every request may reach
    either replica. A call's progress comes on its own response stream, and cancelling
    closes that stream, so both stay with the replica running the call."""
    balancer = RoundRobin([replicas.first.url, replicas.second.url])
    async with balanced_mcp(balancer, key_headers(replicas.first, "alice")) as client:
        assert client.protocol_version == "2026-07-28"
        made = await client.call_tool("create_sandbox", {})
        assert made.structured_content is not None, text_of(made)
        sandbox = made.structured_content["id"]
        # First (it starts the sandbox, whose progress is not the run's output).
        kept = await client.call_tool("python_exec", {"sandbox_id": sandbox, "code": "k = 7"})
        assert not kept.is_error, text_of(kept)
        messages: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message or "")

        counted = await client.call_tool(
            "python_exec",
            {"sandbox_id": sandbox, "code": COUNTING},
            progress_callback=on_progress,
        )
        assert not counted.is_error, text_of(counted)
        assert "".join(messages).split() == ["0", "1", "2", "3", "4"], messages

        running = asyncio.create_task(
            client.call_tool(
                "python_exec", {"sandbox_id": sandbox, "code": INTERRUPTIBLE, "timeout": 300}
            )
        )
        await until_listed(client, sandbox, "started.txt")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        # The replica that ran the call saw its stream close and interrupted the kernel
        # (an interrupt, not a restart: the kernel keeps its variables).
        await until_listed(client, sandbox, "interrupted.txt")
        after = await client.call_tool("python_exec", {"sandbox_id": sandbox, "code": "print(k)"})
        assert text_of(after).strip().startswith("7"), text_of(after)
        await client.call_tool("delete_sandbox", {"sandbox_id": sandbox})
    assert all(count > 0 for count in balancer.served.values()), balancer.served


async def test_every_announced_capability_is_served_through_either_replica(
    replicas: Replicas,
) -> None:
    balancer = RoundRobin([replicas.first.url, replicas.second.url])
    async with balanced_mcp(balancer, key_headers(replicas.first, "alice")) as client:
        made = await client.call_tool("create_sandbox", {})
        assert made.structured_content is not None, text_of(made)
        called = await call_every_announced(client)
        assert "subscriptions/listen" in called
        await client.call_tool("delete_sandbox", {"sandbox_id": made.structured_content["id"]})
    assert all(count > 0 for count in balancer.served.values()), balancer.served


async def test_a_confirmation_asked_by_one_replica_is_answered_through_the_other(
    replicas: Replicas,
) -> None:
    """At 2026-07-28 a confirmation's answer comes back in a second call carrying the
    `requestState` the asking replica sealed; round robin sends it to the other replica,
    which opens it with the key the replicas share (the database's)."""
    balancer = RoundRobin([replicas.first.url, replicas.second.url])
    for person, kept in ((Person("decline"), True), (Person("accept"), False)):
        headers = key_headers(replicas.first, "alice")
        async with balanced_mcp(balancer, headers, elicitation_callback=person) as client:
            assert client.protocol_version == "2026-07-28"
            made = await client.call_tool("create_sandbox", {})
            assert made.structured_content is not None, text_of(made)
            sandbox = made.structured_content["id"]
            wrote = await client.call_tool(
                "write_file", {"sandbox_id": sandbox, "path": "keep.txt", "content": "mine"}
            )
            assert not wrote.is_error, text_of(wrote)
            deleted = await client.call_tool("delete_sandbox", {"sandbox_id": sandbox})
            assert not deleted.is_error, text_of(deleted)
            assert len(person.questions) == 1, person.questions
            assert "keep.txt" in person.questions[0] or "1 file" in person.questions[0]
            with replicas.first.client("alice") as rest:
                listed = rest.get(f"/v1/sandboxes/{sandbox}")
            assert (listed.status_code == 200) is kept, (person.action, listed.text)
            if kept:
                await client.call_tool("delete_sandbox", {"sandbox_id": sandbox})
    assert all(count > 0 for count in balancer.served.values()), balancer.served


def test_a_replica_killed_mid_exec_leaves_the_other_serving(replicas: Replicas) -> None:
    with replicas.second.client("alice") as other:
        sandbox = other.post("/v1/sandboxes", json={}).json()["id"]
        assert other.post(
            f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "kept = 'state'"}
        ).is_success
    failed: list[BaseException] = []

    def long_call() -> None:
        try:
            with replicas.first.client("alice") as one:
                one.post(
                    f"/v1/sandboxes/{sandbox}/shell/exec",
                    json={"command": "touch started; sleep 5"},
                )
        except httpx.HTTPError as exc:  # the replica died under it
            failed.append(exc)

    caller = threading.Thread(target=long_call)
    caller.start()
    with replicas.second.client("alice") as other:
        _until_file(other, sandbox, "started")
        assert replicas.first.process is not None
        replicas.first.process.send_signal(signal.SIGKILL)
        replicas.first.process.wait(timeout=30)
        caller.join(timeout=60)
        assert failed, "the call through the killed replica should have lost its connection"
        # The other replica serves on: the same sandbox, its kernel's state, new sandboxes.
        ran = other.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "print(kept)"})
        assert ran.json()["output"].strip() == "state", ran.text
        made = other.post("/v1/sandboxes", json={})
        assert made.status_code == 201, made.text
        fresh = made.json()["id"]
        ran = other.post(f"/v1/sandboxes/{fresh}/shell/exec", json={"command": "echo ok"})
        assert ran.json()["output"].strip() == "ok", ran.text


def test_a_port_exposed_through_one_replica_is_served_by_the_other(replicas: Replicas) -> None:
    with replicas.first.client("alice") as one, replicas.second.client("alice") as other:
        sandbox = one.post("/v1/sandboxes", json={}).json()["id"]
        started = one.post(
            f"/v1/sandboxes/{sandbox}/shell/exec",
            json={
                "command": "echo from-the-sandbox > index.html; "
                "nohup python3 -m http.server 8000 > server.log 2>&1 & "
                "for i in $(seq 100); do curl -sf localhost:8000/ >/dev/null && exit 0; "
                "sleep 0.1; done; exit 1"
            },
        )
        assert started.json()["exit_code"] == 0, started.text
        ports = f"/v1/sandboxes/{sandbox}/ports"
        exposed = one.post(ports, json={"port": 8000})
        assert exposed.status_code == 201, exposed.text
        # The signed URL names the first replica; the second (same database, same
        # signing secret) serves it, and lists it.
        path = httpx.URL(exposed.json()["url"]).raw_path.decode()
        served = httpx.get(replicas.second.url + path)
        assert served.status_code == 200, served.text
        assert "from-the-sandbox" in served.text
        assert [entry["port"] for entry in other.get(ports).json()["ports"]] == [8000]
        # Closed through the second, it is closed on the first.
        assert other.delete(f"{ports}/8000").status_code == 204
        gone = one.get(f"{ports}/8000/")
        error_of(gone, 404, "not_found")


# Five lines, a quarter of a second apart: each comes as progress while the call runs.
COUNTING = "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(0.25)"
INTERRUPTIBLE = (
    "import time\nopen('started.txt', 'w').write('yes')\ntry:\n    time.sleep(120)\n"
    "except KeyboardInterrupt:\n    open('interrupted.txt', 'w').write('yes')\n    raise"
)


async def until_listed(client: Client, sandbox: str, name: str) -> None:
    """Wait (60 s at most) until `name` is in the sandbox's workspace, asking through
    whichever replica the balancer picks."""
    deadline = time.monotonic() + 60
    while True:
        listing = await client.call_tool("list_files", {"sandbox_id": sandbox})
        assert listing.structured_content is not None, text_of(listing)
        if name in [entry["name"] for entry in listing.structured_content["entries"]]:
            return
        assert time.monotonic() < deadline, f"{name} did not appear within 60 s"
        await asyncio.sleep(0.1)


def _until_file(client: httpx.Client, sandbox: str, path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        found = client.get(f"/v1/sandboxes/{sandbox}/filesystem/files", params={"path": path})
        if found.status_code == 200:
            return
        assert time.monotonic() < deadline, f"{path} did not appear within 60 s"
        time.sleep(0.05)


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without stickiness, on the client's side: each request goes to
    the next replica in turn."""

    def __init__(self, upstreams: list[str]) -> None:
        self._upstreams = [httpx2.URL(url) for url in upstreams]
        self._next = 0
        self._transport = httpx2.AsyncHTTPTransport()
        self.served = {str(url): 0 for url in self._upstreams}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        upstream = self._upstreams[self._next % len(self._upstreams)]
        self._next += 1
        self.served[str(upstream)] += 1
        request.url = request.url.copy_with(host=upstream.host, port=upstream.port)
        request.headers["host"] = f"{upstream.host}:{upstream.port}"
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


@asynccontextmanager
async def balanced_mcp(
    balancer: RoundRobin,
    headers: dict[str, str],
    mode: str = "auto",
    elicitation_callback: Person | None = None,
) -> AsyncIterator[Client]:
    """An MCP client through `balancer`: by default at the newest version the server
    offers (2026-07-28), with "legacy" through the initialize handshake."""
    first = next(iter(balancer.served))
    async with (
        # httpx2: the MCP SDK's own copy of httpx, which its client takes.
        httpx2.AsyncClient(transport=balancer, headers=headers, timeout=120) as http,
        Client(
            streamable_http_client(f"{first}/mcp", http_client=http),
            mode=mode,
            elicitation_callback=elicitation_callback,
        ) as client,
    ):
        yield client
