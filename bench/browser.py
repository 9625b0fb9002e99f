"""What the sandbox's browser costs, measured through Bay's MCP tools.

    .venv/bin/python bench/browser.py [--launches 5] [--cycles 30]

Starts the real `bay-mcp serve --transport http` with a `browser-python` profile (the
`ship-browser:latest` image), serves a small local site from inside the sandbox
(`python -m http.server`), and prints in milliseconds (p50, p99, min, max):
  first browser call          browser_navigate on a running sandbox whose browser is
                              closed: Chromium's launch plus one navigation
                              (closed between runs with REST's `close` command)
  navigate / snapshot / click each action of a navigate → snapshot → click cycle
  cycle                       the three together
and the memory of the sandbox with its browser open (`docker stats`). Goals (issue 15):
launch ≤ 2 s, an action ≤ 100 ms p50 on a local page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HEADER, http_server, memory_mib, ship_of, summary
from mcp_exec import call

PROFILES: list[dict[str, Any]] = [
    {
        "id": "browser-python",
        "image": "ship-browser:latest",
        "capabilities": ["python", "shell", "filesystem", "browser"],
        "memory_mb": 2048,
    }
]
PAGE = (
    """<!doctype html><title>Bench</title><h1>Bench</h1>
<form><input aria-label="Name">
<button type="button" onclick="this.textContent='Done'">Go</button></form>
<ul>"""
    + "".join(f"<li><a href='#{n}'>Item {n}</a></li>" for n in range(50))
    + "</ul>"
)
URL = "http://localhost:8000/index.html"


async def timed_call(client: Client, tool: str, **arguments: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = await call(client, tool, **arguments)
    return (time.perf_counter() - started) * 1000, result


async def run(launches: int, cycles: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with http_server(PROFILES) as server:
        async with Client(streamable_http_client(f"{server.url}/mcp")) as client:
            sandbox_id = (await call(client, "create_sandbox", profile="browser-python"))["id"]
            await call(client, "write_file", sandbox_id=sandbox_id, path="site/index.html",
                       content=PAGE)  # fmt: skip
            await call(client, "shell_exec", sandbox_id=sandbox_id,
                       command="nohup python3 -m http.server 8000 --directory site "
                       ">/tmp/http.log 2>&1 & for i in $(seq 100); do curl -sf "
                       f"{URL} >/dev/null && exit 0; sleep 0.1; done; exit 1")  # fmt: skip
            launch: list[float] = []
            for _ in range(launches):
                await close_browser(server.url, sandbox_id)  # no MCP tool closes it
                elapsed, _ = await timed_call(client, "browser_navigate",
                                              sandbox_id=sandbox_id, url=URL)  # fmt: skip
                launch.append(elapsed)
            found["first browser call (launch + navigate)"] = launch
            steps: dict[str, list[float]] = {"navigate": [], "snapshot": [], "click": []}
            cycle: list[float] = []
            for _ in range(cycles):
                navigate, _ = await timed_call(client, "browser_navigate",
                                               sandbox_id=sandbox_id, url=URL)  # fmt: skip
                snapshot, result = await timed_call(client, "browser_snapshot",
                                                    sandbox_id=sandbox_id)  # fmt: skip
                ref = next(line.split("[ref=")[1].split("]")[0]
                           for line in result["output"].splitlines()
                           if 'button "Go"' in line)  # fmt: skip
                click, _ = await timed_call(client, "browser_click",
                                            sandbox_id=sandbox_id, ref=ref)  # fmt: skip
                for name, value in (("navigate", navigate), ("snapshot", snapshot),
                                    ("click", click)):  # fmt: skip
                    steps[name].append(value)
                cycle.append(navigate + snapshot + click)
            for name, values in steps.items():
                found[f"action: {name}"] = values
            found["navigate + snapshot + click"] = cycle
            found["sandbox with its browser open, MiB"] = memory_mib(ship_of(sandbox_id)[2])
            await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    return found


async def close_browser(url: str, sandbox_id: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as rest:
        response = await rest.post(
            f"/v1/sandboxes/{sandbox_id}/browser/exec", json={"cmd": "close"}
        )
        response.raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=30)
    args = parser.parse_args()
    print(f"bench/browser.py, {time.strftime('%Y-%m-%d')}", flush=True)
    found = asyncio.run(run(args.launches, args.cycles))
    print(HEADER)
    for name, values in found.items():
        if isinstance(values, list):
            print(summary(name, values))
    actions = [value for key, values in found.items() if key.startswith("action: ")
               for value in values]  # fmt: skip
    print(f"action p50 over all three: {statistics.median(actions):.1f} ms")
    print(f"sandbox with its browser open: {found['sandbox with its browser open, MiB']:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
