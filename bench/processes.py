"""What background processes and terminals cost, through Bay's MCP tools and REST.

    .venv/bin/python bench/processes.py [--runs 100]

Starts the real `bay-mcp` over stdio (the SDK's client) and the real `bay-mcp serve
--transport http` (REST with httpx), a sandbox on each (profile python-default, no
warm pool), and beside them calls straight to the REST sandbox's Ship (Bay not in the
way: the floor under both); runs every measure in interleaved blocks of 10 (stdio's,
REST's, raw Ship's, and again), and prints in milliseconds (p50, p99, min, max) for each:
  start → first line        process_start of `echo ready; sleep 30`, then process_output
                            (wait_seconds=5) until `ready` is read; the process is then
                            killed (untimed)
  output, nothing new       process_output at the end of a running `sleep`'s output,
                            wait_seconds=0: one round trip that finds nothing
  screen, nothing new       terminal_screen of a pty `cat` that shows nothing new
  input of one key          process_input of one letter to it (the polled keys' inputs)
  key → screen, polling     process_input of one letter to a pty `cat`, then
                            terminal_screen back to back until the cursor's line shows it
  key → screen, waiting     the same, but after the input one process_output waits
                            (wait_seconds=5) for the echo, then terminal_screen until
                            it shows it
  key → screen, WebSocket   one letter sent on the WebSocket terminal of a pty `cat` (of
                            the REST sandbox, attached with /v1/…/processes/{id}/terminal
                            as xterm.js would be) until its echo comes back in a frame:
                            what a person in a browser waits for a key to show
After each key a Backspace (untimed) erases it again, so the line stays short. Each
measure is run once untimed before (the sandbox's start, first calls). Also how
many terminal_screen calls a polled key took, and the load average before and after
(the machine's other work shows there). Issue 26's aim: key to screen ≤ 20 ms p50 over
the WebSocket. Every sandbox it creates is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from mcp import Client, StdioServerParameters
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BAY_MCP,
    HEADER,
    bay_environment,
    http_server,
    remove_instance,
    ship_of,
    summary,
)
from mcp_exec import call

PROFILES: list[dict[str, Any]] = [{"id": "python-default", "warm_pool_size": 0}]
LETTERS = string.ascii_lowercase
WAIT_S = 5.0
BLOCK = 10
# A key not on the screen after this many screens is a failure, not a slow run.
MAX_SCREENS = 2000


class Surface(Protocol):
    """The process calls a benchmark makes, over one surface; each answers the JSON."""

    async def start(self, command: str, pty: bool) -> str: ...
    async def output(self, process_id: str, since: int, wait: float) -> dict[str, Any]: ...
    async def send(
        self, process_id: str, text: str = "", keys: list[str] | None = None
    ) -> None: ...
    async def screen(self, process_id: str) -> dict[str, Any]: ...
    async def kill(self, process_id: str) -> None: ...


class OverMcp:
    def __init__(self, client: Client, sandbox_id: str) -> None:
        self.client = client
        self.sandbox_id = sandbox_id

    async def _call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return await call(self.client, tool, sandbox_id=self.sandbox_id, **arguments)

    async def start(self, command: str, pty: bool) -> str:
        process_id: str = (await self._call("process_start", command=command, pty=pty))["id"]
        return process_id

    async def output(self, process_id: str, since: int, wait: float) -> dict[str, Any]:
        return await self._call(
            "process_output", process_id=process_id, since=since, wait_seconds=wait
        )

    async def send(self, process_id: str, text: str = "", keys: list[str] | None = None) -> None:
        await self._call("process_input", process_id=process_id, text=text or None, keys=keys)

    async def screen(self, process_id: str) -> dict[str, Any]:
        return await self._call("terminal_screen", process_id=process_id)

    async def kill(self, process_id: str) -> None:
        await self._call("process_signal", process_id=process_id, signal="SIGKILL")


class OverRest:
    def __init__(self, rest: httpx.AsyncClient, sandbox_id: str) -> None:
        self.rest = rest
        self.sandbox_id = sandbox_id
        self.base = f"/v1/sandboxes/{sandbox_id}/processes"

    async def _json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        response = await self.rest.request(method, self.base + path, **options)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    async def start(self, command: str, pty: bool) -> str:
        process_id: str = (await self._json("POST", "", json={"command": command, "pty": pty}))[
            "id"
        ]
        return process_id

    async def output(self, process_id: str, since: int, wait: float) -> dict[str, Any]:
        params = {"since": since, "wait": wait}
        return await self._json("GET", f"/{process_id}/output", params=params)

    async def send(self, process_id: str, text: str = "", keys: list[str] | None = None) -> None:
        body: dict[str, Any] = {"keys": keys} if keys else {}
        await self._json("POST", f"/{process_id}/input", json={"text": text or None, **body})

    async def screen(self, process_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/{process_id}/screen")

    async def kill(self, process_id: str) -> None:
        await self._json("POST", f"/{process_id}/signal", json={"signal": "SIGKILL"})


class OverShip(OverRest):
    """Straight to the sandbox's Ship, Bay not in the way: the floor under both."""

    def __init__(self, ship: httpx.AsyncClient) -> None:
        self.rest = ship
        self.base = "/processes"

    async def output(self, process_id: str, since: int, wait: float) -> dict[str, Any]:
        body = {"since": since, "wait_seconds": wait}
        return await self._json("POST", f"/{process_id}/output", json=body)

    async def send(self, process_id: str, text: str = "", keys: list[str] | None = None) -> None:
        await self._json("POST", f"/{process_id}/input", json={"text": text, "keys": keys or []})


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def first_line(surface: Surface, runs: int) -> list[float]:
    figures = []
    for _ in range(runs):
        started = time.perf_counter()
        process_id = await surface.start("echo ready; sleep 30", pty=False)
        since, text = 0, ""
        while "ready\n" not in text:
            read = await surface.output(process_id, since, WAIT_S)
            if read["process"]["state"] != "running" and not read["text"]:
                raise RuntimeError(f"{process_id} ended without its line: {read}")
            since, text = read["next_offset"], text + read["text"]
        figures.append(elapsed_ms(started))
        await surface.kill(process_id)
    return figures


async def round_trips(work: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    figures = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        figures.append(elapsed_ms(started))
    return figures


def cursor_line(screen: dict[str, Any]) -> str:
    lines: list[str] = screen["lines"]
    row: int = screen["cursor_row"]
    return lines[row].rstrip() if row < len(lines) else ""


async def screen_until(surface: Surface, process_id: str, line: str) -> int:
    """terminal_screen back to back until the cursor's line reads `line`: how many."""
    for count in range(1, MAX_SCREENS + 1):
        if cursor_line(await surface.screen(process_id)) == line:
            return count
    raise RuntimeError(f"{process_id}'s screen never showed {line!r}")


@dataclass
class Bench:
    """One surface's sandbox with its two long-lived processes: a `sleep` that prints
    nothing and a pty `cat` whose screen shows each key."""

    name: str
    surface: Surface
    sleeper: str = ""
    sleeper_end: int = 0
    terminal: str = ""
    base: str = ""  # the cursor's line with nothing typed
    since: int = 0  # the terminal's output read so far
    keys: int = 0

    async def open(self) -> None:
        self.sleeper = await self.surface.start("sleep 3000", pty=False)
        self.sleeper_end = (await self.surface.output(self.sleeper, 0, 0))["next_offset"]
        self.terminal = await self.surface.start("cat", pty=True)
        self.base = cursor_line(await self.surface.screen(self.terminal))
        self.since = (await self.surface.output(self.terminal, 0, 0))["next_offset"]

    async def close(self) -> None:
        for process_id in (self.sleeper, self.terminal):
            if process_id:
                await self.surface.kill(process_id)

    async def nothing_new(self) -> None:
        read = await self.surface.output(self.sleeper, self.sleeper_end, 0)
        if read["text"]:
            raise RuntimeError(f"a sleep printed {read['text']!r}")

    async def screen(self) -> None:
        await self.surface.screen(self.terminal)

    async def keystroke(self, waiting: bool) -> tuple[float, float, int]:
        """One letter to the screen: ms, the input's part of it (ms), screens it took;
        then a Backspace (untimed) erases it."""
        letter = LETTERS[self.keys % len(LETTERS)]
        self.keys += 1
        surface, terminal = self.surface, self.terminal
        started = time.perf_counter()
        await surface.send(terminal, text=letter)
        typed = elapsed_ms(started)
        if waiting:
            read = await surface.output(terminal, self.since, WAIT_S)
            if not read["text"]:
                raise RuntimeError(f"no echo of {letter!r} in {WAIT_S:g} s")
        screens = await screen_until(surface, terminal, self.base + letter)
        shown = elapsed_ms(started)
        await surface.send(terminal, keys=["Backspace"])
        await screen_until(surface, terminal, self.base)
        while (read := await surface.output(terminal, self.since, 0))["text"]:
            self.since = read["next_offset"]
        return shown, typed, screens

    async def block(self, runs: int, found: dict[str, list[float]]) -> None:
        """`runs` of every measure, into `found`."""

        def add(measure: str, figures: list[float]) -> None:
            found.setdefault(f"{measure}, {self.name}", []).extend(figures)

        add("start → first line", await first_line(self.surface, runs))
        add("output, nothing new", await round_trips(self.nothing_new, runs))
        add("screen, nothing new", await round_trips(self.screen, runs))
        for _ in range(runs):
            shown, typed, screens = await self.keystroke(waiting=False)
            add("input of one key", [typed])
            add("key → screen, polling", [shown])
            add("screens per polled key (count)", [float(screens)])
        for _ in range(runs):
            add("key → screen, waiting", [(await self.keystroke(waiting=True))[0]])


@dataclass
class OverWebSocket:
    """A pty `cat` of its own in the REST sandbox, its terminal attached over Bay's
    WebSocket (its own process: no other measure's keys echo into this connection)."""

    rest: OverRest
    url: str
    process_id: str = ""
    terminal: ClientConnection | None = None
    keys: int = 0

    async def open(self) -> None:
        self.process_id = await self.rest.start("cat", pty=True)
        sandbox_id = self.rest.sandbox_id
        path = f"/v1/sandboxes/{sandbox_id}/processes/{self.process_id}/terminal"
        self.terminal = await connect("ws://" + self.url.removeprefix("http://") + path)
        await self.terminal.recv()  # the screen, painted on attach

    async def close(self) -> None:
        if self.terminal is not None:
            await self.terminal.close()
        if self.process_id:
            await self.rest.kill(self.process_id)

    async def _until(self, text: str) -> None:
        assert self.terminal is not None
        seen = ""
        while text not in seen:
            frame = await asyncio.wait_for(self.terminal.recv(), WAIT_S)
            seen += frame if isinstance(frame, str) else frame.decode()

    async def block(self, runs: int, found: dict[str, list[float]]) -> None:
        assert self.terminal is not None
        figures = found.setdefault("key → screen, WebSocket", [])
        for _ in range(runs):
            letter = LETTERS[self.keys % len(LETTERS)]
            self.keys += 1
            started = time.perf_counter()
            await self.terminal.send(letter)
            await self._until(letter)
            figures.append(elapsed_ms(started))
            await self.terminal.send("\x7f")  # Backspace: the line discipline echoes "\b \b"
            await self._until("\b \b")


async def over_both(url: str, runs: int) -> dict[str, list[float]]:
    """MCP stdio, REST and raw Ship, in interleaved blocks of BLOCK runs: all three see
    the same machine. Both sandboxes are deleted, whatever happens."""
    data_dir = Path(tempfile.mkdtemp(prefix="bay-bench-stdio-"))
    env = bay_environment(data_dir, PROFILES)
    params = StdioServerParameters(command=BAY_MCP, args=[], env=env)
    benches: list[Bench] = []
    try:
        async with (
            Client(params, read_timeout_seconds=180) as client,
            httpx.AsyncClient(base_url=url, timeout=120) as rest,
            AsyncExitStack() as cleanup,
        ):
            sandbox_id = (await call(client, "create_sandbox"))["id"]
            cleanup.push_async_callback(call, client, "delete_sandbox", sandbox_id=sandbox_id)
            benches.append(Bench("MCP stdio", OverMcp(client, sandbox_id)))
            created = await rest.post("/v1/sandboxes", json={})
            created.raise_for_status()
            rest_sandbox = created.json()["id"]
            cleanup.push_async_callback(rest.delete, f"/v1/sandboxes/{rest_sandbox}")
            over_rest = OverRest(rest, rest_sandbox)
            benches.append(Bench("REST", over_rest))
            await rest.post(f"/v1/sandboxes/{rest_sandbox}/shell/exec", json={"command": "true"})
            ship_url, token, _ = ship_of(rest_sandbox)
            ship = await cleanup.enter_async_context(
                httpx.AsyncClient(
                    base_url=ship_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
                )
            )
            benches.append(Bench("raw Ship", OverShip(ship)))
            for bench in benches:
                await first_line(bench.surface, 1)  # untimed: the sandbox starts with it
                await bench.open()
                cleanup.push_async_callback(bench.close)
                await bench.block(1, {})  # untimed: first calls
            websocket = OverWebSocket(over_rest, url)
            cleanup.push_async_callback(websocket.close)
            await websocket.open()
            await websocket.block(1, {})  # untimed: first keys
            found: dict[str, list[float]] = {}
            for start in range(0, runs, BLOCK):
                for bench in benches:
                    await bench.block(min(BLOCK, runs - start), found)
                await websocket.block(min(BLOCK, runs - start), found)
            return found
    finally:
        remove_instance(env["BAY_INSTANCE_ID"])
        shutil.rmtree(data_dir, ignore_errors=True)


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    print(f"bench/processes.py, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"load average {load()}", flush=True)  # fmt: skip
    with http_server(PROFILES) as server:
        found = asyncio.run(over_both(server.url, args.runs))
    print(HEADER)
    for name, values in found.items():
        print(summary(name, values))
    for name in ("MCP stdio", "REST", "raw Ship"):
        polled = statistics.median(found[f"key → screen, polling, {name}"])
        waited = statistics.median(found[f"key → screen, waiting, {name}"])
        print(f"key → screen p50, {name}: {polled:.1f} ms polling, {waited:.1f} ms waiting")
    over_websocket = statistics.median(found["key → screen, WebSocket"])
    print(f"key → screen p50 over the WebSocket terminal: {over_websocket:.1f} ms "
          "(aim ≤ 20 ms p50)")  # fmt: skip
    print(f"load average after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
