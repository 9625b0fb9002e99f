"""Completions through a real `bay-mcp serve` over streamable HTTP, with the SDK's client:
what a host pays per keystroke.

Setup: 100 sandboxes of one owner (the owner's cap here), created over REST (no
container); one of them runs and holds 300 files in data/, another holds the same files
and is stopped (its paths are listed through the cargo at rest, as a stopped sandbox is
never started to complete). Then, interleaved, `--runs` times each: a sandbox id from
nothing (100 values: one query), a sandbox id by a prefix, a path in the running
sandbox (one listing through its Ship), the same in the stopped one (one listing of
the volume at rest). Each figure is the client's round trip (HTTP and the SDK
included); the goal is ≤ 20 ms p50 (issue 32).

    .venv/bin/python bench/completions.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from common import HEADER, http_server, summary
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ResourceTemplateReference

CARGO = ResourceTemplateReference(uri="cargo://{sandbox_id}/{+path}")
FILES = 300
SANDBOXES = 100


def fill(rest: httpx.Client, sandbox_id: str) -> None:
    """300 files in data/ (through the sandbox's Ship: this starts it)."""
    for i in range(FILES):
        written = rest.put(
            f"/v1/sandboxes/{sandbox_id}/filesystem/files",
            json={"path": f"data/file-{i:03}.csv", "content": "a,b\n"},
        )
        written.raise_for_status()


async def measure(url: str, running: str, stopped: str, runs: int) -> dict[str, list[float]]:
    async with Client(streamable_http_client(f"{url}/mcp")) as client:

        async def ids_from_nothing() -> int:
            answer = await client.complete(CARGO, {"name": "sandbox_id", "value": ""})
            return len(answer.completion.values)

        async def ids_by_prefix() -> int:
            typed = {"name": "sandbox_id", "value": running[:12]}
            return len((await client.complete(CARGO, typed)).completion.values)

        def paths_in(sandbox_id: str) -> Callable[[], Awaitable[int]]:
            async def paths() -> int:
                typed = {"name": "path", "value": "data/file-1"}
                answer = await client.complete(CARGO, typed, {"sandbox_id": sandbox_id})
                return len(answer.completion.values)

            return paths

        measures: dict[str, Callable[[], Awaitable[int]]] = {
            f"sandbox_id, nothing typed ({SANDBOXES} ids)": ids_from_nothing,
            "sandbox_id by a prefix": ids_by_prefix,
            "path in a running sandbox (100 of 300)": paths_in(running),
            "path in a stopped sandbox, at rest": paths_in(stopped),
        }
        for complete in measures.values():  # warm up, and check each answers
            assert await complete() > 0, complete
        times: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(runs):
            for name, complete in measures.items():
                started = time.perf_counter()
                await complete()
                times[name].append((time.perf_counter() - started) * 1000)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    profiles = [{"id": "python-default", "warm_pool_size": 0}]
    with (
        http_server(profiles, {"BAY_MAX_SANDBOXES_PER_OWNER": str(SANDBOXES)}) as server,
        httpx.Client(base_url=server.url, timeout=120) as rest,
    ):
        made = [rest.post("/v1/sandboxes", json={}).json()["id"] for _ in range(SANDBOXES)]
        stopped, running = made[-2], made[-1]
        fill(rest, stopped)
        rest.post(f"/v1/sandboxes/{stopped}/stop").raise_for_status()
        fill(rest, running)
        times = asyncio.run(measure(server.url, running, stopped, args.runs))
    print(HEADER)
    for name, values in times.items():
        print(summary(name, values))


if __name__ == "__main__":
    main()
