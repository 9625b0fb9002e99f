"""Bay's own CPU per warm call, in one process, with no Docker and no network.

    .venv/bin/python bench/inprocess.py [--blocks 15] [--calls 50]

Three layers a refactor can slow, each timed alone over stand-ins that answer at once
(the unit tests' fake driver and fake Ship; httpx's MockTransport for the client):
  service      ExecService.run of `1+1` for a model (gate, slots, history, output cut)
  MCP          python_exec through the SDK's in-memory client and the MCP server
  Ship client  ShipClient.python_exec, its request built and its answer parsed
Prints microseconds per call (median and min over blocks). Run it on two checkouts,
interleaved, to compare them: the figures are CPU, steadier than the end-to-end bench,
and say nothing of Docker or of the network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.services.runs import PythonRun
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.database import Database
from tests.fakes import FakeDriver, FakeShip

SHIP_ANSWER = json.dumps(
    {"success": True, "output": "2\n", "error": None, "execution_count": 1, "images": [],
     "truncated": False, "timed_out": False, "execution_time_ms": 1}
).encode()  # fmt: skip


async def timed(one: Callable[[], Awaitable[None]], blocks: int, calls: int) -> str:
    for _ in range(calls * 2):  # warm: validators built, rows cached
        await one()
    per_call = []
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(calls):
            await one()
        per_call.append((time.perf_counter() - started) / calls * 1e6)
    return f"{statistics.median(per_call):8.0f} {min(per_call):8.0f}"


async def bay_over_fakes(data_dir: Path) -> Bay:
    settings = BaySettings(
        data_dir=data_dir,
        instance_id="bench-inprocess",
        auto_build_image=False,
        profiles=[Profile(id="python-default", warm_pool_size=0)],
    )
    driver = FakeDriver()
    database = Database(url=f"sqlite+aiosqlite:///{data_dir}/bay.db")
    bay = Bay(settings, driver=driver, ship=FakeShip(driver), database=database)
    await bay.start()
    return bay


async def main(blocks: int, calls: int) -> None:
    print("bench/inprocess.py: microseconds per call")
    print(f"{'layer':14s} {'median':>8s} {'min':>8s}")
    bay = await bay_over_fakes(Path(tempfile.mkdtemp(prefix="bay-bench-")))
    try:
        sandbox = (await bay.sandboxes.create("alice")).id

        async def service() -> None:
            request = PythonRun(code="1+1", timeout=30)
            await bay.execution.run("alice", sandbox, request, no_progress, for_model=True)

        print(f"{'service':14s} {await timed(service, blocks, calls)}")

        async def ready() -> Bay:
            return bay

        async with Client(create_mcp_server(ready, lambda ctx: "alice")) as client:

            async def mcp() -> None:
                answer = await client.call_tool("python_exec", {"sandbox_id": sandbox, "code": "1"})
                assert not answer.is_error

            print(f"{'MCP':14s} {await timed(mcp, blocks, calls)}")
    finally:
        await bay.close()

    # The SDK's client turns on INFO logging; httpx would log every request then.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    canned = httpx.MockTransport(lambda request: httpx.Response(200, content=SHIP_ANSWER))
    ship = ShipClient(httpx.AsyncClient(transport=canned))
    endpoint = ShipEndpoint(url="http://ship", token="bench")

    async def ship_client() -> None:
        await ship.python_exec(endpoint, "1+1", 30)

    print(f"{'Ship client':14s} {await timed(ship_client, blocks, calls * 4)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.blocks, arguments.calls))
