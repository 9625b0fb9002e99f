"""Ship's settings, read once from the container's environment."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Ship's default limit of processes running at once (SHIP_MAX_PROCESSES sets another).
# Here rather than in the protocol: `python -m ship` reads its settings before it
# imports the protocol (pydantic), to start the kernel sooner (kernel_spawn.py).
DEFAULT_MAX_PROCESSES = 32

DEFAULT_PORT = 8123
DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_READ_BYTES = 8 * 1024 * 1024
DEFAULT_BROWSER_IDLE_SECONDS = 300.0
DEFAULT_PROCESS_RING_BYTES = 1024 * 1024
DEFAULT_PROCESS_LOG_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ENDED_PROCESSES = 16
DEFAULT_MAX_PROCESS_LOGS = 64


class SettingsError(ValueError):
    """The environment does not describe a runnable Ship."""


@dataclass(frozen=True)
class ShipSettings:
    token: str
    workspace: Path = Path("/workspace")
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    user: str = "shipyard"
    kernel_python: str = field(default_factory=lambda: sys.executable)
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_read_bytes: int = DEFAULT_MAX_READ_BYTES
    # The cargo's size limit (Bay sets it from the cargo); None: no limit.
    workspace_limit_bytes: int | None = None
    # The browser closes after this long without a browser call (it starts on the next).
    browser_idle_seconds: float = DEFAULT_BROWSER_IDLE_SECONDS
    # Background processes: each one's output kept in memory (a ring, oldest dropped) and
    # in its log file (which stops at its cap); how many may run at once; how many ended
    # ones are still listed (the oldest forgotten). Each holds its ring until forgotten.
    # How many log files stay in .bay/processes (the oldest deleted at a start, never a
    # listed process's); the default is above running + ended, so a log outlives its
    # process's listing for a while.
    process_ring_bytes: int = DEFAULT_PROCESS_RING_BYTES
    process_log_bytes: int = DEFAULT_PROCESS_LOG_BYTES
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_ended_processes: int = DEFAULT_MAX_ENDED_PROCESSES
    max_process_logs: int = DEFAULT_MAX_PROCESS_LOGS
    # A warm-pool member stops itself when no Bay claims or checks it for this long
    # (orphan_watch.py); None for every other sandbox.
    orphan_after_seconds: float | None = None
    # Folders of skills beyond Ship's own, copied into /workspace/skills (skills.py).
    skill_dirs: tuple[Path, ...] = ()
    # A cargo's files helper (Bay's managers/cargo_helpers.py), not a sandbox: it leaves
    # the sandbox's environment file as it is (a sandbox on the cargo may be using it),
    # and starts no kernel until a run asks for one (none does).
    cargo_helper: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ShipSettings:
        """Build settings from `SHIP_*` variables; SHIP_TOKEN is required."""
        token = env.get("SHIP_TOKEN", "")
        if len(token) < 16:
            raise SettingsError(
                "SHIP_TOKEN must be set to a secret of at least 16 characters: "
                "every endpoint but /health requires it as a bearer token"
            )
        try:
            return cls(
                token=token,
                workspace=Path(env.get("SHIP_WORKSPACE", "/workspace")),
                host=env.get("SHIP_HOST", "0.0.0.0"),
                port=int(env.get("SHIP_PORT", DEFAULT_PORT)),
                user=env.get("SHIP_USER", "shipyard"),
                kernel_python=env.get("SHIP_KERNEL_PYTHON", sys.executable),
                max_output_bytes=int(env.get("SHIP_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES)),
                max_read_bytes=int(env.get("SHIP_MAX_READ_BYTES", DEFAULT_MAX_READ_BYTES)),
                browser_idle_seconds=float(
                    env.get("SHIP_BROWSER_IDLE_SECONDS", DEFAULT_BROWSER_IDLE_SECONDS)
                ),
                process_ring_bytes=int(
                    env.get("SHIP_PROCESS_RING_BYTES", DEFAULT_PROCESS_RING_BYTES)
                ),
                process_log_bytes=int(env.get("SHIP_PROCESS_LOG_BYTES", DEFAULT_PROCESS_LOG_BYTES)),
                max_processes=int(env.get("SHIP_MAX_PROCESSES", DEFAULT_MAX_PROCESSES)),
                max_ended_processes=int(
                    env.get("SHIP_MAX_ENDED_PROCESSES", DEFAULT_MAX_ENDED_PROCESSES)
                ),
                max_process_logs=int(env.get("SHIP_MAX_PROCESS_LOGS", DEFAULT_MAX_PROCESS_LOGS)),
                cargo_helper=env.get("SHIP_CARGO_HELPER", "") == "1",
                workspace_limit_bytes=(
                    int(env["SHIP_WORKSPACE_LIMIT_BYTES"])
                    if env.get("SHIP_WORKSPACE_LIMIT_BYTES")
                    else None
                ),
                skill_dirs=tuple(
                    Path(folder) for folder in env.get("SHIP_SKILL_DIRS", "").split(":") if folder
                ),
                orphan_after_seconds=(
                    float(env["SHIP_ORPHAN_AFTER_SECONDS"])
                    if env.get("SHIP_ORPHAN_AFTER_SECONDS")
                    else None
                ),
            )
        except ValueError as exc:
            raise SettingsError(f"invalid Ship setting: {exc}") from exc
