"""The process table, read from /proc: each process's parent and session.

Blocking reads, best effort: a process that ends during a scan is skipped. A stat line
is split after its last ")", as the command name in parentheses may itself hold spaces
and parentheses.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name.

    [0] is the state (stat's field 3), [1] the parent, [3] the session: field n of
    stat(5) is [n - 3]. OSError once the process is gone.
    """
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[-1].split()


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id), of every process this user can see."""
    table: dict[int, tuple[int, int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields(entry.name)
        except OSError:
            continue
        if len(fields) > 3:
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table
