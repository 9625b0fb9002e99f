"""A container's reading from the engine's one-shot stats, and CPU between two readings."""

from __future__ import annotations

import copy
from typing import Any, cast

import aiodocker
import pytest
from aiodocker.exceptions import DockerError

from bay_mcp.drivers.docker_stats import UsageSample, _sample, usage_sample

# `GET /containers/{id}/stats?stream=0&one-shot=1` of a running container (Docker 27,
# cgroup v2), trimmed of the network and block I/O parts Bay does not read.
RUNNING: dict[str, Any] = {
    "read": "2026-12-05T12:00:00.123456789Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {"current": 12, "limit": 256},
    "num_procs": 0,
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 1_834_117_000,
            "usage_in_kernelmode": 402_130_000,
            "usage_in_usermode": 1_431_987_000,
        },
        "system_cpu_usage": 98_765_430_000_000,
        "online_cpus": 4,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 157_286_400,
        "stats": {"anon": 94_371_840, "file": 52_428_800, "inactive_file": 41_943_040},
        "limit": 1_073_741_824,
    },
    "name": "/bay-sandbox-sb-1",
    "id": "3f1c0a9e2b7d",
}

# The same call on a stopped container: zeros, and no memory at all.
STOPPED: dict[str, Any] = {
    "read": "0001-01-01T00:00:00Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {},
    "blkio_stats": {"io_service_bytes_recursive": None},
    "num_procs": 0,
    "storage_stats": {},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {},
    "name": "/bay-sandbox-sb-1",
    "id": "3f1c0a9e2b7d",
}


def sample(cpu_ns: int, system_ns: int, online_cpus: int = 4) -> UsageSample:
    return UsageSample(
        taken_at=0.0,
        cpu_ns=cpu_ns,
        system_ns=system_ns,
        online_cpus=online_cpus,
        memory_bytes=0,
        memory_limit_bytes=None,
    )


def test_a_running_containers_stats_are_read_as_docker_stats_shows_them() -> None:
    reading = _sample(RUNNING)
    assert reading is not None
    assert reading.cpu_ns == 1_834_117_000
    assert reading.system_ns == 98_765_430_000_000
    assert reading.online_cpus == 4
    # The working set: usage less the inactive file cache.
    assert reading.memory_bytes == 157_286_400 - 41_943_040
    assert reading.memory_limit_bytes == 1_073_741_824


def test_a_stopped_containers_zeros_are_no_reading() -> None:
    assert _sample(STOPPED) is None
    assert _sample({}) is None


def test_missing_parts_fall_back_to_what_can_be_said() -> None:
    bare = copy.deepcopy(RUNNING)
    del bare["cpu_stats"]["online_cpus"]
    del bare["cpu_stats"]["system_cpu_usage"]
    del bare["memory_stats"]["stats"]
    del bare["memory_stats"]["limit"]
    reading = _sample(bare)
    assert reading is not None
    assert (reading.online_cpus, reading.system_ns) == (1, 0)
    assert reading.memory_bytes == 157_286_400
    assert reading.memory_limit_bytes is None
    # A cache larger than the usage (counters read apart) is no negative memory.
    bare["memory_stats"]["stats"] = {"inactive_file": 200_000_000}
    over = _sample(bare)
    assert over is not None
    assert over.memory_bytes == 0


def test_cpu_is_the_share_of_one_core_between_two_readings() -> None:
    before = sample(cpu_ns=1_000, system_ns=100_000)
    # 2,000 ns of the container's CPU over 8,000 ns of the host's 4 cores: one core.
    assert sample(cpu_ns=3_000, system_ns=108_000).cpu_percent_since(before) == 100.0
    assert sample(cpu_ns=1_000, system_ns=108_000).cpu_percent_since(before) == 0.0
    assert sample(3_000, 104_000, online_cpus=1).cpu_percent_since(before) == 50.0


def test_cpu_is_unknown_when_the_counters_did_not_move_forward() -> None:
    before = sample(cpu_ns=1_000, system_ns=100_000)
    assert sample(cpu_ns=2_000, system_ns=100_000).cpu_percent_since(before) is None
    assert sample(cpu_ns=2_000, system_ns=90_000).cpu_percent_since(before) is None
    # A restarted container's counter starts again from zero.
    assert sample(cpu_ns=500, system_ns=200_000).cpu_percent_since(before) is None


class FakeEngine:
    def __init__(self, answer: object = None, error: DockerError | None = None) -> None:
        self.answer = answer
        self.error = error
        self.asked: list[tuple[str, dict[str, str], bool]] = []

    async def _query_json(self, path: str, *, params: dict[str, str], versioned_api: bool) -> Any:
        self.asked.append((path, params, versioned_api))
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.mark.parametrize(
    ("engine", "found"),
    [
        (FakeEngine(RUNNING), True),
        (FakeEngine(STOPPED), False),
        (FakeEngine("not a dict"), False),
        (FakeEngine(error=DockerError(404, "No such container: c1")), False),
    ],
)
async def test_a_reading_is_asked_once_and_none_when_the_container_is_not_there(
    engine: FakeEngine, found: bool
) -> None:
    reading = await usage_sample(cast(aiodocker.Docker, engine), "c1")
    assert (reading is not None) is found
    assert engine.asked == [("containers/c1/stats", {"stream": "0", "one-shot": "1"}, False)]
