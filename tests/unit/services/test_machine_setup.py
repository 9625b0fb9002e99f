"""Waiting for the machine's set-up (a real child process standing in for it)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from bay_mcp.errors import SessionNotReady
from bay_mcp.managers.setup import MachineSetup


def start(tmp_path: Path, script: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "setup.log"
    return subprocess.Popen(["bash", "-c", f"{{ {script}; }} >> {log} 2>&1"]), log


async def test_a_running_set_up_is_waited_for_with_progress(tmp_path: Path) -> None:
    process, log = start(tmp_path, "echo 'building the sandbox image'; sleep 1.5; echo done")
    messages: list[str] = []

    async def progress(message: str) -> None:
        messages.append(message)

    await MachineSetup(process.pid, log, wait_s=30).ready(progress)
    assert messages
    assert any("building the sandbox image" in message for message in messages), messages
    process.wait()  # already reaped by the setup: Popen only learns it is gone


async def test_a_set_up_that_outlasts_the_wait_says_when_to_retry(tmp_path: Path) -> None:
    process, log = start(tmp_path, "echo 'installing docker.io'; sleep 30")
    deadline = time.monotonic() + 10
    while not log.exists() or not log.read_text():  # what it is doing is in the log
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        with pytest.raises(SessionNotReady, match="Retry in 30 s") as refused:
            await MachineSetup(process.pid, log, wait_s=0.5).ready(_silent)
        assert "installing docker.io" in refused.value.message
        assert refused.value.details["retry_after_ms"] == 30_000
    finally:
        process.kill()
        process.wait()


async def test_a_failed_set_up_is_reported_every_time(tmp_path: Path) -> None:
    process, log = start(tmp_path, "echo 'E: no space left on device'; exit 4")
    setup = MachineSetup(process.pid, log, wait_s=30)
    for _ in range(2):
        with pytest.raises(SessionNotReady, match=r"failed \(exit 4\)") as failed:
            await setup.ready(_silent)
        assert "no space left on device" in failed.value.message
    process.wait()


def test_no_set_up_is_ready_at_once() -> None:
    """At once: the wait ends in its first step, never suspended on the event loop (a
    poll or a sleep would suspend it), and says nothing about a set-up."""
    messages: list[str] = []

    async def progress(message: str) -> None:
        messages.append(message)

    waiting = MachineSetup(None, None, wait_s=30).ready(progress)
    with pytest.raises(StopIteration):  # returned, in one step
        waiting.send(None)
    assert messages == []


async def _silent(message: str) -> None:
    return None


async def test_the_status_file_tells_how_a_reaped_set_up_ended(tmp_path: Path) -> None:
    """The shell that started it may have reaped it already: the status file says."""
    process, log = start(tmp_path, "echo 'docker: command not found'")
    process.wait()  # reaped: waitpid can no longer tell
    status = tmp_path / "setup.status"
    status.write_text("127\n")
    with pytest.raises(SessionNotReady, match=r"failed \(exit 127\)") as failed:
        await MachineSetup(process.pid, log, wait_s=30, status=status).ready(_silent)
    assert "command not found" in failed.value.message
    status.unlink()
    with pytest.raises(SessionNotReady, match="without writing its exit status"):
        await MachineSetup(process.pid, log, wait_s=30, status=status).ready(_silent)
