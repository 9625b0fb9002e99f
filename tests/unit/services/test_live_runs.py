"""The board of runs in progress: on it while running, gone at the end however it ends,
its output a bounded tail fed only by callers that asked for live output."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.services.live_runs import KEPT_CHARS, LiveRuns
from bay_mcp.services.runs import PythonRun
from tests.fakes import FakeShip


def test_a_run_is_on_the_board_while_it_runs_and_its_output_reaches_both() -> None:
    board = LiveRuns()
    heard: list[str] = []
    with board.running("alice", "sb-1", "exec-1", "python", "print(1)", heard.append) as sink:
        assert sink is not None
        [run] = board.in_sandbox("sb-1")
        assert board.get("exec-1") is run
        assert (run.owner, run.exec_type, run.source, run.streamed) == (
            "alice",
            "python",
            "print(1)",
            True,
        )
        assert board.in_sandbox("sb-2") == []
        sink("1\n")
        sink("2\n")
        assert run.output == "1\n2\n"
        assert heard == ["1\n", "2\n"]
    assert board.get("exec-1") is None
    assert board.in_sandbox("sb-1") == []


def test_a_run_without_live_output_is_listed_with_none() -> None:
    board = LiveRuns()
    with board.running("alice", "sb-1", "exec-1", "shell", "ls", None) as sink:
        assert sink is None
        [run] = board.in_sandbox("sb-1")
        assert not run.streamed
        assert run.output == ""
    assert board.in_sandbox("sb-1") == []


def test_a_run_that_raises_leaves_the_board_and_wakes_its_watchers() -> None:
    board = LiveRuns()
    watched: list[asyncio.Event] = []

    def lose() -> None:
        with board.running("alice", "sb-1", "exec-1", "python", "1/0", None):
            run = board.get("exec-1")
            assert run is not None
            watched.append(run.changed)
            raise RuntimeError("lost")

    with pytest.raises(RuntimeError):
        lose()
    assert board.get("exec-1") is None
    assert watched[0].is_set()


def test_output_wakes_watchers_once_and_keeps_a_bounded_tail() -> None:
    board = LiveRuns()
    with board.running("alice", "sb-1", "exec-1", "python", "x", lambda _: None) as sink:
        assert sink is not None
        run = board.get("exec-1")
        assert run is not None
        first = run.changed
        assert not first.is_set()
        sink("a" * KEPT_CHARS)
        assert first.is_set()
        second = run.changed
        assert second is not first  # a fresh event for the next wait
        assert not second.is_set()
        sink("b" * 10)
        assert len(run.output) == KEPT_CHARS
        assert run.output.endswith("a" + "b" * 10)
        assert second.is_set()
        last = run.changed
    assert last.is_set()  # the end is news too


async def test_a_python_run_is_on_its_sandboxs_board_while_it_runs(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    heard: list[str] = []
    running = asyncio.create_task(
        bay.execution.run(
            "alice", sandbox.id, PythonRun(code="work()"), no_progress, on_output=heard.append
        )
    )
    await asyncio.wait_for(ship.python_started.wait(), timeout=5)
    [run] = bay.execution.live.in_sandbox(sandbox.id)
    assert (run.owner, run.source, run.streamed) == ("alice", "work()", True)
    ship.block_python.set()
    result = await asyncio.wait_for(running, timeout=5)
    assert run.execution_id == result.execution_id
    assert heard == ["ran work()\n"]
    assert run.output == "ran work()\n"
    assert bay.execution.live.in_sandbox(sandbox.id) == []


async def test_a_cancelled_run_leaves_the_board(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    running = asyncio.create_task(
        bay.execution.run("alice", sandbox.id, PythonRun(code="forever()"), no_progress)
    )
    await asyncio.wait_for(ship.python_started.wait(), timeout=5)
    [run] = bay.execution.live.in_sandbox(sandbox.id)
    assert not run.streamed
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert bay.execution.live.in_sandbox(sandbox.id) == []
