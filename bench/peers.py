"""Bay beside a peer, in one run: llm-sandbox (stateless: a container per session, code
run by `docker exec`, no kernel).

    .venv/bin/pip install -e '.[bench]'    # llm-sandbox, an optional bench dependency
    .venv/bin/python bench/peers.py [--runs 10] [--warm-execs 50]

llm-sandbox runs on an image made from Ship's (same Debian, same Python and
packages; its entrypoint replaced by `sleep`), with `skip_environment_setup=True` so it
installs nothing. Bay runs `bay-mcp serve --transport http` with its default warm pool
of 1 and is driven over MCP streamable HTTP. Prints p50/p99 in milliseconds for
create + first `print(1)` and for a warm `1+1`, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HEADER, Server, docker, http_server, summary
from mcp_exec import PROFILES, call, create_and_first_exec, timed

PEER_IMAGE = "bay-bench-peer:latest"


def peer_image() -> str:
    docker(
        "build", "-q", "-t", PEER_IMAGE, "-",
        input_text='FROM ship:latest\nENTRYPOINT []\nCMD ["sleep", "infinity"]\n',
    )  # fmt: skip
    return PEER_IMAGE


def llm_sandbox(runs: int, execs: int) -> dict[str, list[float]]:
    try:
        from llm_sandbox import SandboxSession
    except ImportError:
        raise SystemExit(
            "llm-sandbox is not installed: .venv/bin/pip install -e '.[bench]'"
        ) from None
    image = peer_image()
    cold: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        with SandboxSession(
            lang="python", image=image, skip_environment_setup=True, verbose=False
        ) as session:
            assert session.run("print(1)").stdout.strip() == "1"
            cold.append((time.perf_counter() - started) * 1000)
    warm: list[float] = []
    with SandboxSession(
        lang="python", image=image, skip_environment_setup=True, verbose=False
    ) as session:
        for _ in range(execs):
            started = time.perf_counter()
            assert session.run("print(1+1)").stdout.strip() == "2"
            warm.append((time.perf_counter() - started) * 1000)
    return {"create + first exec": cold, "warm exec": warm}


async def bay(server: Server, runs: int, execs: int) -> dict[str, list[float]]:
    async with Client(streamable_http_client(f"{server.url}/mcp")) as client:
        pooled = await create_and_first_exec(client, server, "python-default", runs)
        sandbox_id = (await call(client, "create_sandbox", profile="cold"))["id"]
        await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")

        async def exec_once() -> None:
            await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")

        warm = await timed(exec_once, execs)
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    return {"create + first exec": pooled, "warm exec": warm}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm-execs", type=int, default=50)
    args = parser.parse_args()
    print(f"bench/peers.py, {time.strftime('%Y-%m-%d')}", flush=True)
    peer = llm_sandbox(args.runs, args.warm_execs)
    with http_server(PROFILES) as server:
        ours = asyncio.run(bay(server, args.runs, args.warm_execs))
    print(HEADER)
    for name in ("create + first exec", "warm exec"):
        print(summary(f"Bay (pool, MCP HTTP): {name}", ours[name]))
        print(summary(f"llm-sandbox: {name}", peer[name]))
        ratio = statistics.median(peer[name]) / statistics.median(ours[name])
        print(f"{name}: Bay is {ratio:.1f}× faster than llm-sandbox (p50)")
    docker("rmi", "-f", PEER_IMAGE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
