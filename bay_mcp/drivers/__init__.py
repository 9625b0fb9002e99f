"""Drivers run sessions' containers and hold cargo volumes. They hold no business rules.

A driver is anything with the methods of `Driver`. What a second one (Kubernetes, a
process sandbox) needs, besides these methods:

- an endpoint per container that Bay can reach (`ContainerInfo.endpoint`), where Ship
  answers with the session's token, and an address where Bay reaches any other port
  of it (`ContainerInfo.address`: exposed ports);
- volumes that outlive containers, addressed by the name Bay gives (`bay-cargo-<id>`,
  `bay-snapshot-<id>`), mounted at `ContainerSpec.mount_path`, and labels it can list
  by; and a way to copy one volume's files into another (`copy_volume`);
- an image source: `image_id` says which image the profile's tag names, if any (a pool
  member started from another is replaced). Building
  the image is not a driver's job: `managers/image_build` builds it for Docker (the
  `ImageProvider` calls it when `BAY_AUTO_BUILD_IMAGE` is on); another driver pulls
  it from a registry, with auto-build off;
- errors as `DriverError` (the engine refused or failed) and `EngineUnavailable` (no
  answer: retryable), never the engine client's own exceptions.

The services and surfaces need no change; the composition root (`bay.py`) picks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from bay_mcp.drivers.docker_stats import UsageSample
from bay_mcp.errors import DriverError, SessionNotReady

__all__ = [
    "ContainerInfo",
    "ContainerSpec",
    "Driver",
    "DriverError",
    "EngineUnavailable",
    "VolumeCopy",
]

# paused: frozen by Bay (the cgroup freezer): memory kept, no CPU, no answer until thawed.
ContainerState = Literal["running", "starting", "paused", "exited", "missing"]


@dataclass(frozen=True)
class ContainerSpec:
    """What to run: the service layer fills it from the profile and the session."""

    name: str
    image: str
    volume: str
    env: dict[str, str]
    labels: dict[str, str]
    cpus: float
    memory_mb: int
    pids_limit: int
    # bridge: out to everywhere; none: nowhere; egress: only through the egress proxy
    # (ship/egress), on a network of the session's own that the proxy joins.
    network: Literal["bridge", "none", "egress"] = "bridge"
    # The egress proxy's container, which a session of network "egress" reaches.
    egress_proxy: str | None = None
    mount_path: str = "/workspace"
    port: int = 8123
    read_only_root: bool = True
    runtime: str | None = None
    ca_bundle: str | None = None
    # Host folders of skills, mounted read-only for Ship to copy (ship/skills.py).
    skill_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    state: ContainerState
    labels: dict[str, str] = field(default_factory=dict)
    # Where Ship answers (http://host:port), once the container runs.
    endpoint: str | None = None
    exit_code: int | None = None
    created_at: datetime | None = None
    # The id of the image it runs (not the tag: a tag moves when the image is rebuilt).
    image_id: str | None = None
    # The container's own address, where Bay reaches the servers user code starts in it
    # (exposed ports), once it runs.
    address: str | None = None


@dataclass(frozen=True)
class VolumeCopy:
    """What a volume copy did: the bytes now in the target, and how long it took."""

    size_bytes: int
    seconds: float


class EngineUnavailable(SessionNotReady):
    """No answer from the engine: retryable, it may come back by itself."""


class ImageMissing(DriverError):
    pass


class Driver(Protocol):
    # Whether a second container may mount a volume beside the one using it, anywhere
    # (the cargo's files helper, managers/cargo_helpers.py): Docker volumes may;
    # Kubernetes' ReadWriteOnce claims may not across nodes.
    shares_volumes: bool

    async def ping(self) -> str:
        """The engine's version; DriverError when it does not answer."""
        ...

    async def image_id(self, image: str) -> str | None:
        """The id of the image `image` names; None when there is none."""
        ...

    async def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    async def remove_volume(self, name: str) -> None:
        """Remove the volume; no error if it is already gone."""
        ...

    async def list_volumes(self, labels: dict[str, str]) -> list[str]: ...

    async def volume_created_at(self, name: str) -> datetime | None:
        """When the volume was made; None if it does not exist or the engine won't say."""
        ...

    async def copy_volume(
        self,
        source: str,
        target: str,
        *,
        image: str,
        labels: dict[str, str],
        replace: bool = False,
        timeout: float,
    ) -> VolumeCopy:
        """Copy every file of volume `source` into volume `target` (emptied first when
        `replace`), owners, modes, times and links kept, by a short-lived helper (made
        from `image`, labelled `labels`, no network) that is gone afterwards. DriverError
        when the copy fails (the target may hold part of it); Timeout after `timeout`."""
        ...

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start the container; on failure nothing is left behind."""
        ...

    async def inspect(self, container_id: str) -> ContainerInfo:
        """The container's state; `missing` when it no longer exists."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Kill and remove; no error if it is already gone."""
        ...

    # Whether pause_container and unpause_container work here (Docker: the engine's
    # pause, the cgroup freezer; Kubernetes has no such thing for a Pod).
    can_pause: bool

    async def pause_container(self, container_id: str) -> None:
        """Freeze every process of the container, its memory kept."""
        ...

    async def unpause_container(self, container_id: str) -> None:
        """Thaw it; no error if it is not paused."""
        ...

    async def logs(self, container_id: str, tail: int = 50) -> str: ...

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]: ...

    async def close(self) -> None: ...


@runtime_checkable
class UsageReader(Protocol):
    """A driver that can tell a container's CPU and memory now (Docker; Kubernetes
    would need the metrics server, which Bay does not assume)."""

    async def usage(self, container_id: str) -> UsageSample | None: ...
