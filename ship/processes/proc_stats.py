"""What a process group uses now, read from /proc: CPU, resident memory, listening ports.

A background process is its session: it is started as a session leader, and everything
it starts stays in that session unless it calls setsid itself (a daemon that does is not
counted; it still ends with the container). Figures are best effort: a process that
ends during the scan is skipped, and a port is found only while a member holds the
listening socket open (one it passed to a process outside the session is not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ship.proc_table import PROC, process_table, stat_fields

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_TCP_LISTEN = "0A"


@dataclass
class GroupUsage:
    members: list[int] = field(default_factory=list)
    cpu_seconds: float = 0.0
    memory_bytes: int = 0
    ports: list[int] = field(default_factory=list)


def sessions() -> dict[int, list[int]]:
    """Session id -> the pids in it, of every process this user can see."""
    found: dict[int, list[int]] = {}
    for pid, (_, session) in process_table().items():
        found.setdefault(session, []).append(pid)
    return found


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its children it has waited for."""
    try:
        fields = stat_fields(pid)
    except OSError:
        return 0.0
    # fields[0] is the state (field 3 of stat): utime..cstime are fields 14..17.
    return sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS


def _resident_bytes(pid: int) -> int:
    try:
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def listening_sockets() -> dict[int, int]:
    """Socket inode -> port, for every TCP socket in LISTEN state (IPv4 and IPv6)."""
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN:
                found[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fds = PROC / str(pid) / "fd"
    try:
        names = os.listdir(fds)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fds / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def group_usage(members: list[int], listening: dict[int, int]) -> GroupUsage:
    """CPU, memory and listening ports summed over `members` (blocking: /proc reads)."""
    usage = GroupUsage(members=members)
    ports: set[int] = set()
    for pid in members:
        usage.cpu_seconds += _cpu_seconds(pid)
        usage.memory_bytes += _resident_bytes(pid)
        if listening:
            ports |= {listening[inode] for inode in _socket_inodes(pid) if inode in listening}
    usage.ports = sorted(ports)
    return usage


def group_carries(group: int, marker: bytes) -> bool:
    """Whether a process of process group `group` has `marker` (`NAME=value`) in its
    environment (blocking: a scan of /proc)."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # [2] is the process group (stat's field 5).
            if int(stat_fields(entry.name)[2]) != group:
                continue
            environment = (entry / "environ").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if marker in environment.split(b"\0"):
            return True
    return False


def usage_by_session(leaders: list[int]) -> dict[int, GroupUsage]:
    """Each leader's session's usage, from one scan of /proc (blocking)."""
    if not leaders:
        return {}
    table = sessions()
    listening = listening_sockets()
    return {leader: group_usage(table.get(leader, []), listening) for leader in leaders}
