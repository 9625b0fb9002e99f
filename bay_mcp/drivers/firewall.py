"""Host firewall rules for the sandbox networks (Docker driver, Linux, root only).

Docker isolates containers from each other (inter-container traffic is off on our
networks) but not from the host: a sandbox could open connections to any port the
host listens on (Bay's own, a Docker TCP API, ssh) and, on a cloud VM, to the
metadata service. Two iptables rules per sandbox bridge close that:
  INPUT:       new connections from the bridge to the host are dropped
               (replies to Bay's own requests to Ship are established, not new);
  DOCKER-USER: forwarded traffic from the bridge to 169.254.169.254 is dropped.
Without root or iptables the rules cannot be set: Bay says so once in its log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

log = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.169.254"


def rules_for(bridge: str) -> list[tuple[str, list[str]]]:
    return [
        ("INPUT", ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"]),
        ("DOCKER-USER", ["-i", bridge, "-d", METADATA_ADDRESS, "-j", "DROP"]),
    ]


async def _iptables(*args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        "iptables", "-w", "5", *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode not in (0, 1):
        log.warning("iptables %s: %s", " ".join(args), err.decode(errors="replace").strip())
    return proc.returncode or 0


async def close_bridge(bridge: str) -> bool:
    """Put the rules in place for `bridge` (idempotent); False if they cannot be set."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        log.warning(
            "not root or no iptables: sandboxes on %s can reach the host's open ports and "
            "%s; see the README's security section for the rules to add",
            bridge,
            METADATA_ADDRESS,
        )
        return False
    for chain, rule in rules_for(bridge):
        if await _iptables("-C", chain, *rule) != 0:  # not there yet
            await _iptables("-I", chain, "1", *rule)
    return True
