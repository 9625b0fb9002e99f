"""The Python kernel's process, started before Ship imports its server.

A cold sandbox's first run waits for Ship's start (its imports: the server, pydantic,
jupyter_client, ~250 ms) and the kernel's boot (~280 ms). One after the other, the run
waited for both. `python -m ship` starts the kernel first, with nothing heavier than
the standard library imported, and the Python `Kernel` adopts the process when Ship's
lifespan starts it (kernel.py): the two boots overlap on the container's cores.

The process is started as jupyter_client's launcher starts one: in its own session,
stdin at EOF, `JPY_PARENT_PID` set, from a connection file written here with the IPC
transport's ports (sockets in a fresh runtime directory, so the ports are free).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ship.languages import CONNECTION_FILE, KernelLaunch

# IPC "ports" name socket files (`<ip>-<port>`); jupyter_client numbers them from 1.
_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


@dataclass(frozen=True)
class SpawnedKernel:
    """A kernel process started ahead, with what adopting it needs."""

    process: subprocess.Popen[bytes]
    runtime_dir: Path
    connection_file: Path


def spawn(launch: KernelLaunch, *, cwd: Path, env: Mapping[str, str]) -> SpawnedKernel:
    """Start `launch`'s kernel (an IPC one: its sockets need no free port) now."""
    if launch.transport != "ipc" or launch.prints_to_stdout:
        raise ValueError(f"the {launch.title} kernel is not started ahead")
    runtime_dir = Path(tempfile.mkdtemp(prefix="ship-kernel-"))
    connection_file = runtime_dir / "kernel.json"
    info = {
        **_PORTS,
        "transport": "ipc",
        "ip": str(runtime_dir / "kernel"),
        "key": secrets.token_hex(32),
        "signature_scheme": "hmac-sha256",
        "kernel_name": "",
    }
    descriptor = os.open(connection_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(info, handle)
    argv = [part.replace(CONNECTION_FILE, str(connection_file)) for part in launch.argv]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**env, "JPY_PARENT_PID": str(os.getpid())},
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return SpawnedKernel(process, runtime_dir, connection_file)
