"""deploy/compose.yaml read as YAML: Bay's service is wired as its image needs (the
engine's socket, the network its sandboxes join, the data volume, the key and the
database from the environment), and sandboxes cannot reach PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# PyYAML comes with pydantic-settings[yaml]; its stubs are no dependency of ours.
import yaml  # type: ignore[import-untyped]

from bay_mcp.managers.image_build import BAY_TAG, project_root

COMPOSE = project_root() / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_bay_uses_the_engine_a_data_volume_and_a_key_from_the_environment(
    compose: dict[str, Any],
) -> None:
    bay = compose["services"]["bay"]
    assert bay["image"] == BAY_TAG
    assert (Path(COMPOSE.parent) / bay["build"]["context"] / bay["build"]["dockerfile"]).is_file()
    assert "/var/run/docker.sock:/var/run/docker.sock" in bay["volumes"]
    [data] = [volume for volume in bay["volumes"] if volume.endswith(":/data")]
    assert data.split(":")[0] in compose["volumes"]
    assert bay["environment"]["BAY_API_KEY"].startswith("${BAY_API_KEY:?")
    assert [group.split(":")[0] for group in bay["group_add"]] == ["${DOCKER_GID"]
    assert all(port.startswith("127.0.0.1:") for port in bay["ports"])


def test_bay_and_its_sandboxes_share_a_network_named_as_bay_is_told(
    compose: dict[str, Any],
) -> None:
    bay = compose["services"]["bay"]
    network = bay["environment"]["BAY_DOCKER_NETWORK"]
    [key] = [
        key for key, spec in compose["networks"].items() if (spec or {}).get("name") == network
    ]
    assert key in bay["networks"]
    assert key not in compose["services"]["postgres"]["networks"]


def test_bay_keeps_its_metadata_in_postgresql_once_it_is_healthy(compose: dict[str, Any]) -> None:
    bay = compose["services"]["bay"]
    url = bay["environment"]["BAY_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://bay:")
    assert url.endswith("@postgres:5432/bay")
    assert bay["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:17"
    [network] = postgres["networks"]
    assert compose["networks"][network]["internal"] is True
    assert network in bay["networks"]
