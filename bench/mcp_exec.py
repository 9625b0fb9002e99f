"""What Bay costs: cold start and warm execs through MCP, against raw Ship HTTP.

    .venv/bin/python bench/mcp_exec.py [--runs 5] [--warm-execs 30] [--floods 3]

Spawns the real `bay-mcp` over stdio with the MCP SDK's client (a throwaway data
directory), and prints in milliseconds (median, min, max):
  cold start         create_sandbox + the first python_exec of print(1)
  warm exec (MCP)    python_exec of 1+1 on a ready sandbox
  warm exec (Ship)   the same exec posted straight to the sandbox's Ship
  1 GB print (MCP)   python_exec of a thousand 1 MB prints: cut to 4 MiB in the kernel
and the difference of the two warm medians: Bay's overhead per call.
Every sandbox it creates is deleted; the data directory is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {getattr(result.content[0], 'text', '')}")
    return result.structured_content


def ship_of(sandbox_id: str) -> tuple[str, str]:
    """The sandbox's Ship URL and token, read from its container."""
    [container] = docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox_id}").split()
    port = docker("port", container, "8123").splitlines()[0].rsplit(":", 1)[1]
    env = docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", container)
    token = next(
        line.split("=", 1)[1] for line in env.splitlines() if line.startswith("SHIP_TOKEN=")
    )
    return f"http://127.0.0.1:{port}", token


FLOOD = "for _ in range(1000):\n    print('x' * 10**6)"


async def measure(runs: int, warm_execs: int, floods: int) -> dict[str, list[float]]:
    data_dir = tempfile.mkdtemp(prefix="bay-bench-")
    env = {"PATH": os.environ["PATH"], "BAY_DATA_DIR": data_dir, "BAY_LOG_LEVEL": "WARNING"}
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    server = StdioServerParameters(
        command=str(Path(sys.executable).parent / "bay-mcp"), args=[], env=env
    )
    figures: dict[str, list[float]] = {
        "cold start": [],
        "warm exec (MCP)": [],
        "warm exec (Ship)": [],
        "1 GB print (MCP)": [],
    }
    created: list[str] = []
    try:
        async with Client(server, read_timeout_seconds=180) as client:
            for run in range(runs):
                started = time.perf_counter()
                sandbox = await call(client, "create_sandbox")
                created.append(sandbox["id"])
                await call(client, "python_exec", sandbox_id=sandbox["id"], code="print(1)")
                figures["cold start"].append((time.perf_counter() - started) * 1000)
                print(f"cold start {run + 1}/{runs} done", file=sys.stderr)
                if run < runs - 1:
                    await call(client, "delete_sandbox", sandbox_id=created.pop())
            sandbox_id = created[-1]
            for _ in range(warm_execs):
                started = time.perf_counter()
                await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")
                figures["warm exec (MCP)"].append((time.perf_counter() - started) * 1000)
            for _ in range(floods):
                started = time.perf_counter()
                await call(client, "python_exec", sandbox_id=sandbox_id, code=FLOOD, timeout=120)
                figures["1 GB print (MCP)"].append((time.perf_counter() - started) * 1000)
            url, token = ship_of(sandbox_id)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as ship:
                for _ in range(warm_execs):
                    started = time.perf_counter()
                    response = await ship.post("/python/exec", json={"code": "1+1", "timeout": 30})
                    response.raise_for_status()
                    figures["warm exec (Ship)"].append((time.perf_counter() - started) * 1000)
            for leftover in created:
                await call(client, "delete_sandbox", sandbox_id=leftover)
            created.clear()
    finally:
        for leftover in created:  # the server is gone: remove by label
            ids = docker("ps", "-aq", "--filter", f"label=bay.sandbox_id={leftover}").split()
            if ids:
                docker("rm", "-f", *ids)
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm-execs", type=int, default=30)
    parser.add_argument("--floods", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.runs, args.warm_execs, args.floods))
    print(f"{'measure':<20}{'n':>5}{'median ms':>12}{'min ms':>10}{'max ms':>10}")
    for name, values in figures.items():
        print(
            f"{name:<20}{len(values):>5}{statistics.median(values):>12.1f}"
            f"{min(values):>10.1f}{max(values):>10.1f}"
        )
    overhead = statistics.median(figures["warm exec (MCP)"]) - statistics.median(
        figures["warm exec (Ship)"]
    )
    print(f"{'Bay overhead':<20}{'':>5}{overhead:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
