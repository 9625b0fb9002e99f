"""The resource report: cgroup files of both versions, process accounting, and the
reports Ship puts on python and shell results (no container: the host's own cgroup)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from ship.protocol import ResourceReport
from ship.resources import Cgroup, Meter, cpu_ms, kill_reason, peak_memory, reset_peak_memory

MIB = 1 << 20


def cgroup_v1(root: Path, limit: str, oom_kills: int) -> Cgroup:
    memory = root / "memory"
    memory.mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (memory / "memory.oom_control").write_text(
        f"oom_kill_disable 0\nunder_oom 0\noom_kill {oom_kills}\n"
    )
    return Cgroup.detect(root)


def cgroup_v2(root: Path, limit: str, oom_kills: int) -> Cgroup:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "memory.max").write_text(f"{limit}\n")
    (root / "memory.events").write_text(
        f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom_kills}\noom_group_kill 0\n"
    )
    return Cgroup.detect(root)


def test_cgroup_v1_limit_and_oom_kills(tmp_path: Path) -> None:
    cgroup = cgroup_v1(tmp_path, str(256 * MIB), 2)
    assert (cgroup.memory_limit(), cgroup.oom_kills()) == (256 * MIB, 2)


def test_cgroup_v1_without_a_limit_reads_none(tmp_path: Path) -> None:
    assert cgroup_v1(tmp_path, "9223372036854771712", 0).memory_limit() is None


def test_cgroup_v2_limit_and_oom_kills(tmp_path: Path) -> None:
    cgroup = cgroup_v2(tmp_path, str(512 * MIB), 4)
    assert (cgroup.memory_limit(), cgroup.oom_kills()) == (512 * MIB, 4)
    assert cgroup_v2(tmp_path / "unlimited", "max", 0).memory_limit() is None


def test_an_unreadable_cgroup_gives_no_figures(tmp_path: Path) -> None:
    cgroup = Cgroup.detect(tmp_path / "nothing")
    assert (cgroup.memory_limit(), cgroup.oom_kills()) == (None, None)
    report = Meter(cgroup).report(
        cpu_time_ms=None, peak_memory_bytes=None, timed_out=False, killed_by=signal.SIGKILL
    )
    # Without the counter an OOM kill cannot be told from any SIGKILL: said as a signal.
    assert (report.killed, report.signal, report.memory_limit_bytes) == (
        "signal",
        "SIGKILL",
        None,
    )


def test_an_oom_kill_during_the_run_is_named_with_the_limit(tmp_path: Path) -> None:
    cgroup = cgroup_v1(tmp_path, str(256 * MIB), 0)
    meter = Meter(cgroup)
    (tmp_path / "memory" / "memory.oom_control").write_text("oom_kill 1\n")
    report = meter.report(
        cpu_time_ms=5, peak_memory_bytes=None, timed_out=False, killed_by=signal.SIGKILL
    )
    assert report.killed == "out_of_memory"
    assert report.memory_limit_bytes == 256 * MIB
    assert (
        report.kill_summary() == "was killed for using more than 256 MB, the sandbox's memory limit"
    )


@pytest.mark.parametrize(
    ("timed_out", "killed_by", "oom_during", "reason"),
    [
        (False, None, False, None),
        (False, None, True, None),  # someone else's OOM kill: this run exited normally
        (True, signal.SIGKILL, True, "timeout"),  # we killed it first
        (False, signal.SIGKILL, True, "out_of_memory"),
        (False, signal.SIGKILL, False, "signal"),
        (False, signal.SIGTERM, True, "signal"),  # the OOM killer only sends SIGKILL
    ],
)
def test_kill_reason(
    timed_out: bool, killed_by: int | None, oom_during: bool, reason: str | None
) -> None:
    assert kill_reason(timed_out=timed_out, killed_by=killed_by, oom_during=oom_during) == reason


def test_own_process_accounting_reads() -> None:
    pid = os.getpid()
    assert (cpu_ms(pid) or 0) > 0
    assert reset_peak_memory(pid)
    assert (peak_memory(pid) or 0) > MIB
    no_such_process = 2**22 + 7
    assert cpu_ms(no_such_process) is None
    assert peak_memory(no_such_process) is None


def test_summaries() -> None:
    report = ResourceReport(cpu_time_ms=1234, peak_memory_bytes=45 * MIB)
    assert report.usage_summary() == "CPU 1.23 s, peak memory 45 MB"
    assert report.kill_summary() is None
    assert ResourceReport().usage_summary() is None
    assert ResourceReport(killed="signal", signal="SIGTERM").kill_summary() == (
        "was killed by SIGTERM"
    )


pytestmark_async = pytest.mark.asyncio(loop_scope="module")


@pytestmark_async
async def test_a_python_run_reports_its_cpu_and_peak_memory(client: httpx.AsyncClient) -> None:
    code = (
        "import time\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"
        "b = bytearray(80 * 2**20)\n"
        "b[::4096] = b'x' * len(b[::4096])\n"
        "del b"
    )
    response = await client.post("/python/exec", json={"code": code})
    report = response.json()["resources"]
    assert 250 <= report["cpu_time_ms"] < 5000, report
    assert report["peak_memory_bytes"] > 80 * MIB, report
    assert report["killed"] is None


@pytestmark_async
async def test_a_shell_run_reports_its_cpu_and_peak_memory(client: httpx.AsyncClient) -> None:
    command = (
        'python3 -c "import time; t = time.process_time()\n'
        "while time.process_time() - t < 0.3: pass\n"
        "b = bytearray(60 * 2**20); b[::4096] = b'x' * len(b[::4096])\"; echo done"
    )
    response = await client.post("/shell/exec", json={"command": command})
    result = response.json()
    assert result["output"] == "done\n", result
    report = result["resources"]
    assert 250 <= report["cpu_time_ms"] < 5000, report
    assert report["peak_memory_bytes"] > 60 * MIB, report
    assert report["killed"] is None


@pytestmark_async
async def test_a_command_killed_by_a_signal_says_which(client: httpx.AsyncClient) -> None:
    response = await client.post("/shell/exec", json={"command": "kill -TERM $$"})
    result = response.json()
    assert result["exit_code"] == -signal.SIGTERM
    assert (result["resources"]["killed"], result["resources"]["signal"]) == (
        "signal",
        "SIGTERM",
    )


@pytestmark_async
async def test_a_timed_out_command_reports_the_timeout_and_its_cpu(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/shell/exec", json={"command": "while :; do :; done", "timeout": 1}
    )
    result = response.json()
    assert result["timed_out"] is True
    report = result["resources"]
    assert report["killed"] == "timeout"
    # A busy loop for its 1 s timeout: at most 1 s of CPU (+ the kill's lag); at least a
    # tenth of it even on a machine busy with other work (CI builds images meanwhile).
    assert 100 <= report["cpu_time_ms"] <= 1500, report
