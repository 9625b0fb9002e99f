"""Process logs are pruned at each start: the oldest first, never a listed process's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from ship.processes import ProcessManager
from ship.processes.logs import LOG_DIRECTORY, prune_logs
from ship.protocol import ProcessStartRequest
from ship.settings import DEFAULT_MAX_PROCESS_LOGS, ShipSettings
from tests.unit.ship.conftest import TOKEN, user_env

Manager = Callable[[int], ProcessManager]


def old_logs(workspace: Path, count: int) -> Path:
    """`count` logs left by processes long forgotten, old-0 the oldest."""
    directory = workspace / LOG_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        old = directory / f"old-{n}.log"
        old.write_text("old output\n")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    return directory


def names(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_pruning_deletes_the_oldest_logs_past_the_limit(tmp_path: Path) -> None:
    directory = old_logs(tmp_path, 5)
    deleted = prune_logs(tmp_path, [], 3)
    assert deleted == ["old-0.log", "old-1.log"]
    assert names(directory) == {"old-2.log", "old-3.log", "old-4.log"}


def test_pruning_never_deletes_a_listed_process_log(tmp_path: Path) -> None:
    directory = old_logs(tmp_path, 4)
    prune_logs(tmp_path, ["old-0", "old-1"], 1)
    # Over the limit while both are listed: only the unlisted ones went.
    assert names(directory) == {"old-0.log", "old-1.log"}


def test_pruning_leaves_other_files_and_links_alone(tmp_path: Path) -> None:
    directory = old_logs(tmp_path, 2)
    (directory / "notes.txt").write_text("mine")
    (directory / "link.log").symlink_to(directory / "notes.txt")
    (directory / "sub.log").mkdir()
    prune_logs(tmp_path, [], 0)
    assert names(directory) == {"notes.txt", "link.log", "sub.log"}


def test_pruning_does_not_follow_a_link_in_place_of_the_directory(tmp_path: Path) -> None:
    elsewhere = old_logs(tmp_path / "elsewhere", 3)
    (tmp_path / "workspace" / ".bay").mkdir(parents=True)
    (tmp_path / "workspace" / LOG_DIRECTORY).symlink_to(elsewhere)
    with pytest.raises(NotADirectoryError):
        prune_logs(tmp_path / "workspace", [], 0)
    assert len(names(elsewhere)) == 3


def test_pruning_without_a_log_directory_deletes_nothing(tmp_path: Path) -> None:
    assert prune_logs(tmp_path, [], 0) == []


def test_the_log_limit_is_read_from_the_environment() -> None:
    assert ShipSettings.from_env({"SHIP_TOKEN": TOKEN}).max_process_logs == 64
    settings = ShipSettings.from_env({"SHIP_TOKEN": TOKEN, "SHIP_MAX_PROCESS_LOGS": "5"})
    assert settings.max_process_logs == 5
    assert DEFAULT_MAX_PROCESS_LOGS == 64


# -- through the manager -----------------------------------------------------------------


@pytest_asyncio.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    made: list[ProcessManager] = []

    def make(max_logs: int) -> ProcessManager:
        made.append(
            ProcessManager(
                tmp_path / "workspace",
                user_env(tmp_path / "home"),
                ring_bytes=4096,
                log_bytes=4096,
                max_processes=4,
                max_ended=1,
                max_logs=max_logs,
            )
        )
        return made[-1]

    (tmp_path / "workspace").mkdir()
    yield make
    for each in made:
        await each.shutdown()


async def start(processes: ProcessManager, workspace: Path, command: str) -> str:
    info = await processes.start(ProcessStartRequest(command=command), workspace, ".")
    assert (workspace / info.log_path).is_file()
    return info.log_path.rsplit("/", 1)[-1]


async def test_a_start_prunes_old_logs_to_the_limit(manager: Manager, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    directory = old_logs(workspace, 5)
    processes = manager(3)
    first = await start(processes, workspace, "sleep 30")
    assert names(directory) == {"old-3.log", "old-4.log", first}
    second = await start(processes, workspace, "sleep 30")
    assert names(directory) == {"old-4.log", first, second}


async def test_a_forgotten_process_log_goes_before_a_listed_one(
    manager: Manager, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    directory = workspace / LOG_DIRECTORY
    processes = manager(2)
    ended = [await start(processes, workspace, "true") for _ in range(2)]
    for log in ended:
        await asyncio.wait_for(processes.wait(log.removesuffix(".log"), 10), 15)
        os.utime(directory / log, (1_000_000, 1_000_000))
    running = await start(processes, workspace, "sleep 30")
    # max_ended=1: the first ended process is forgotten, so its log is the one to go.
    assert names(directory) == {ended[1], running}


async def test_logs_of_listed_processes_stay_past_the_limit(
    manager: Manager, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    directory = old_logs(workspace, 2)
    processes = manager(0)
    # Started together: none may prune a log whose process is not listed yet.
    started = await asyncio.gather(*(start(processes, workspace, "sleep 30") for _ in range(3)))
    assert names(directory) == set(started)
