"""The Docker driver's volume copy helper: a short-lived container that copies one
volume into another as root, with only the capabilities a faithful copy needs."""

from __future__ import annotations

from typing import Any

# The helper's script: $1 is "replace" to empty the target first. `cp -a` keeps owners,
# modes, times and links; `du -sb` prints the bytes the target then holds.
_COPY_SCRIPT = """set -eu
if [ "$1" = replace ]; then find /to -mindepth 1 -delete; fi
cp -a /from/. /to/
du -sb /to | cut -f1
"""
# What the copy needs as root and nothing more: to give files their owners (CHOWN),
# read and replace files of any owner and mode (DAC_OVERRIDE, FOWNER), keep set-id
# bits (FSETID).
_COPY_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"]


def copy_config(
    source: str, target: str, *, image: str, labels: dict[str, str], replace: bool
) -> dict[str, Any]:
    return {
        "Image": image,
        "User": "0:0",
        "Entrypoint": ["/bin/sh", "-c", _COPY_SCRIPT, "copy"],
        "Cmd": ["replace" if replace else "add"],
        "Labels": labels,
        "NetworkDisabled": True,
        "HostConfig": {
            "Mounts": [
                {"Type": "volume", "Source": source, "Target": "/from", "ReadOnly": True},
                {"Type": "volume", "Source": target, "Target": "/to"},
            ],
            "NetworkMode": "none",
            "CapDrop": ["ALL"],
            "CapAdd": _COPY_CAPABILITIES,
            "SecurityOpt": ["no-new-privileges:true"],
            "ReadonlyRootfs": True,
            "Memory": 256 * 1024 * 1024,
            "PidsLimit": 64,
        },
    }
