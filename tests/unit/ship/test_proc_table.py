"""The /proc scan that shell timeouts and process figures share."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ship.proc_table import process_table, stat_fields
from ship.processes.proc_stats import sessions


@pytest.fixture
def odd_named_sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A session leader whose command name holds a ")" and spaces, as stat shows it."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    odd = tmp_path / "a) 1 2 (b"
    odd.symlink_to(sleep)
    process = subprocess.Popen([str(odd), "30"], start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_table_holds_this_process_with_its_parent_and_session() -> None:
    assert process_table()[os.getpid()] == (os.getppid(), os.getsid(0))


def test_a_command_name_with_parentheses_and_spaces_is_read_whole(
    odd_named_sleeper: subprocess.Popen[bytes],
) -> None:
    pid = odd_named_sleeper.pid
    assert process_table()[pid] == (os.getpid(), pid)
    assert stat_fields(pid)[0] in {"R", "S", "D"}


def test_sessions_group_the_table_by_session(odd_named_sleeper: subprocess.Popen[bytes]) -> None:
    found = sessions()
    assert found[odd_named_sleeper.pid] == [odd_named_sleeper.pid]
    assert os.getpid() in found[os.getsid(0)]


def test_a_process_that_is_gone_has_no_stat() -> None:
    process = subprocess.Popen(["true"])
    process.wait()
    with pytest.raises(FileNotFoundError):
        stat_fields(process.pid)
    assert process.pid not in process_table()
