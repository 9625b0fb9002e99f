"""A container's CPU and memory now, from the engine's one-shot stats.

One-shot stats carry no previous sample, so the CPU share is computed between two of
our own readings (`UsageSample.cpu_percent_since`); memory is the working set, as
`docker stats` shows it (usage less the inactive file cache).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError


@dataclass(frozen=True)
class UsageSample:
    taken_at: float  # time.monotonic()
    cpu_ns: int  # the container's CPU time so far
    system_ns: int  # the host's CPU time so far (all cores)
    online_cpus: int
    memory_bytes: int
    memory_limit_bytes: int | None

    def cpu_percent_since(self, before: UsageSample) -> float | None:
        """CPU use between the two readings, in percent of one core (as `docker stats`)."""
        system = self.system_ns - before.system_ns
        if system <= 0 or self.cpu_ns < before.cpu_ns:
            return None
        return (self.cpu_ns - before.cpu_ns) / system * self.online_cpus * 100


def _sample(stats: dict[str, Any]) -> UsageSample | None:
    cpu = stats.get("cpu_stats") or {}
    memory = stats.get("memory_stats") or {}
    usage = (cpu.get("cpu_usage") or {}).get("total_usage")
    if usage is None or "usage" not in memory:
        return None  # a container that has stopped reports zeros and nothing else
    inactive = (memory.get("stats") or {}).get("inactive_file", 0)
    limit = memory.get("limit")
    return UsageSample(
        taken_at=time.monotonic(),
        cpu_ns=int(usage),
        system_ns=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(cpu.get("online_cpus") or 1),
        memory_bytes=max(0, int(memory["usage"]) - int(inactive)),
        memory_limit_bytes=int(limit) if limit else None,
    )


async def usage_sample(docker: aiodocker.Docker, container_id: str) -> UsageSample | None:
    """The container's reading now; None when it is gone or not running."""
    try:
        # Unversioned: the engine honours one-shot on its own API version, where the
        # version aiodocker pins makes it wait a second for a second sample.
        stats = await docker._query_json(
            f"containers/{container_id}/stats",
            params={"stream": "0", "one-shot": "1"},
            versioned_api=False,
        )
    except DockerError:
        return None
    return _sample(stats) if isinstance(stats, dict) else None
