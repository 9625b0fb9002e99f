"""Background processes and terminals: real processes under the in-process Ship app."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from ship import protocol
from tests.unit.ship.conftest import make_settings, ship_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

Answer = dict[str, Any]
# Every wait in these tests is bounded by this; none is expected to come near it.
DEADLINE_S = 20.0


def url(route: protocol.ShipRoute[Any, Any], process_id: str = "") -> str:
    return route.target(process_id=process_id) if process_id else route.path


async def call(
    client: httpx.AsyncClient,
    route: protocol.ShipRoute[Any, Any],
    process_id: str = "",
    body: Answer | None = None,
    status: int = 200,
) -> Answer:
    response = await client.request(route.method, url(route, process_id), json=body)
    assert response.status_code == status, response.text
    answer: Answer = response.json()
    return answer


async def start(client: httpx.AsyncClient, command: str, **fields: Any) -> Answer:
    return await call(client, protocol.PROCESS_START, body={"command": command, **fields})


async def output(
    client: httpx.AsyncClient, process_id: str, since: int | None = 0, wait: float = 0
) -> Answer:
    body = {"since": since, "wait_seconds": wait}
    return await call(client, protocol.PROCESS_OUTPUT, process_id, body)


async def wait(client: httpx.AsyncClient, process_id: str, timeout: float = DEADLINE_S) -> Answer:
    return await call(client, protocol.PROCESS_WAIT, process_id, {"timeout": timeout})


async def send(client: httpx.AsyncClient, process_id: str, **fields: Any) -> Answer:
    return await call(client, protocol.PROCESS_INPUT, process_id, fields)


async def signal(client: httpx.AsyncClient, process_id: str, name: str) -> Answer:
    return await call(client, protocol.PROCESS_SIGNAL, process_id, {"signal": name})


async def screen(client: httpx.AsyncClient, process_id: str) -> Answer:
    return await call(client, protocol.TERMINAL_SCREEN, process_id)


async def output_until(client: httpx.AsyncClient, process_id: str, wanted: str) -> str:
    """All output up to the read that shows `wanted` (long polls, bounded)."""
    seen, since = "", 0
    deadline = time.monotonic() + DEADLINE_S
    while wanted not in seen:
        assert time.monotonic() < deadline, f"{wanted!r} never came; output so far {seen!r}"
        chunk = await output(client, process_id, since, wait=2)
        seen, since = seen + chunk["text"], chunk["next_offset"]
        if chunk["process"]["state"] != "running" and not chunk["text"]:
            break
    return seen


async def screen_until(client: httpx.AsyncClient, process_id: str, wanted: str) -> Answer:
    """The screen once a line of it is `wanted` (waiting on output between looks)."""
    since = 0
    deadline = time.monotonic() + DEADLINE_S
    while True:
        shown = await screen(client, process_id)
        if wanted in [line.strip() for line in shown["lines"]]:
            return shown
        assert time.monotonic() < deadline, f"{wanted!r} never shown: {shown['rendered']}"
        since = (await output(client, process_id, since, wait=2))["next_offset"]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition of the host's process table (bounded)."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def sleeps(marker: str) -> int:
    """How many `sleep <marker>` processes run on this host (the marker makes them ours)."""
    wanted = f"sleep\0{marker}\0".encode()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += (entry / "cmdline").read_bytes() == wanted
            except OSError:
                continue
    return count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- starting, following, ending ---------------------------------------------------------


async def test_start_answers_at_once_and_the_list_shows_it(client: httpx.AsyncClient) -> None:
    started = await start(client, "sleep 30", name="sleeper")
    assert (started["name"], started["state"], started["pty"]) == ("sleeper", "running", False)
    assert started["log_path"] == f".bay/processes/{started['id']}.log"
    listed = await call(client, protocol.PROCESS_LIST)
    assert started["id"] in [p["id"] for p in listed["processes"]]
    one = await call(client, protocol.PROCESS_GET, started["id"])
    assert one["memory_bytes"] > 0
    await signal(client, started["id"], "KILL")
    assert (await wait(client, started["id"]))["signal"] == "SIGKILL"


async def test_output_long_poll_returns_as_each_line_comes(client: httpx.AsyncClient) -> None:
    started = await start(client, "for i in 1 2 3; do echo $i; sleep 0.3; done")
    reads: list[Answer] = []
    since = 0
    while True:
        chunk = await output(client, started["id"], since, wait=10)
        reads.append(chunk)
        assert chunk["offset"] == since  # nothing skipped, nothing dropped
        since = chunk["next_offset"]
        if chunk["process"]["state"] != "running":
            break
        assert chunk["text"], "a long poll came back with neither output nor the end"
    assert "".join(read["text"] for read in reads) == "1\n2\n3\n"
    # The lines came a read each (0.3 s apart), not all at the end.
    assert [read["text"] for read in reads if read["text"]][:2] == ["1\n", "2\n"]
    assert (reads[-1]["process"]["state"], reads[-1]["process"]["exit_code"]) == ("exited", 0)


async def test_a_long_poll_on_an_ended_process_returns_at_once(client: httpx.AsyncClient) -> None:
    started = await start(client, "echo done")
    await wait(client, started["id"])
    end = await output(client, started["id"], since=None)
    assert end["text"] == "done\n"
    again = await output(client, started["id"], end["next_offset"], wait=protocol.MAX_OUTPUT_WAIT_S)
    assert (again["text"], again["more"]) == ("", False)


async def test_exit_code_and_end_are_recorded(client: httpx.AsyncClient) -> None:
    started = await start(client, "echo failing >&2; exit 3")
    ended = await wait(client, started["id"])
    assert (ended["state"], ended["exit_code"], ended["signal"]) == ("exited", 3, None)
    assert ended["ended_at"] is not None
    assert ended["cpu_seconds"] is not None
    assert (await output(client, started["id"]))["text"] == "failing\n"


async def test_term_kills_it_and_the_list_says_killed_by_sigterm(
    client: httpx.AsyncClient,
) -> None:
    started = await start(client, "sleep 100")
    sent = await signal(client, started["id"], "SIGTERM")
    assert sent["sent"] is True
    ended = await wait(client, started["id"])
    assert (ended["state"], ended["signal"], ended["exit_code"]) == ("killed", "SIGTERM", None)
    again = await signal(client, started["id"], "TERM")
    assert again["sent"] is False


async def test_a_wait_that_times_out_says_it_still_runs(client: httpx.AsyncClient) -> None:
    started = await start(client, "sleep 100")
    assert (await wait(client, started["id"], timeout=0.2))["state"] == "running"
    await signal(client, started["id"], "KILL")


async def test_a_signal_reaches_the_whole_group(client: httpx.AsyncClient) -> None:
    marker = f"{2000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    started = await start(client, f"sleep {marker} & sleep {marker} & wait")
    await until(lambda: sleeps(marker) == 2, "the sleeps never started")
    await signal(client, started["id"], "TERM")
    await wait(client, started["id"])
    await until(lambda: sleeps(marker) == 0, "a member outlived the signal")


async def test_a_signal_reaches_jobs_an_ended_leader_left_behind(
    client: httpx.AsyncClient,
) -> None:
    """`server &` (or a fork bomb) ends its leader at once; its jobs are still its."""
    marker = f"{2000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    started = await start(client, f"sleep {marker} & sleep {marker} &")
    assert (await wait(client, started["id"]))["state"] == "exited"
    await until(lambda: sleeps(marker) == 2, "the sleeps never started")
    sent = await signal(client, started["id"], "TERM")
    assert (sent["sent"], sent["process"]["state"]) == (True, "exited")
    await until(lambda: sleeps(marker) == 0, "a job outlived the signal")
    assert (await signal(client, started["id"], "TERM"))["sent"] is False


async def test_stdin_takes_text_keys_and_end_of_input(client: httpx.AsyncClient) -> None:
    started = await start(client, "read name; echo hello $name; cat")
    written = await send(client, started["id"], text="ship", keys=["Enter"])
    assert written["written"] == 5
    assert await output_until(client, started["id"], "hello ship\n") == "hello ship\n"
    await send(client, started["id"], text="to cat\n", close_stdin=True)
    ended = await wait(client, started["id"])
    assert ended["exit_code"] == 0
    assert (await output(client, started["id"]))["text"] == "hello ship\nto cat\n"
    refused = await call(
        client, protocol.PROCESS_INPUT, started["id"], {"text": "late"}, status=400
    )
    assert "ended" in refused["error"]["message"]


async def test_a_process_that_does_not_read_its_input_is_refused_more(
    client: httpx.AsyncClient,
) -> None:
    started = await start(client, "sleep 30")
    text = "x" * protocol.MAX_PROCESS_INPUT_CHARS
    refused = None
    for _ in range(40):  # the pipe takes 64 KiB, Ship holds 1 MiB more, then no more
        response = await client.post(
            url(protocol.PROCESS_INPUT, started["id"]), json={"text": text}
        )
        if response.status_code != 200:
            refused = response.json()
            break
    assert refused is not None, "input was taken without end"
    assert "not reading its input" in refused["error"]["message"]
    await signal(client, started["id"], "KILL")


async def test_a_read_stops_at_max_bytes_and_on_a_character(client: httpx.AsyncClient) -> None:
    started = await start(client, "printf 'é%.0s' 1 2 3 4 5")
    await wait(client, started["id"])
    body = {"since": 0, "max_bytes": 3}
    first = await call(client, protocol.PROCESS_OUTPUT, started["id"], body)
    assert (first["text"], first["next_offset"], first["more"]) == ("é", 2, True)
    body = {"since": 2, "max_bytes": 100}
    rest = await call(client, protocol.PROCESS_OUTPUT, started["id"], body)
    assert (rest["text"], rest["next_offset"], rest["more"]) == ("éééé", 10, False)


async def test_an_unknown_process_is_process_not_found(client: httpx.AsyncClient) -> None:
    answer = await call(client, protocol.PROCESS_GET, "proc-nosuch", status=404)
    assert answer["error"]["code"] == "process_not_found"
    await call(client, protocol.PROCESS_OUTPUT, "proc-nosuch", {}, status=404)


async def test_env_and_cwd_are_the_processes(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "app").mkdir()
    started = await start(client, "echo $GREETING; pwd", cwd="app", env={"GREETING": "h'i"})
    await wait(client, started["id"])
    text = (await output(client, started["id"]))["text"]
    assert text == f"h'i\n{(workspace / 'app').resolve()}\n"
    assert started["cwd"] == "app"
    refused = await call(
        client, protocol.PROCESS_START, body={"command": "true", "cwd": "../x"}, status=400
    )
    assert refused["error"]["code"] == "invalid_path"
    bad_name = {"command": "true", "env": {"A B": "x"}}
    refused = await call(client, protocol.PROCESS_START, body=bad_name, status=400)
    assert refused["error"]["code"] == "validation_error"


# -- terminals ---------------------------------------------------------------------------


async def test_a_python_repl_on_a_terminal_shows_42(client: httpx.AsyncClient) -> None:
    started = await start(client, f"{sys.executable} -i -q", pty=True, rows=20, cols=60)
    assert (started["rows"], started["cols"]) == (20, 60)
    await screen_until(client, started["id"], ">>>")
    await send(client, started["id"], text="x = 6*7", keys=["Enter"])
    # The next prompt before the next line: typed ahead, the terminal would echo it
    # itself while Python runs the first (cooked mode) and the screen would differ.
    await screen_until(client, started["id"], ">>> x = 6*7")
    await screen_until(client, started["id"], ">>>")
    await send(client, started["id"], text="print(x)", keys=["Enter"])
    shown = await screen_until(client, started["id"], "42")
    assert (shown["rows"], shown["cols"], len(shown["lines"])) == (20, 60, 20)
    assert ">>> print(x)" in shown["lines"]
    assert shown["rendered"].splitlines()[shown["cursor_row"]].endswith("█")
    # Ctrl+D at the next prompt: typed while Python still prints, readline's switch to
    # raw mode at its prompt may flush it (seen under load), and Python never exits.
    await screen_until(client, started["id"], ">>>")
    await send(client, started["id"], keys=["Ctrl+D"])
    assert (await wait(client, started["id"]))["exit_code"] == 0


async def test_ctrl_c_interrupts_sleep(client: httpx.AsyncClient) -> None:
    started = await start(client, "sleep 100", pty=True)
    await send(client, started["id"], keys=["Ctrl+C"])
    ended = await wait(client, started["id"])
    assert (ended["state"], ended["signal"]) == ("killed", "SIGINT")


async def test_resize_changes_the_screen_and_what_the_program_sees(
    client: httpx.AsyncClient,
) -> None:
    started = await start(client, "read; stty size; read", pty=True, rows=5, cols=20)
    assert len((await screen(client, started["id"]))["lines"]) == 5
    resized = await call(client, protocol.TERMINAL_RESIZE, started["id"], {"rows": 7, "cols": 33})
    assert (resized["rows"], resized["cols"]) == (7, 33)
    await send(client, started["id"], keys=["Enter"])
    shown = await screen_until(client, started["id"], "7 33")
    assert (shown["rows"], shown["cols"], len(shown["lines"])) == (7, 33, 7)
    await signal(client, started["id"], "KILL")


async def test_cursor_keys_follow_the_programs_cursor_mode(client: httpx.AsyncClient) -> None:
    # The program asks for application cursor keys (as vim does), then shows what Up sent.
    command = "printf '\\033[?1h'; echo ready; read -rsn3 key; printf '%q\\n' \"$key\""
    started = await start(client, command, pty=True)
    await output_until(client, started["id"], "ready")
    await send(client, started["id"], keys=["Up"])
    assert "$'\\EOA'" in await output_until(client, started["id"], "EOA")
    refused = await call(
        client, protocol.PROCESS_INPUT, started["id"], {"close_stdin": True}, status=400
    )
    assert "Ctrl+D" in refused["error"]["message"]


async def test_a_process_without_a_terminal_has_no_screen(client: httpx.AsyncClient) -> None:
    started = await start(client, "sleep 30")
    refused = await call(client, protocol.TERMINAL_SCREEN, started["id"], status=400)
    assert "pty" in refused["error"]["message"]
    await signal(client, started["id"], "KILL")


# -- output kept: ring and log -----------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def small_ship(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A Ship with small output limits and few processes."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    settings = make_settings(
        workspace,
        process_ring_bytes=64 * 1024,
        process_log_bytes=1024 * 1024,
        max_processes=2,
        max_ended_processes=2,
    )
    async for ship in ship_client(settings):
        yield ship


async def test_a_process_that_prints_a_lot_keeps_ring_and_log_bounded(
    small_ship: httpx.AsyncClient, tmp_path: Path
) -> None:
    total = 50 * 1000 * 1000
    started = await start(small_ship, f"yes | head -c {total}")
    ended = await wait(small_ship, started["id"], timeout=120)
    assert (ended["exit_code"], ended["output_bytes"]) == (0, total)
    chunk = await call(small_ship, protocol.PROCESS_OUTPUT, started["id"], {"since": 0})
    assert chunk["offset"] == total - 64 * 1024 == chunk["dropped_bytes"]
    assert len(chunk["text"]) == 64 * 1024
    assert chunk["text"].startswith("y\n")
    log = tmp_path / "workspace" / ended["log_path"]
    assert log.stat().st_size == 1024 * 1024
    assert ended["log_truncated"] is True


async def test_the_log_holds_the_whole_output(
    small_ship: httpx.AsyncClient, tmp_path: Path
) -> None:
    started = await start(small_ship, "seq 1 1000")
    ended = await wait(small_ship, started["id"])
    log = tmp_path / "workspace" / ended["log_path"]
    assert log.read_text() == "".join(f"{n}\n" for n in range(1, 1001))
    assert ended["log_truncated"] is False


async def test_the_running_limit_refuses_a_start_and_says_which(
    small_ship: httpx.AsyncClient,
) -> None:
    first = await start(small_ship, "sleep 30")
    second = await start(small_ship, "sleep 30")
    refused = await call(
        small_ship, protocol.PROCESS_START, body={"command": "sleep 30"}, status=429
    )
    assert refused["error"]["code"] == "quota_exceeded"
    assert refused["error"]["details"] == {"limit": "running_processes", "max": 2}
    assert "2 processes are running" in refused["error"]["message"]
    await signal(small_ship, first["id"], "KILL")
    await wait(small_ship, first["id"])
    third = await start(small_ship, "true")  # room again
    for process in (second, third):
        await signal(small_ship, process["id"], "KILL")
        await wait(small_ship, process["id"])


async def test_ended_processes_are_forgotten_oldest_first(small_ship: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(4):
        started = await start(small_ship, "true")
        await wait(small_ship, started["id"])
        ids.append(started["id"])
    listed = await call(small_ship, protocol.PROCESS_LIST)
    assert [p["id"] for p in listed["processes"]] == ids[2:]
    await call(small_ship, protocol.PROCESS_GET, ids[0], status=404)


# -- ports and the end of Ship ------------------------------------------------------------


async def test_the_ports_a_server_listens_on_are_listed(client: httpx.AsyncClient) -> None:
    port = free_port()
    started = await start(
        client,
        f"{sys.executable} -m http.server {port} --bind 127.0.0.1",
        env={"PYTHONUNBUFFERED": "1"},
    )
    await output_until(client, started["id"], "Serving HTTP")
    info = await call(client, protocol.PROCESS_GET, started["id"])
    assert info["ports"] == [port]
    await signal(client, started["id"], "TERM")
    ended = await wait(client, started["id"])
    assert (ended["state"], ended["signal"], ended["ports"]) == ("killed", "SIGTERM", [])


async def test_shutdown_ends_every_process(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    marker = f"{3000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    sleeping = f"sleep {marker}"
    async for ship in ship_client(make_settings(workspace)):
        await start(ship, sleeping)
        # Ignores SIGTERM (and so does its sleep): only the SIGKILL after the grace ends it.
        await start(ship, f"trap '' TERM; {sleeping} & wait", pty=True)
        await until(lambda: sleeps(marker) == 2, "the sleeps never started")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10
    await until(lambda: sleeps(marker) == 0, "a process outlived its Ship")
