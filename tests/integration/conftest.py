"""Integration tests need a real Docker engine and both Ship images (ship:latest and
the browser image ship-browser:latest).

Without them every test here fails with a message saying what to run; nothing is
skipped. `scripts/test` starts the engine and builds the images first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bay_mcp.limits import BROWSER_IMAGE, DEFAULT_IMAGE
from bay_mcp.managers.images import build_command
from tests.databases import drop_server_databases, query, server_database_url

IMAGE = DEFAULT_IMAGE
TEST_LABEL = "bay.test=integration"


def docker(
    *args: str, check: bool = True, timeout: float = 120, input_text: str | None = None
) -> str:
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_text,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


class BayResources:
    """What one Bay instance made in Docker, found by its `bay.instance_id` label."""

    instance_id: str
    data_dir: Path

    def pool_members(self) -> set[str]:
        """Ids of the warm pool's live members: kept running on purpose, and still
        labelled as the pool's once claimed (Docker cannot relabel), so asked of Bay's
        database."""
        rows = query(
            server_database_url(self.data_dir),
            "SELECT id FROM sandboxes WHERE owner = 'bay:pool' AND deleted_at IS NULL",
        )
        return {row[0] for row in rows}

    def leftovers(self) -> list[str]:
        """Containers and volumes of this instance, but for the warm pool's members."""
        members = self.pool_members()
        label = '{{.Label "bay.sandbox_id"}}'
        found = docker("ps", "-a", "--format", f"{{{{.ID}}}} {label}", *self._filters({}))
        found += "\n" + docker(
            "volume", "ls", "--format", f"{{{{.Name}}}} {label}", *self._filters({})
        )
        return [
            name
            for name, _, sandbox in (line.partition(" ") for line in found.splitlines() if line)
            if sandbox not in members
        ]

    def _filters(self, labels: dict[str, str]) -> list[str]:
        filters = ["--filter", f"label=bay.instance_id={self.instance_id}"]
        for key, value in labels.items():
            filters += ["--filter", f"label=bay.{key}={value}"]
        return filters

    def containers(self, **labels: str) -> list[str]:
        return docker("ps", "-aq", *self._filters(labels)).split()

    def volumes(self, **labels: str) -> list[str]:
        return docker("volume", "ls", "-q", *self._filters(labels)).split()

    def remove_all(self) -> None:
        # The egress proxy carries no instance label (the reaper must leave it alone).
        docker("rm", "-f", f"bay-egress-{self.instance_id}", check=False)
        if leftovers := self.containers():
            docker("rm", "-f", *leftovers, check=False)
        # Session networks whose sandbox is gone (those in use refuse to go).
        for network in docker(
            "network", "ls", "-q", "--filter", "label=bay.egress_network"
        ).split():
            docker("network", "rm", network, check=False)
        if volumes := self.volumes():
            docker("volume", "rm", "-f", *volumes, check=False)


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> Iterator[None]:
    """Fail (never skip) when Docker or an image is missing; clean up at the end."""
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            f"no Docker engine answers ({exc}). Integration tests need one: run "
            "scripts/test (it starts dockerd as root), or start Docker yourself. "
            "For unit tests only: scripts/test --unit",
            pytrace=False,
        )
    for image in (DEFAULT_IMAGE, BROWSER_IMAGE):
        try:
            docker("image", "inspect", image, timeout=20)
        except RuntimeError:
            pytest.fail(
                f"the image {image} is missing: build it with `{build_command(image)}` "
                "(or run scripts/test, which builds both images)",
                pytrace=False,
            )
    yield
    leftovers = docker("ps", "-aq", "--filter", f"label={TEST_LABEL}").split()
    if leftovers:
        docker("rm", "-f", *leftovers)
    volumes = docker("volume", "ls", "-q", "--filter", f"label={TEST_LABEL}").split()
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    drop_server_databases()
