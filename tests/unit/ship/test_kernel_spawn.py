"""The Python kernel started ahead (`python -m ship`) and adopted by Ship's Kernel: a
real IPython kernel, no Docker."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from ship.kernel import Kernel
from ship.kernel_spawn import spawn
from ship.languages import R, kernel_environment, python_launch
from ship.resources import Cgroup
from tests.unit.ship.conftest import user_env

pytestmark = pytest.mark.asyncio

BUDGET = 64 * 1024


def _kernel(tmp_path: Path, *, ahead: bool) -> Kernel:
    launch = python_launch(sys.executable)
    env = user_env(tmp_path / "home")
    spawned = (
        spawn(launch, cwd=tmp_path, env=kernel_environment(launch, env, BUDGET)) if ahead else None
    )
    return Kernel(
        launch,
        cwd=tmp_path,
        env=env,
        max_output_bytes=BUDGET,
        cgroup=Cgroup.detect(),
        spawned=spawned,
    )


async def test_the_kernel_started_ahead_is_the_one_that_runs_code(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path, ahead=True)
    spawned = kernel._spawned
    assert spawned is not None
    try:
        await kernel.start()
        result = await kernel.execute("import os; print(os.getpid(), os.getcwd())", 30)
        assert result.success, result.error
        assert result.output.split() == [str(spawned.process.pid), str(tmp_path)]
        # The environment is the one a kernel Ship launches gets (one formula).
        budget = await kernel.execute("print(os.environ['SHIP_KERNEL_OUTPUT_LIMIT'])", 30)
        assert budget.output == f"{BUDGET + 1}\n"
        # Signals reach it (its own session, as jupyter_client launches one): a
        # timeout interrupts and the state stays.
        await kernel.execute("kept = 41", 30)
        slow = await kernel.execute("import time; time.sleep(30)", 1)
        assert slow.error is not None
        assert not slow.kernel_restarted
        after = await kernel.execute("print(kept + 1)", 30)
        assert after.output == "42\n"
    finally:
        await kernel.shutdown()
    assert spawned.process.poll() is not None
    assert not spawned.runtime_dir.exists()


async def test_a_kernel_started_ahead_that_died_is_replaced_on_the_first_run(
    tmp_path: Path,
) -> None:
    kernel = _kernel(tmp_path, ahead=True)
    spawned = kernel._spawned
    assert spawned is not None
    spawned.process.kill()
    await asyncio.to_thread(spawned.process.wait)
    try:
        with pytest.raises(RuntimeError, match="died while starting"):
            await kernel.start()
        result = await kernel.execute("print(os.getpid() if 'os' in dir() else 'fresh')", 30)
        assert result.success, result.error
        assert result.output == "fresh\n"
    finally:
        await kernel.shutdown()


async def test_a_kernel_started_ahead_and_never_adopted_is_stopped(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path, ahead=True)
    spawned = kernel._spawned
    assert spawned is not None
    await kernel.shutdown()
    assert spawned.process.poll() is not None
    assert not spawned.runtime_dir.exists()


async def test_a_kernel_launched_by_ship_answers_as_soon_as_it_is_ready(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path, ahead=False)
    try:
        await kernel.start()
        assert kernel.state == "ready"
        assert (await kernel.execute("1 + 1", 30)).output == "2\n"
    finally:
        await kernel.shutdown()


async def test_only_an_ipc_kernel_without_a_stdout_reader_is_started_ahead(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not started ahead"):
        spawn(R, cwd=tmp_path, env=dict(os.environ))
