"""The sandbox's own environment variables (the profile's and the sandbox's, named by
SHIP_USER_ENV), written to /workspace/.bay_env.sh for login shells: the upstream
convention, sourced by /etc/profile.d/ship.sh. Readable by the sandbox user only."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = ".bay_env.sh"
NAMES_VARIABLE = "SHIP_USER_ENV"


def user_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment user code sees: the container's, without Ship's own settings."""
    return {key: value for key, value in env.items() if not key.startswith("SHIP_")}


def write_env_file(workspace: Path, env: Mapping[str, str]) -> Path | None:
    """Write `export NAME=value` lines for the variables SHIP_USER_ENV names; remove a
    stale file when it names none. Returns the file written, if any."""
    names = [name for name in env.get(NAMES_VARIABLE, "").split(",") if name in env]
    target = workspace / ENV_FILE
    if not names:
        target.unlink(missing_ok=True)
        return None
    lines = [f"export {name}={shlex.quote(env[name])}\n" for name in names]
    temporary = target.with_name(f".{ENV_FILE}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# Written by Ship at each start from the sandbox's environment.\n")
        handle.writelines(lines)
    os.replace(temporary, target)
    return target
