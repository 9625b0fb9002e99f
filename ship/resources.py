"""What a run costs, read rather than estimated.

CPU time and peak memory come from the process's own accounting (`/proc/<pid>` for
the kernel, `wait4`'s rusage for a shell command); out-of-memory kills and the memory
limit come from the container's cgroup, v1 (Docker 20.10 here) or v2. Anything that
cannot be read is None: a report never invents a figure.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from dataclasses import dataclass
from pathlib import Path

from ship.protocol import KillReason, ResourceReport

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# cgroup v1 writes "no limit" as the largest page-aligned 63-bit number.
_NO_LIMIT_V1 = 1 << 62
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _field(text: str | None, name: str) -> int | None:
    """`name N` from a flat keyed file (memory.events, memory.oom_control)."""
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class Cgroup:
    """The container's memory cgroup, as seen from inside it."""

    limit_file: Path
    events_file: Path

    @classmethod
    def detect(cls, root: Path = _CGROUP_ROOT) -> Cgroup:
        if (root / "cgroup.controllers").exists():  # v2: one unified hierarchy
            return cls(root / "memory.max", root / "memory.events")
        memory = root / "memory"
        return cls(memory / "memory.limit_in_bytes", memory / "memory.oom_control")

    def memory_limit(self) -> int | None:
        text = (_read(self.limit_file) or "").strip()
        if not text.isdigit():  # "max" (v2), or unreadable
            return None
        limit = int(text)
        return None if limit >= _NO_LIMIT_V1 else limit

    def oom_kills(self) -> int | None:
        """Processes the kernel killed for memory in this cgroup, ever (kernel ≥ 4.13)."""
        return _field(_read(self.events_file), "oom_kill")


def cpu_ms(pid: int) -> int | None:
    """CPU time of `pid` and of its children it has waited for, in ms."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return None
    # After the ")" that closes the command name: state is field 3, utime field 14.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    except (IndexError, ValueError):
        return None
    return ticks * 1000 // _TICKS_PER_S


def reset_peak_memory(pid: int) -> bool:
    """Start `pid`'s peak resident memory (VmHWM) again from now; False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory(pid: int) -> int | None:
    """`pid`'s peak resident memory in bytes since start or the last reset."""
    for line in (_read(Path(f"/proc/{pid}/status")) or "").splitlines():
        if line.startswith("VmHWM:"):  # "VmHWM:     1234 kB"
            with contextlib.suppress(IndexError, ValueError):
                return int(line.split()[1]) * 1024
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def kill_reason(*, timed_out: bool, killed_by: int | None, oom_during: bool) -> KillReason | None:
    """Why a run was killed. Ours first (the timeout); then the kernel's OOM killer,
    whose weapon is SIGKILL; then any other signal."""
    if timed_out:
        return "timeout"
    if oom_during and killed_by == signal.SIGKILL:
        return "out_of_memory"
    if killed_by is not None:
        return "signal"
    return None


class Meter:
    """Measures one run: take it just before the run starts, `report` just after."""

    def __init__(self, cgroup: Cgroup) -> None:
        self._cgroup = cgroup
        self._oom_kills = cgroup.oom_kills()

    def oom_kills(self) -> int | None:
        """Processes of the sandbox killed for memory since the meter was taken."""
        now = self._cgroup.oom_kills()
        return None if now is None or self._oom_kills is None else now - self._oom_kills

    def oom_during(self) -> bool:
        return bool(self.oom_kills())

    def report(
        self,
        *,
        cpu_time_ms: int | None,
        peak_memory_bytes: int | None,
        timed_out: bool,
        killed_by: int | None,
    ) -> ResourceReport:
        oom_kills = self.oom_kills()
        reason = kill_reason(timed_out=timed_out, killed_by=killed_by, oom_during=bool(oom_kills))
        return ResourceReport(
            cpu_time_ms=cpu_time_ms,
            peak_memory_bytes=peak_memory_bytes,
            killed=reason,
            signal=signal_name(killed_by) if killed_by is not None and reason else None,
            oom_kills=oom_kills,
            memory_limit_bytes=self._cgroup.memory_limit(),
        )


class ProcessMeter(Meter):
    """A run inside a long-lived process (the kernel): deltas of its own counters."""

    def __init__(self, cgroup: Cgroup, pid: int | None) -> None:
        super().__init__(cgroup)
        self._pid = pid
        self._peak_reset = pid is not None and reset_peak_memory(pid)
        self._cpu_ms = None if pid is None else cpu_ms(pid)

    def finish(self, *, timed_out: bool, killed_by: int | None) -> ResourceReport:
        cpu_now = None if self._pid is None else cpu_ms(self._pid)
        cpu = None if cpu_now is None or self._cpu_ms is None else cpu_now - self._cpu_ms
        # Without the reset, VmHWM is the peak of the process's whole life: not this run's.
        peak = peak_memory(self._pid) if self._pid is not None and self._peak_reset else None
        return self.report(
            cpu_time_ms=cpu, peak_memory_bytes=peak, timed_out=timed_out, killed_by=killed_by
        )


def rusage_figures(usage: resource.struct_rusage) -> tuple[int, int]:
    """(CPU ms, peak resident bytes) from `wait4`: the process and what it waited for."""
    cpu = int((usage.ru_utime + usage.ru_stime) * 1000)
    return cpu, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
