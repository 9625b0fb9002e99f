"""Sandbox starts, measured in one run: a create from the pool, a cold start beside the
container's own, the CPU a start costs, and many agents starting at once.

    .venv/bin/python bench/starts.py [--creates 20] [--cold 5] [--agents 100]

Starts the real `bay-mcp serve --transport http` (a throwaway data directory; profile
python-default with its warm pool, `cold` without one) and prints:
  1. create alone            POST /v1/sandboxes, and MCP create_sandbox (the SDK's client
                             over streamable HTTP), served from the pool (ms), alternating;
                             before each, the pool has refilled; the sandbox is deleted,
                             untimed; and MCP's floor, `list_profiles` (a tool that reads
                             nothing) with the same client
  2. cold create + first exec
                             POST /v1/sandboxes + POST .../python/exec `print(1)` on
                             `cold` (ms), run by run interleaved with
     docker run -> /health   `docker run -d` of the same image (a fresh volume, port
                             published on 127.0.0.1 as Bay does) until Ship's /health
                             answers (ms); then the ratio of the two p50s
  3. CPU-seconds per start   over the cold starts of 2 (averages): the engine (dockerd
                             and containerd from /proc, and the container's own shim and
                             docker-proxy, read before it is removed; dockerd's and
                             containerd's figures hold any other Docker work on the
                             machine meanwhile, hence the same figure, shim and
                             docker-proxy included, for a `docker run` beside it), Ship (the
                             container's cgroup CPU less the kernel's), the kernel (the
                             container's ipykernel processes, /proc), and Bay's server
                             process; and the engine's share of `docker run` in 2
  4. N agents at once        `--agents` (100) concurrent REST agents, each a create +
                             first exec `print(1)` on python-default: p50/p99 of the time
                             from the common start to each agent's first answer (s), the
                             errors, and the CPU-seconds per start the burst cost (engine
                             and Bay from /proc, sandboxes from their cgroups), beside
                             the machine's busy CPU-seconds meanwhile (all processes)
`--creates 0`, `--cold 0` or `--agents 0` leaves a part out. The figures of one run are
comparable with each other only (other work on the machine shares its CPU). Every
sandbox, container and volume it makes is removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HEADER, Server, docker, http_server, percentile, summary

IMAGE = "ship:latest"
PROFILES: list[dict[str, Any]] = [
    {"id": "python-default", "image": IMAGE},
    {"id": "cold", "image": IMAGE, "warm_pool_size": 0},
]
LABEL = "bay.bench=starts"
READY_TIMEOUT_S = 120.0
TICK_S = os.sysconf("SC_CLK_TCK")


# -- CPU accounting, from /proc and the cgroups -------------------------------------


def process_cpu(pid: int) -> float:
    """CPU-seconds of a process and of its children it has reaped; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(value) for value in fields[11:15]) / TICK_S


def processes() -> Iterator[tuple[int, str, str]]:
    """(pid, comm, command line) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        yield int(entry.name), comm, cmdline


ENGINE_PIDS = [pid for pid, comm, _ in processes() if comm in ("dockerd", "containerd")]


def engine_cpu() -> float:
    return sum(process_cpu(pid) for pid in ENGINE_PIDS)


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU-seconds of the machine since boot, every core summed."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / TICK_S, sum(ticks) / TICK_S


def cgroup_dir(container: str) -> Path:
    for candidate in (
        Path(f"/sys/fs/cgroup/cpuacct/docker/{container}"),  # v1, cgroupfs
        Path(f"/sys/fs/cgroup/cpuacct/system.slice/docker-{container}.scope"),  # v1, systemd
        Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope"),  # v2, systemd
        Path(f"/sys/fs/cgroup/docker/{container}"),  # v2, cgroupfs
    ):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"no cgroup found for container {container[:12]}")


def cgroup_cpu(container: str) -> float:
    found = cgroup_dir(container)
    if (found / "cpuacct.usage").exists():
        return int((found / "cpuacct.usage").read_text()) / 1e9
    for line in (found / "cpu.stat").read_text().splitlines():
        if line.startswith("usage_usec"):
            return int(line.split()[1]) / 1e6
    raise RuntimeError(f"no CPU figure in {found}")


@dataclass
class StartCpu:
    engine: list[float] = field(default_factory=list)
    ship: list[float] = field(default_factory=list)
    kernel: list[float] = field(default_factory=list)
    bay: list[float] = field(default_factory=list)


def container_cpu(container: str, address: str | None) -> tuple[float, float, float]:
    """(Ship, kernel, engine's per-container processes) CPU-seconds of a running
    container: its cgroup split by process, and its shim and docker-proxy."""
    total = cgroup_cpu(container)
    pids = {int(p) for p in (cgroup_dir(container) / "cgroup.procs").read_text().split()}
    kernel = shim = 0.0
    for pid, comm, cmdline in processes():
        if pid in pids and "ipykernel" in cmdline:
            kernel += process_cpu(pid)
        elif engine_side(comm, cmdline, container, address):
            shim += process_cpu(pid)
    return total - kernel, kernel, shim


def engine_side(comm: str, cmdline: str, container: str, address: str | None) -> bool:
    """Whether a process is the engine's for this container: its shim, its docker-proxy."""
    if comm.startswith("containerd-shim"):
        return container in cmdline
    return comm == "docker-proxy" and bool(address) and f"-container-ip {address} " in cmdline


def full_id(sandbox_id: str) -> tuple[str, str | None]:
    """The sandbox's container (full id) and its address."""
    [container] = docker(
        "ps", "-q", "--no-trunc", "--filter", f"label=bay.sandbox_id={sandbox_id}"
    ).split()  # fmt: skip
    address = docker(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        container,
    ).split()  # fmt: skip
    return container, address[0] if address else None


# -- 1. create alone ------------------------------------------------------------------


async def creates_alone(server: Server, runs: int) -> dict[str, list[float]]:
    """`runs` creates over REST and as many with MCP's `create_sandbox` (the SDK's client
    over streamable HTTP), alternating, each once the pool has refilled."""
    figures: dict[str, list[float]] = {"REST": [], "MCP": [], "MCP floor": []}
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as rest,
        Client(streamable_http_client(f"{server.url}/mcp")) as mcp,
    ):
        await mcp.list_tools()  # the session's first call pays for its opening
        for _ in range(runs):
            # The floor: a tool that reads nothing, what the SDK and the transport cost.
            started = time.perf_counter()
            await mcp.call_tool("list_profiles", {})
            figures["MCP floor"].append((time.perf_counter() - started) * 1000)
            for surface in ("REST", "MCP"):
                await asyncio.to_thread(server.wait_for_pool, "python-default", 1)
                started = time.perf_counter()
                if surface == "REST":
                    created = await rest.post("/v1/sandboxes", json={})
                    figures[surface].append((time.perf_counter() - started) * 1000)
                    created.raise_for_status()
                    sandbox: dict[str, Any] = created.json()
                else:
                    result = await mcp.call_tool("create_sandbox", {})
                    figures[surface].append((time.perf_counter() - started) * 1000)
                    if result.is_error:
                        raise RuntimeError(f"create_sandbox failed: {result.content}")
                    sandbox = result.structured_content or {}
                if sandbox["status"] != "ready":
                    raise RuntimeError(f"sandbox {sandbox['id']} did not come from the pool")
                (await rest.delete(f"/v1/sandboxes/{sandbox['id']}")).raise_for_status()
    return figures


# -- 2 and 3. cold starts beside docker run ---------------------------------------------


def cold_start(rest: httpx.Client, bay_pid: int, cpu: StartCpu) -> float:
    engine, bay = engine_cpu(), process_cpu(bay_pid)
    started = time.perf_counter()
    created = rest.post("/v1/sandboxes", json={"profile": "cold"})
    created.raise_for_status()
    sandbox_id = created.json()["id"]
    ran = rest.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "print(1)"})
    elapsed = (time.perf_counter() - started) * 1000
    if ran.status_code != 200 or ran.json()["output"] != "1\n":
        raise RuntimeError(f"the first exec failed: {ran.text}")
    cpu.engine.append(engine_cpu() - engine)  # before the docker calls below add theirs
    cpu.bay.append(process_cpu(bay_pid) - bay)
    container, address = full_id(sandbox_id)
    ship, kernel, own = container_cpu(container, address)
    cpu.engine[-1] += own
    cpu.ship.append(ship)
    cpu.kernel.append(kernel)
    rest.delete(f"/v1/sandboxes/{sandbox_id}").raise_for_status()
    return elapsed


def docker_run_to_health(engine_share: list[float]) -> float:
    volume = f"bay-bench-{secrets.token_hex(6)}"
    token = secrets.token_urlsafe(24)
    docker("volume", "create", "--label", LABEL, volume)
    container = ""
    try:
        engine = engine_cpu()
        started = time.perf_counter()
        container = docker(
            "run", "-d", "--label", LABEL, "-e", f"SHIP_TOKEN={token}",
            "-v", f"{volume}:/workspace", "-p", "127.0.0.1::8123", IMAGE,
        )  # fmt: skip
        port = docker("port", container, "8123").splitlines()[0].rsplit(":", 1)[1]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as ship:
            while True:
                try:
                    if ship.get("/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Ship did not answer within {READY_TIMEOUT_S:g} s")
                time.sleep(0.01)
        elapsed = (time.perf_counter() - started) * 1000
        engine_share.append(engine_cpu() - engine)
        container = docker("inspect", "--format", "{{.Id}}", container)
        address = docker(
            "inspect", "--format", "{{.NetworkSettings.IPAddress}}", container
        )  # fmt: skip
        engine_share[-1] += container_cpu(container, address or None)[2]  # as for Bay's
        return elapsed
    finally:
        if container:
            docker("rm", "-f", container)
        docker("volume", "rm", "-f", volume)


def cold_starts(
    server: Server, runs: int
) -> tuple[list[float], list[float], StartCpu, list[float]]:
    bay_figures: list[float] = []
    raw_figures: list[float] = []
    cpu = StartCpu()
    raw_engine: list[float] = []
    with httpx.Client(base_url=server.url, timeout=120) as rest:
        cold_start(rest, server.pid, StartCpu())  # untimed: the sandbox network, imports
        for _ in range(runs):
            bay_figures.append(cold_start(rest, server.pid, cpu))
            raw_figures.append(docker_run_to_health(raw_engine))
    return bay_figures, raw_figures, cpu, raw_engine


# -- 4. many agents at once -------------------------------------------------------------


@dataclass
class Burst:
    seconds: list[float]
    errors: list[str]
    wall: float
    engine: float
    bay: float
    sandboxes: float
    pool: dict[str, Any]
    machine_busy: float
    machine_all: float


async def burst(server: Server, count: int) -> Burst:
    limits = httpx.Limits(max_connections=count + 5)
    seconds: list[float] = []
    errors: list[str] = []
    made: list[str] = []
    engine, bay, (busy, every) = engine_cpu(), process_cpu(server.pid), machine_cpu()
    async with httpx.AsyncClient(base_url=server.url, timeout=600, limits=limits) as rest:
        go = asyncio.Event()
        started = 0.0

        async def agent() -> None:
            await go.wait()
            try:
                created = await rest.post("/v1/sandboxes", json={})
                if created.status_code != 201:
                    errors.append(f"create: {created.status_code} {created.text[:200]}")
                    return
                sandbox_id = created.json()["id"]
                made.append(sandbox_id)
                ran = await rest.post(
                    f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "print(1)"}
                )
                if ran.status_code != 200 or ran.json()["output"] != "1\n":
                    errors.append(f"exec: {ran.status_code} {ran.text[:200]}")
                    return
                seconds.append(time.perf_counter() - started)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        tasks = [asyncio.create_task(agent()) for _ in range(count)]
        await asyncio.sleep(0)
        started = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - started
        engine, bay = engine_cpu() - engine, process_cpu(server.pid) - bay
        busy_after, every_after = machine_cpu()
        sandboxes = 0.0
        for sandbox_id in made:
            # A sandbox whose start failed has no container left: nothing to count.
            with contextlib.suppress(ValueError, RuntimeError):
                sandboxes += cgroup_cpu(full_id(sandbox_id)[0])
        pool = server.health()["pool"]["python-default"]
        for sandbox_id in made:
            await rest.delete(f"/v1/sandboxes/{sandbox_id}")
    return Burst(
        seconds, errors, wall, engine, bay, sandboxes, pool, busy_after - busy, every_after - every
    )


# -- the report -------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=20, help="creates alone (part 1)")
    parser.add_argument("--cold", type=int, default=5, help="cold starts (parts 2 and 3)")
    parser.add_argument("--agents", type=int, default=100, help="agents at once (part 4)")
    args = parser.parse_args()
    if min(args.creates, args.cold, args.agents) < 0:
        parser.error("--creates, --cold and --agents take 0 or more")
    print(f"bench/starts.py, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores", flush=True)
    quotas = {
        "BAY_MAX_SANDBOXES_PER_OWNER": str(max(100, args.agents + 10)),
        "BAY_MAX_CONCURRENT_EXECS_PER_OWNER": str(max(64, args.agents)),
        "BAY_START_TIMEOUT_SECONDS": "300",
    }
    with http_server(PROFILES, quotas) as server:
        alone = asyncio.run(creates_alone(server, args.creates)) if args.creates else {}
        cold, raw, cpu, raw_engine = (
            cold_starts(server, args.cold) if args.cold else ([], [], StartCpu(), [])
        )
        crowd = asyncio.run(burst(server, args.agents)) if args.agents else None
    print(HEADER)
    for surface, figures in alone.items():
        print(summary(f"1. create alone (pool hit), {surface}", figures))
    if cold:
        print(summary("2. cold create + first exec", cold))
        print(summary("   docker run -> /health, same image", raw))
        ratio = statistics.median(cold) / statistics.median(raw)
        print(f"   cold create + first exec / docker run -> /health (p50s): {ratio:.2f}")
        total = mean(cpu.engine) + mean(cpu.ship) + mean(cpu.kernel) + mean(cpu.bay)
        print(
            f"3. CPU-seconds per cold start (mean of {len(cpu.bay)}): engine "
            f"{mean(cpu.engine):.3f}, Ship {mean(cpu.ship):.3f}, kernel {mean(cpu.kernel):.3f}, "
            f"Bay {mean(cpu.bay):.3f}; total {total:.3f}"
        )
        print(f"   engine CPU-seconds per `docker run` of 2: {mean(raw_engine):.3f}")
    if crowd is not None:
        print(
            f"4. {args.agents} agents at once, create + first exec: p50 "
            f"{percentile(crowd.seconds, 0.5) if crowd.seconds else float('nan'):.1f} s, p99 "
            f"{percentile(crowd.seconds, 0.99) if crowd.seconds else float('nan'):.1f} s, "
            f"max {max(crowd.seconds, default=float('nan')):.1f} s; errors {len(crowd.errors)}; "
            f"all done in {crowd.wall:.1f} s"
        )
        per = max(1, len(crowd.seconds))
        print(
            f"   CPU-seconds per start in the burst: engine {crowd.engine / per:.3f}, "
            f"sandboxes (Ship + kernel) {crowd.sandboxes / per:.3f}, Bay {crowd.bay / per:.3f}"
        )
        own = crowd.engine + crowd.sandboxes + crowd.bay
        print(
            f"   the machine during it: {crowd.machine_busy:.0f} of {crowd.machine_all:.0f} "
            f"CPU-seconds busy, {own:.0f} of them this burst's (engine, sandboxes, Bay)"
        )
        print(
            f"   the pool after it: target {crowd.pool['target']}, ready {crowd.pool['ready']}, "
            f"hits {crowd.pool['hits']}, misses {crowd.pool['misses']}"
        )
        for error in crowd.errors[:5]:
            print(f"   error: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
