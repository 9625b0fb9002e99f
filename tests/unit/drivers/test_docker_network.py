"""The Docker driver refuses what it cannot honour, before it touches the engine."""

from __future__ import annotations

import pytest

from bay_mcp.drivers import ContainerSpec, DriverError
from bay_mcp.drivers.docker import DockerDriver


async def test_no_network_is_refused_when_every_container_joins_bays_network() -> None:
    # The engine is never asked: a host that cannot be reached proves it.
    driver = DockerDriver("tcp://127.0.0.1:9", network="bay-service")
    spec = ContainerSpec(
        name="bay-sess-x", image="ship:latest", volume="bay-cargo-x", env={}, labels={},
        cpus=1, memory_mb=256, pids_limit=64, network="none",
    )  # fmt: skip
    try:
        with pytest.raises(DriverError) as refused:
            await driver.run_container(spec)
    finally:
        await driver.close()
    assert "BAY_DOCKER_NETWORK" in refused.value.message
    assert "bridge" in refused.value.message
