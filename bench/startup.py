"""How fast Bay answers a host, and how small it idles.

    .venv/bin/python bench/startup.py [--spawns 20] [--sandboxes 10]

Prints:
  spawn → initialize    p50 / p99 over N spawns of `bay-mcp` over stdio, and of
                        `scripts/run` (set up already), raw JSON-RPC on the pipes
  import                the stdio path's import time (python -X importtime)
  import floor          resident memory after importing the stack layer by layer,
                        each in a fresh interpreter: what idle RSS cannot go below
  idle RSS, stdio       after initialize, tools/list and a list_sandboxes call
  idle RSS, HTTP        `bay-mcp serve --transport http` with 0 and with N running
                        sandboxes (each has run one exec), after the calls settle
Everything runs in a throwaway data directory; every sandbox is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BAY_MCP = str(Path(sys.executable).parent / "bay-mcp")
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def environment(data_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(data_dir),
        "BAY_DATA_DIR": str(data_dir),
        "BAY_INSTANCE_ID": f"bay-bench-{os.getpid()}",
        "BAY_AUTO_BUILD_IMAGE": "false",
        "BAY_GC_ENABLED": "false",
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def read_answer(process: subprocess.Popen[bytes], answer_id: int, deadline: float) -> Any:
    assert process.stdout is not None
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == answer_id:
                return message
    raise TimeoutError(f"no answer {answer_id} in time")


def send(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip


def time_to_initialize(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = spawn(command, env)
    try:
        send(process, INITIALIZE)
        read_answer(process, 1, time.monotonic() + 60)
        return (time.perf_counter() - started) * 1000
    finally:
        process.terminate()
        process.wait(timeout=30)


def stdio_idle_rss(env: dict[str, str]) -> float:
    process = spawn([BAY_MCP], env)
    try:
        send(process, INITIALIZE)
        read_answer(process, 1, time.monotonic() + 60)
        send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        read_answer(process, 2, time.monotonic() + 60)
        call = {"name": "list_sandboxes", "arguments": {}}
        send(process, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call})
        read_answer(process, 3, time.monotonic() + 120)
        return rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_idle_rss(env: dict[str, str], sandboxes: int) -> tuple[float, float]:
    port = free_port()
    server = subprocess.Popen(
        [BAY_MCP, "serve", "--transport", "http", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    made: list[str] = []
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.05)
        client.get("/v1/sandboxes").raise_for_status()
        empty = rss_mib(server.pid)
        for _ in range(sandboxes):
            sandbox_id = client.post("/v1/sandboxes", json={}).json()["id"]
            made.append(sandbox_id)
            client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1"})
        client.get("/v1/sandboxes").raise_for_status()
        return empty, rss_mib(server.pid)
    finally:
        for sandbox_id in made:
            client.delete(f"/v1/sandboxes/{sandbox_id}")
        client.close()
        server.terminate()
        server.wait(timeout=60)


def import_ms() -> float:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bay_mcp.stdio"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    last = result.stderr.strip().splitlines()[-1]
    match = re.search(r"\|\s*(\d+)\s*\|", last)
    assert match is not None, last
    return int(match.group(1)) / 1000


# Each layer adds its imports to the ones before it; "Bay's service layer alone" imports
# Bay and its libraries with no MCP code at all: the floor of a stdio server that would
# not use the SDK.
IMPORT_LAYERS: list[tuple[str, list[str]]] = [
    ("the interpreter", []),
    ("+ pydantic", ["pydantic"]),
    ("+ the MCP SDK's protocol types", ["mcp_types"]),
    ("+ the SDK's server, stdio", ["mcp.server.mcpserver", "mcp.server.stdio"]),
    ("+ SQLModel, SQLAlchemy, aiosqlite", ["sqlmodel", "sqlalchemy.ext.asyncio", "aiosqlite"]),
    ("+ aiodocker (aiohttp)", ["aiodocker"]),
    ("+ Bay (the stdio path)", ["bay_mcp.stdio", "bay_mcp.bay"]),
]
RSS_AFTER = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]: importlib.import_module(name)\n"
    "print(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])"
)


def rss_after_importing(modules: list[str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", RSS_AFTER, *modules], capture_output=True, text=True, check=True
    )
    return int(result.stdout) / 1024


def import_floor() -> None:
    print("import floor (resident MiB after importing, each row adds to the ones above):")
    modules: list[str] = []
    for name, layer in IMPORT_LAYERS:
        modules += layer
        print(f"  {name:<38} {rss_after_importing(modules):6.1f}")
    alone = rss_after_importing(["bay_mcp.bay", "bay_mcp.settings"])
    label = "Bay's service layer alone, no MCP code"
    print(f"  {label:<38} {alone:6.1f}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--sandboxes", type=int, default=10)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bay-bench-startup-"))
    env = environment(data_dir)
    try:
        time_to_initialize([BAY_MCP], env)  # warms the caches; not counted
        figures: dict[str, list[float]] = {"bay-mcp": [], "scripts/run": []}
        for _ in range(args.spawns):
            figures["bay-mcp"].append(time_to_initialize([BAY_MCP], env))
            figures["scripts/run"].append(time_to_initialize([str(ROOT / "scripts/run")], env))
        print(f"spawn → initialize over stdio, {args.spawns} spawns (ms):")
        for name, values in figures.items():
            print(f"  {name:<12} p50 {statistics.median(values):6.0f}   "
                  f"p99 {percentile(values, 0.99):6.0f}")  # fmt: skip
        added = statistics.median(figures["scripts/run"]) - statistics.median(figures["bay-mcp"])
        print(f"  scripts/run adds {added:.0f} ms (p50)")
        print(f"import of the stdio path: {import_ms():.0f} ms")
        import_floor()
        # The spawns above were stopped as soon as they answered, before Bay's start
        # (which migrates a new database) finished: this first full session migrates.
        first = stdio_idle_rss(env)
        print(f"idle RSS over stdio: {stdio_idle_rss(env):.0f} MiB ({first:.0f} MiB the first "
              "time a data directory is used: its migrations load Alembic)")  # fmt: skip
        empty, loaded = http_idle_rss(env, args.sandboxes)
        print(f"idle RSS over HTTP: {empty:.0f} MiB with 0 sandboxes, "
              f"{loaded:.0f} MiB with {args.sandboxes} running")  # fmt: skip
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
