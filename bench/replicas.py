"""40 agents against one Bay and against two replicas sharing one PostgreSQL.

Each agent creates a sandbox and runs a first exec (a cold start: no warm pool); then
all agents at once run 10 warm `1+1` execs each over REST; with two replicas, an
agent's calls alternate between them (no stickiness). Printed: warm execs per second
over the warm phase, warm-exec p50/p99, the first exec and errors, for: one replica on
SQLite, one on PostgreSQL, two on one PostgreSQL.

PostgreSQL: BAY_BENCH_POSTGRES_URL, or a throwaway server from scripts/postgres.
Usage: .venv/bin/python bench/replicas.py [--agents 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import http_server, percentile

ROOT = Path(__file__).resolve().parent.parent
PROFILES = [{"id": "python-default", "warm_pool_size": 0}]


@dataclass
class Run:
    first: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


async def agents(urls: list[str], count: int) -> Run:
    """Every agent creates its sandbox and runs a first exec; then, all together, 10
    warm execs each (the warm phase is what the rate counts)."""
    run = Run()
    limits = httpx.Limits(max_connections=count + 5)
    clients = [httpx.AsyncClient(base_url=u, timeout=300, limits=limits) for u in urls]

    async def call(client: httpx.AsyncClient, sandbox: str, into: list[float]) -> None:
        started = time.perf_counter()
        answer = await client.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "1+1"})
        into.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200 or answer.json()["output"] != "2\n":
            run.errors += 1

    async def prepare(number: int) -> str | None:
        created = await clients[number % len(clients)].post("/v1/sandboxes", json={})
        if created.status_code != 201:
            run.errors += 1
            return None
        sandbox: str = created.json()["id"]
        await call(clients[(number + 1) % len(clients)], sandbox, run.first)
        return sandbox

    async def warm(number: int, sandbox: str) -> None:
        for turn in range(10):  # alternating replicas: no stickiness
            await call(clients[(number + turn) % len(clients)], sandbox, run.warm)

    try:
        sandboxes = await asyncio.gather(*(prepare(n) for n in range(count)))
        started = time.perf_counter()
        await asyncio.gather(*(warm(n, s) for n, s in enumerate(sandboxes) if s is not None))
        run.seconds = time.perf_counter() - started
        for number, sandbox in enumerate(sandboxes):
            if sandbox is not None:
                await clients[number % len(clients)].delete(f"/v1/sandboxes/{sandbox}")
    finally:
        for client in clients:
            await client.aclose()
    return run


def measure(label: str, replicas: int, database_url: str | None, count: int) -> Run:
    env = {
        # Shared by the replicas: each one's reaper knows the others' containers.
        "BAY_INSTANCE_ID": f"bay-bench-replicas-{os.getpid()}-{label.replace(' ', '-')}",
        "BAY_STATELESS_HTTP": "true",
        "BAY_MAX_CONCURRENT_EXECS_PER_OWNER": "128",
    }
    if database_url is not None:
        env["BAY_DATABASE_URL"] = database_url
    with ExitStack() as stack:
        servers = [stack.enter_context(http_server(PROFILES, env)) for _ in range(replicas)]
        return asyncio.run(agents([server.url for server in servers], count))


def _admin(server: str, statement: str) -> None:
    async def run() -> None:
        dsn = make_url(server).set(drivername="postgresql", database="postgres")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A new database on `server` for one measure; dropped after."""
    name = f"bay_bench_{os.getpid()}_{time.monotonic_ns()}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_server() -> Iterator[str]:
    given = os.environ.get("BAY_BENCH_POSTGRES_URL")
    if given:
        yield given
        return
    directory = tempfile.mkdtemp(prefix="bay-bench-postgres-")
    url = subprocess.run(
        [ROOT / "scripts/postgres", "start", directory],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        yield url
    finally:
        subprocess.run([ROOT / "scripts/postgres", "stop", directory], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=40)
    args = parser.parse_args()
    results: dict[str, Run] = {}
    results["1 replica, SQLite"] = measure("sqlite", 1, None, args.agents)
    with postgres_server() as server:
        for label, replicas in (("1 replica, PostgreSQL", 1), ("2 replicas, PostgreSQL", 2)):
            with postgres_database(server) as database:
                results[label] = measure(label, replicas, database, args.agents)
    print(f"\n{args.agents} agents × 10 warm `1+1` execs at once over REST (after create + first)")
    print(
        f"{'setup':<26}{'warm execs/s':>13}{'warm p50':>10}{'warm p99':>10}"
        f"{'first p50':>11}{'errors':>8}"
    )
    for label, run in results.items():
        print(
            f"{label:<26}{len(run.warm) / run.seconds:>13.1f}"
            f"{statistics.median(run.warm):>10.1f}{percentile(run.warm, 0.99):>10.1f}"
            f"{statistics.median(run.first):>11.1f}{run.errors:>8}"
        )
    base = results["1 replica, SQLite"]
    for label, run in results.items():
        ratio = statistics.median(run.warm) / statistics.median(base.warm)
        print(f"warm p50, {label} / 1 replica on SQLite: {ratio:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
