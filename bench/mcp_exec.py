"""What Bay costs, against raw Ship, measured in one run.

    .venv/bin/python bench/mcp_exec.py [--runs 10] [--warm-execs 200] [--agents 40]

Starts the real `bay-mcp serve --transport http` (a throwaway data directory; profile
python-default with its warm pool of 1, and `cold` without a pool) and the real
`bay-mcp` over stdio, and prints in milliseconds (p50, p99, min, max):
  create + first exec, pool   create_sandbox + python_exec print(1) (MCP over HTTP),
                              each run after the pool has refilled
  create + first exec, cold   the same on the profile without a pool
  restart after stop          python_exec on a sandbox just stopped (container gone)
  warm exec                   python_exec of 1+1 through MCP stdio, MCP streamable HTTP
                              (with the SDK's client and with a plain JSON-RPC one)
                              and REST, and straight to the sandbox's Ship; back to back,
                              and paced (10 ms between calls, as an agent pauses)
  N agents × 10 execs         N concurrent REST agents: create, then 10 execs each
                              (first exec, which starts the sandbox, apart)
then Bay's overhead per call (p50 over raw Ship's p50, both ways), and an idle ready sandbox's
memory (`docker stats` after one 1+1). Every sandbox it creates is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BAY_MCP,
    HEADER,
    Server,
    bay_environment,
    http_server,
    memory_mib,
    remove_instance,
    ship_of,
    summary,
)

PROFILES: list[dict[str, Any]] = [
    {"id": "python-default"},
    {"id": "cold", "warm_pool_size": 0},
]


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {getattr(result.content[0], 'text', '')}")
    structured: dict[str, Any] = result.structured_content or {}
    return structured


# Warm execs are timed two ways. Back to back, as the raw Ship baseline always was.
# And paced: a pause before each call, as an agent (which thinks between calls) makes.
# The pause matters on a VM: an idle vCPU takes time to wake, so the first request after
# any gap is slower (measured here: 0.25 ms of work before a raw Ship call made it 0.7 ms
# slower). Back to back, that penalty lands on whoever pauses, Bay's own work included;
# paced, raw Ship and Bay both pay it, and the difference is what Bay adds.
PACE_S = 0.01


async def timed(
    work: Callable[[], Awaitable[object]], times: int, pause_s: float = 0.0
) -> list[float]:
    figures = []
    for _ in range(times):
        if pause_s:
            await asyncio.sleep(pause_s)
        started = time.perf_counter()
        await work()
        figures.append((time.perf_counter() - started) * 1000)
    return figures


async def interleaved(
    series: dict[str, Callable[[], Awaitable[object]]], execs: int, blocks: int = 20
) -> dict[str, list[float]]:
    """Each series back to back and paced, in interleaved blocks: all see the same
    machine, warm or not. Short blocks (10 calls of each kind with the defaults): this
    VM's speed drifts by a quarter over seconds, and long blocks let a series catch
    more of a slow spell than the one it is compared with."""
    found: dict[str, list[float]] = {}
    for _ in range(blocks):
        for name, work in series.items():
            found.setdefault(name, []).extend(await timed(work, execs // blocks))
            found.setdefault(f"{name}, paced", []).extend(
                await timed(work, execs // blocks, PACE_S)
            )
    return found


async def create_and_first_exec(
    client: Client, server: Server, profile: str, runs: int
) -> list[float]:
    figures = []
    for _ in range(runs):
        if profile == "python-default":
            await asyncio.to_thread(server.wait_for_pool, profile, 1)
        started = time.perf_counter()
        sandbox = await call(client, "create_sandbox", profile=profile)
        await call(client, "python_exec", sandbox_id=sandbox["id"], code="print(1)")
        figures.append((time.perf_counter() - started) * 1000)
        await call(client, "delete_sandbox", sandbox_id=sandbox["id"])
    return figures


async def restart_after_stop(client: Client, runs: int) -> list[float]:
    sandbox = await call(client, "create_sandbox", profile="cold")
    await call(client, "python_exec", sandbox_id=sandbox["id"], code="1")
    figures = []
    for _ in range(runs):
        await call(client, "stop_sandbox", sandbox_id=sandbox["id"])
        started = time.perf_counter()
        await call(client, "python_exec", sandbox_id=sandbox["id"], code="print(1)")
        figures.append((time.perf_counter() - started) * 1000)
    await call(client, "delete_sandbox", sandbox_id=sandbox["id"])
    return figures


def raw_ship_exec(ship: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
    async def exec_once() -> None:
        response = await ship.post("/python/exec", json={"code": "1+1", "timeout": 30})
        response.raise_for_status()

    return exec_once


def raw_ship_client(sandbox_id: str) -> httpx.AsyncClient:
    url, token, _ = ship_of(sandbox_id)
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=60)


async def agents(server: Server, count: int) -> tuple[list[float], list[float], int]:
    """`count` agents at once, each creating a sandbox and running 10 execs over REST:
    (first exec ms, warm exec ms, errors)."""
    first: list[float] = []
    warm: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=count + 5)
    async with httpx.AsyncClient(base_url=server.url, timeout=300, limits=limits) as rest:

        async def agent() -> None:
            nonlocal errors
            created = await rest.post("/v1/sandboxes", json={})
            if created.status_code != 201:
                errors += 1
                return
            sandbox_id = created.json()["id"]
            for run in range(10):
                started = time.perf_counter()
                response = await rest.post(
                    f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1+1"}
                )
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200 or response.json()["output"] != "2\n":
                    errors += 1
                (warm if run else first).append(elapsed)
            await rest.delete(f"/v1/sandboxes/{sandbox_id}")

        await asyncio.gather(*(agent() for _ in range(count)))
    return first, warm, errors


async def plain_mcp_client(http: httpx.AsyncClient) -> Callable[..., Awaitable[None]]:
    """MCP over streamable HTTP without the SDK's client: JSON-RPC posted with httpx, the
    answer read from the SSE body. What Bay costs a host whose client is cheaper than
    the Python SDK's (which parses and validates each message into its models)."""
    accept = {"Accept": "application/json, text/event-stream"}
    version = "2025-06-18"
    hello = {"protocolVersion": version, "capabilities": {},
             "clientInfo": {"name": "bench", "version": "1"}}  # fmt: skip
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}
    opened = await http.post("/mcp", headers=accept, json=initialize)
    opened.raise_for_status()
    headers = {**accept, "Mcp-Session-Id": opened.headers["mcp-session-id"],
               "Mcp-Protocol-Version": version}  # fmt: skip
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    (await http.post("/mcp", headers=headers, json=ready)).raise_for_status()
    ids = iter(range(1, 1 << 62))

    async def call_tool(tool: str, **arguments: Any) -> None:
        request = {"jsonrpc": "2.0", "id": next(ids), "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}}  # fmt: skip
        answer = await http.post("/mcp", headers=headers, json=request)
        for line in answer.text.splitlines():
            if line.startswith("data: ") and '"result"' in line:
                if json.loads(line[6:])["result"].get("isError"):
                    raise RuntimeError(f"{tool} failed: {line[:300]}")
                return
        raise RuntimeError(f"{tool}: no result in {answer.text[:300]}")

    return call_tool


async def over_http(server: Server, runs: int, execs: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with Client(streamable_http_client(f"{server.url}/mcp")) as client:
        found["create + first exec, pool"] = await create_and_first_exec(
            client, server, "python-default", runs
        )
        found["create + first exec, cold"] = await create_and_first_exec(
            client, server, "cold", runs
        )
        found["restart after stop"] = await restart_after_stop(client, runs)
        sandbox = await call(client, "create_sandbox", profile="cold")
        sandbox_id = sandbox["id"]
        await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")
        found["idle sandbox MiB"] = memory_mib(ship_of(sandbox_id)[2])

        async def mcp_exec() -> None:
            await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")

        async with (
            httpx.AsyncClient(base_url=server.url, timeout=60) as rest,
            raw_ship_client(sandbox_id) as ship,
        ):
            plain_call = await plain_mcp_client(rest)

            async def plain_mcp_exec() -> None:
                await plain_call("python_exec", sandbox_id=sandbox_id, code="1+1")

            async def rest_exec() -> None:
                response = await rest.post(
                    f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1+1"}
                )
                response.raise_for_status()

            found |= await interleaved(
                {
                    "warm exec, MCP streamable HTTP": mcp_exec,
                    "warm exec, MCP streamable HTTP, plain client": plain_mcp_exec,
                    "warm exec, REST": rest_exec,
                    "warm exec, raw Ship (HTTP's box)": raw_ship_exec(ship),
                },
                execs,
            )
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    return found


async def over_stdio(execs: int) -> dict[str, list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-bench-stdio-"))
    env = bay_environment(data_dir, [{"id": "python-default", "warm_pool_size": 0}])
    params = StdioServerParameters(command=BAY_MCP, args=[], env=env)
    found: dict[str, list[float]] = {}
    try:
        async with Client(params, read_timeout_seconds=180) as client:
            sandbox_id = (await call(client, "create_sandbox"))["id"]
            await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")

            async def exec_once() -> None:
                await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")

            async with raw_ship_client(sandbox_id) as ship:
                found |= await interleaved(
                    {"warm exec, MCP stdio": exec_once, "warm exec, raw Ship": raw_ship_exec(ship)},
                    execs,
                )
            await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    finally:
        remove_instance(env["BAY_INSTANCE_ID"])
        shutil.rmtree(data_dir, ignore_errors=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm-execs", type=int, default=200)
    parser.add_argument("--agents", type=int, default=40)
    args = parser.parse_args()
    print(f"bench/mcp_exec.py, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores", flush=True)
    stdio = asyncio.run(over_stdio(args.warm_execs))
    with http_server(PROFILES) as server:
        http = asyncio.run(over_http(server, args.runs, args.warm_execs))
        first, warm, errors = asyncio.run(agents(server, args.agents))
    print(HEADER)
    for name, values in {**stdio, **http}.items():
        if isinstance(values, list):
            print(summary(name, values))
    print(summary(f"{args.agents} agents: first exec", first))
    print(summary(f"{args.agents} agents: warm execs", warm))
    print(f"{args.agents} agents: errors {errors}")
    for paced in ("", ", paced"):
        how = f"paced, {PACE_S * 1000:g} ms between calls" if paced else "back to back"
        for name, figures, raw in (
            ("MCP stdio", stdio, "warm exec, raw Ship"),
            ("MCP streamable HTTP", http, "warm exec, raw Ship (HTTP's box)"),
            ("MCP streamable HTTP, plain client", http, "warm exec, raw Ship (HTTP's box)"),
            ("REST", http, "warm exec, raw Ship (HTTP's box)"),
        ):
            overhead = statistics.median(figures[f"warm exec, {name}{paced}"]) - statistics.median(
                figures[f"{raw}{paced}"]
            )
            print(f"Bay overhead per call, {name} ({how}): {overhead:.1f} ms (p50 over raw Ship)")
    print(f"idle ready sandbox: {http['idle sandbox MiB']:.1f} MiB (docker stats)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
