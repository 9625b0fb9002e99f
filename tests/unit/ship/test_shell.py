"""Shell commands: exit codes, ordered output, cwd, and whole-group kills."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def sh(
    client: httpx.AsyncClient, command: str, timeout: float = 30, cwd: str = "."
) -> dict[str, object]:
    response = await client.post(
        "/shell/exec", json={"command": command, "timeout": timeout, "cwd": cwd}
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


async def test_exit_code_and_success(client: httpx.AsyncClient) -> None:
    ok = await sh(client, "true")
    assert (ok["exit_code"], ok["success"]) == (0, True)
    failed = await sh(client, "echo failing; exit 3")
    assert (failed["exit_code"], failed["success"]) == (3, False)
    assert failed["output"] == "failing\n"


async def test_stdout_and_stderr_come_back_in_order(client: httpx.AsyncClient) -> None:
    result = await sh(client, "echo one; echo two >&2; echo three")
    assert result["output"] == "one\ntwo\nthree\n"


async def test_cwd_is_under_the_workspace(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "sub" / "dir").mkdir(parents=True)
    result = await sh(client, "pwd", cwd="sub/dir")
    assert result["output"] == f"{(workspace / 'sub' / 'dir').resolve()}\n"


async def test_cwd_that_is_not_a_directory_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/shell/exec", json={"command": "pwd", "cwd": "no/such/dir"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


async def test_timeout_kills_everything_the_command_started(client: httpx.AsyncClient) -> None:
    # A unique sleep length marks this test's processes on a shared host.
    marker = f"{1000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    started = time.monotonic()
    result = await sh(client, f"sleep {marker} & (setsid -w true; sleep {marker}) & wait", 1)
    assert time.monotonic() - started < 3
    assert result["timed_out"] is True
    assert result["exit_code"] is None
    assert "timed out" in str(result["output"])
    assert processes_with(f"sleep {marker}") == []


async def test_timeout_kills_processes_that_left_the_session(client: httpx.AsyncClient) -> None:
    # setsid gives a new session; the subshell that started it exits at once, so the
    # sleep is neither in the command's session nor its descendant any more.
    marker = f"{3000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    result = await sh(client, f"(setsid sleep {marker} &) ; sleep {marker}", 1)
    assert result["timed_out"] is True
    assert processes_with(f"sleep {marker}") == []


async def test_background_job_does_not_hold_the_call(client: httpx.AsyncClient) -> None:
    marker = f"{2000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    started = time.monotonic()
    result = await sh(client, f"sleep {marker} >/dev/null 2>&1 & echo started", 10)
    assert time.monotonic() - started < 3
    assert result["output"] == "started\n"
    leftover = processes_with(f"sleep {marker}")
    for pid in leftover:
        os.kill(pid, 9)


async def test_background_job_holding_stdout_does_not_hold_the_call(
    client: httpx.AsyncClient,
) -> None:
    marker = f"{4000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    started = time.monotonic()
    result = await sh(client, f"sleep {marker} & echo started", 10)
    assert time.monotonic() - started < 3
    assert result["exit_code"] == 0
    assert result["output"] == "started\n"
    for pid in processes_with(f"sleep {marker}"):
        os.kill(pid, 9)


async def test_unicode_split_across_reads_survives(client: httpx.AsyncClient) -> None:
    # One ASCII byte first, so that two-byte characters straddle the pipe's read
    # boundaries; the total stays under the unit suite's 64 KB output cap.
    result = await sh(client, "python3 -c \"print('a' + 'é' * 30000)\"")
    assert result["output"] == "a" + "é" * 30000 + "\n"


async def test_cancel_by_exec_id_kills_the_command(client: httpx.AsyncClient) -> None:
    marker = f"{6000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    call = asyncio.ensure_future(
        client.post(
            "/shell/exec",
            json={"command": f"sleep {marker}", "timeout": 60, "exec_id": "run-1"},
        )
    )
    deadline = time.monotonic() + 10
    while not processes_with(f"sleep {marker}"):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.05)
    cancelled = await client.post("/shell/cancel", json={"exec_id": "run-1"})
    assert cancelled.json() == {"cancelled": True}
    response = await call
    assert response.status_code == 500
    assert "cancelled" in response.json()["error"]["message"]
    assert processes_with(f"sleep {marker}") == []
    again = await client.post("/shell/cancel", json={"exec_id": "run-1"})
    assert again.json() == {"cancelled": False}


async def test_ship_refuses_a_nul_byte_in_a_command(client: httpx.AsyncClient) -> None:
    response = await client.post("/shell/exec", json={"command": "echo a\x00b"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
