"""The Docker driver, over the engine's API with aiodocker."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.volumes import DockerVolume

from bay_mcp.drivers import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    DriverError,
    EngineUnavailable,
    ImageMissing,
    VolumeCopy,
)
from bay_mcp.drivers import docker_egress as egress
from bay_mcp.drivers.docker_copy import copy_config
from bay_mcp.drivers.docker_stats import UsageSample, usage_sample
from bay_mcp.drivers.firewall import close_bridge
from bay_mcp.drivers.undo import created_or_undone
from bay_mcp.environment import CA_VARIABLES
from bay_mcp.errors import Timeout

log = logging.getLogger(__name__)

# The CFS period of a sandbox's CPU quota (the longest the kernel allows), in µs.
CPU_PERIOD_US = 1_000_000

CA_PATH = "/etc/ssl/certs/bay-extra-ca.pem"
# Where a profile's skill folders are mounted, one below the other (ship/skills.py).
SKILLS_MOUNT = "/opt/bay/skills"
# Networks Bay makes for sandboxes, one per network policy; shared by every Bay
# instance on the engine (they hold no state). Inter-container traffic is off on both.
SANDBOX_NETWORKS = {"bridge": "bay-sandboxes", "none": "bay-sandboxes-internal"}
BRIDGES = {"bay-sandboxes": "bay-br0", "bay-sandboxes-internal": "bay-br1"}
_STATES: dict[str, ContainerState] = {
    "running": "running",
    "created": "starting",
    "restarting": "starting",
    "paused": "paused",
    "exited": "exited",
    "dead": "exited",
    "removing": "exited",
}


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn "the engine does not answer" into a clear, retryable error."""
    try:
        yield
    except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
        raise _unavailable(exc) from exc
    except (DockerError, DriverError) as exc:
        # aiodocker reports a failed connection as DockerError 900.
        cause = exc if isinstance(exc, DockerError) else exc.__cause__
        if isinstance(cause, DockerError) and cause.status == 900:
            raise _unavailable(cause) from cause
        raise


def _unavailable(exc: BaseException) -> EngineUnavailable:
    return EngineUnavailable(
        f"the Docker engine does not answer ({exc}); calls work again once it is back",
        {"retry_after_ms": 2000},
    )


def _parse_time(raw: object) -> datetime | None:
    """Docker's timestamps: RFC 3339 with nanoseconds (containers) or an offset (volumes)."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.replace("Z", "+00:00")
    main, _, rest = text.partition(".")
    if rest:  # keep microseconds; drop the extra digits before the offset
        digits = "".join(ch for ch in rest if ch.isdigit())
        offset = rest[len(digits) :]
        text = f"{main}.{digits[:6]}{offset}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _label_filter(labels: dict[str, str]) -> str:
    return json.dumps({"label": [f"{key}={value}" for key, value in labels.items()]})


class DockerDriver:
    """Ship containers reached on a port published on 127.0.0.1 (Bay on the host), or,
    with `network` set, by container IP on that Docker network (Bay in a container)."""

    shares_volumes = True
    can_pause = True

    def __init__(
        self,
        docker_host: str | None = None,
        network: str | None = None,
        egress_pool: str = "10.213.0.0/16",
    ) -> None:
        self._docker = aiodocker.Docker(url=docker_host)
        self._network = network
        self._egress_pool = egress_pool
        self._networks_ready: set[str] = set()

    async def close(self) -> None:
        await self._docker.close()

    async def ping(self) -> str:
        """The engine's version; raises DriverError when no engine answers."""
        with _reachable():
            try:
                version = await self._docker.version()
            except (DockerError, OSError) as exc:
                raise DriverError(f"no Docker engine answers: {exc}") from exc
            return str(version.get("Version", "unknown"))

    async def image_id(self, image: str) -> str | None:
        with _reachable():
            try:
                found = await self._docker.images.inspect(image)
            except DockerError as exc:
                if exc.status == 404:
                    return None
                raise DriverError(f"inspecting image {image}: {exc.message}") from exc
            return str(found["Id"])

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with _reachable():
            try:
                await self._docker.volumes.create({"Name": name, "Labels": labels})
            except DockerError as exc:
                raise DriverError(f"creating volume {name}: {exc.message}") from exc

    async def remove_volume(self, name: str) -> None:
        with _reachable():
            try:
                volume = DockerVolume(self._docker, name)
                await volume.delete()
            except DockerError as exc:
                if exc.status != 404:
                    raise DriverError(f"removing volume {name}: {exc.message}") from exc

    async def list_volumes(self, labels: dict[str, str]) -> list[str]:
        with _reachable():
            found = await self._docker.volumes.list(
                filters={"label": [f"{key}={value}" for key, value in labels.items()]}
            )
            return [volume["Name"] for volume in found.get("Volumes") or []]

    async def volume_created_at(self, name: str) -> datetime | None:
        with _reachable():
            try:
                data = await DockerVolume(self._docker, name).show()
            except DockerError as exc:
                if exc.status == 404:
                    return None
                raise DriverError(f"inspecting volume {name}: {exc.message}") from exc
            return _parse_time(data.get("CreatedAt"))

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
        config = copy_config(source, target, image=image, labels=labels, replace=replace)
        name = f"bay-copy-{secrets.token_hex(6)}"
        started = time.monotonic()
        with _reachable():
            try:
                container = await self._docker.containers.create(config, name=name)
            except DockerError as exc:
                if exc.status == 404 and "image" in exc.message.lower():
                    raise ImageMissing(
                        f"the image {image} (which copies volumes) is missing: build it "
                        "with `bay-mcp image build --offline`"
                    ) from exc
                raise DriverError(f"creating the copy helper: {exc.message}") from exc
            try:
                await container.start()
                try:
                    async with asyncio.timeout(timeout):
                        status = await container.wait(timeout=timeout + 30)
                except TimeoutError as exc:
                    raise Timeout(
                        f"copying volume {source} to {target} took more than {timeout:g} s "
                        "and was stopped"
                    ) from exc
                out = "".join(await container.log(stdout=True)).strip()
                if status.get("StatusCode") != 0:
                    err = "".join(await container.log(stderr=True)).strip()
                    raise DriverError(
                        f"copying volume {source} to {target} failed "
                        f"(exit {status.get('StatusCode')}): {err[-500:] or out[-500:]}"
                    )
            except DockerError as exc:
                raise DriverError(f"copying volume {source} to {target}: {exc.message}") from exc
            finally:
                await asyncio.shield(self.remove_container(container.id))
        lines = out.splitlines()
        size = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        return VolumeCopy(size_bytes=size, seconds=time.monotonic() - started)

    def _config(self, spec: ContainerSpec) -> dict[str, Any]:
        port = f"{spec.port}/tcp"
        host_config: dict[str, Any] = {
            "Mounts": [{"Type": "volume", "Source": spec.volume, "Target": spec.mount_path}],
            # The profile's CPUs as a quota over one-second periods, not Docker's 100 ms
            # (--cpus): the same average, but a start's two boots (Ship's server and
            # its kernel, ~0.45 CPU-s together) run side by side on two cores instead of
            # taking turns on one: a cold first run ~170 ms sooner (bench/ship_start.py
            # --limits). A process at its cap is held back in longer, rarer pauses.
            "CpuPeriod": CPU_PERIOD_US,
            "CpuQuota": round(spec.cpus * CPU_PERIOD_US),
            "Memory": spec.memory_mb * 1024 * 1024,
            "MemorySwap": spec.memory_mb * 1024 * 1024,
            "PidsLimit": spec.pids_limit,
            "SecurityOpt": ["no-new-privileges:true"],  # Docker's default seccomp stays on
            # Ship needs these three to hand /workspace to the sandbox user and become
            # that user; user code then runs with no capability at all.
            "CapDrop": ["ALL"],
            "CapAdd": ["CHOWN", "SETUID", "SETGID"],
            "ReadonlyRootfs": spec.read_only_root,
            # HOME is /workspace; the kernel's runtime files and every cache (pip, uv,
            # npm, IPython, matplotlib) go here, never to the cargo.
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=1g,mode=1777"},
            "Init": False,  # the image's own tini is PID 1
            # `ship` names the sandbox itself, as in upstream's multi-container layout:
            # its browser reaches a server the sandbox runs at http://ship:PORT too.
            "ExtraHosts": ["ship:127.0.0.1"],
        }
        if spec.runtime:
            host_config["Runtime"] = spec.runtime
        env = dict(spec.env)
        if spec.skill_dirs:
            # A profile's skills: read-only, for Ship to copy into /workspace/skills.
            targets = [f"{SKILLS_MOUNT}/{n}" for n in range(len(spec.skill_dirs))]
            host_config["Mounts"] += [
                {"Type": "bind", "Source": source, "Target": target, "ReadOnly": True}
                for source, target in zip(spec.skill_dirs, targets, strict=True)
            ]
            env["SHIP_SKILL_DIRS"] = ":".join(targets)
        if spec.ca_bundle:
            # The one host path a profile may opt into: a CA file, read-only. A proxied
            # sandbox's bundle (its env, written by Ship: ship/trust.py) includes it.
            host_config["Mounts"].append(
                {"Type": "bind", "Source": spec.ca_bundle, "Target": CA_PATH, "ReadOnly": True}
            )
            env.update({key: CA_PATH for key in CA_VARIABLES if key not in env})
        if self._network is not None:
            host_config["NetworkMode"] = self._network
        elif spec.network == "egress":
            # Its own internal network, shared with the proxy only (docker_egress.py);
            # the proxy variables and the CA bundle come in `spec.env`.
            host_config["NetworkMode"] = egress.session_network_name(spec.name)
        elif spec.network == "none":
            # No route out, and no port to publish on an internal network: Bay (on
            # the host) reaches Ship by the container's address.
            host_config["NetworkMode"] = SANDBOX_NETWORKS["none"]
        else:
            host_config["NetworkMode"] = SANDBOX_NETWORKS["bridge"]
            # Never 0.0.0.0: a published port on every interface is an open door.
            host_config["PortBindings"] = {port: [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        return {
            "Image": spec.image,
            "Env": [f"{key}={value}" for key, value in env.items()],
            "Labels": spec.labels,
            "ExposedPorts": {port: {}},
            "HostConfig": host_config,
        }

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        if self._network is not None and spec.network != "bridge":
            # Every container joins BAY_DOCKER_NETWORK, where Bay reaches it: a sandbox
            # meant to have no network would silently get one. Refuse instead.
            raise DriverError(
                f"a sandbox whose egress is not open cannot run while Bay reaches sandboxes "
                f"on the network {self._network!r} (BAY_DOCKER_NETWORK): its sandboxes "
                "would have that network. Use a profile with network 'bridge', or run "
                "Bay on the host (BAY_DOCKER_NETWORK unset)"
            )
        with _reachable():
            if spec.network == "egress":
                if spec.egress_proxy is None:
                    raise DriverError(f"container {spec.name}: egress without a proxy")
                await egress.create_session_network(
                    self._docker, spec.name, self._egress_pool, spec.egress_proxy
                )
            elif self._network is None:
                await self._ensure_network(SANDBOX_NETWORKS[spec.network])
            try:
                container = await created_or_undone(
                    self._docker.containers.create(self._config(spec), name=spec.name),
                    lambda made: self.remove_container(made.id),
                    f"container {spec.name}",
                )
            except DockerError as exc:
                await self._remove_session_networks([egress.session_network_name(spec.name)])
                if exc.status == 404 and "image" in exc.message.lower():
                    raise ImageMissing(
                        f"the image {spec.image} is missing: build it with "
                        "`bay-mcp image build --offline` (or `bay-mcp image build` with a registry)"
                    ) from exc
                raise DriverError(f"creating container {spec.name}: {exc.message}") from exc
            try:
                await container.start()
                return await self.inspect(container.id)
            except BaseException:
                await self.remove_container(container.id)
                raise

    def _info(self, data: dict[str, Any]) -> ContainerInfo:
        state = data.get("State") or {}
        config = data.get("Config") or {}
        status: ContainerState = _STATES.get(str(state.get("Status")), "exited")
        return ContainerInfo(
            id=data["Id"],
            name=str(data.get("Name", "")).lstrip("/"),
            state=status,
            labels=config.get("Labels") or {},
            endpoint=self._endpoint(data) if status in ("running", "paused") else None,
            exit_code=state.get("ExitCode") if status == "exited" else None,
            created_at=_parse_time(data.get("Created")),
            image_id=data.get("Image"),
            address=self._address(data) if status in ("running", "paused") else None,
        )

    def _address(self, data: dict[str, Any]) -> str | None:
        """The container's IP on its network: Bay's network, or the sandbox network it
        joined (the host routes to both bridges; the firewall drops only connections
        the other way)."""
        networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
        names = [self._network] if self._network is not None else list(SANDBOX_NETWORKS.values())
        names += [name for name in networks if egress.is_session_network(name)]
        for name in names:
            address = (networks.get(name) or {}).get("IPAddress")
            if address:
                return str(address)
        return None

    def _endpoint(self, data: dict[str, Any]) -> str | None:
        settings = data.get("NetworkSettings") or {}
        networks = settings.get("Networks") or {}
        if self._network is not None:
            address = (networks.get(self._network) or {}).get("IPAddress")
            return f"http://{address}:8123" if address else None
        bindings = (settings.get("Ports") or {}).get("8123/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                return f"http://127.0.0.1:{binding['HostPort']}"
        # No published port (a `none` or `egress` sandbox): its address on its network.
        address = self._address(data)
        return f"http://{address}:8123" if address else None

    async def _ensure_network(self, name: str) -> None:
        """Create one of the sandbox networks the first time it is needed."""
        if name in self._networks_ready:
            return
        try:
            network = await self._docker.networks.get(name)
        except DockerError as exc:
            if exc.status != 404:
                raise DriverError(f"inspecting network {name}: {exc.message}") from exc
            config: dict[str, Any] = {
                "Name": name,
                "Driver": "bridge",
                "Internal": name == SANDBOX_NETWORKS["none"],
                # Sandboxes never talk to each other, only through Bay.
                "Options": {
                    "com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.name": BRIDGES[name],
                },
                "Labels": {"bay.managed": "true"},
            }
            try:
                network = await self._docker.networks.create(config)
            except DockerError as create_error:
                if create_error.status != 409:  # made by a concurrent start
                    raise DriverError(
                        f"creating network {name}: {create_error.message}"
                    ) from create_error
                network = await self._docker.networks.get(name)
        details = await network.show()
        options = details.get("Options") or {}
        bridge = options.get("com.docker.network.bridge.name") or f"br-{details['Id'][:12]}"
        await close_bridge(bridge)
        self._networks_ready.add(name)

    async def inspect(self, container_id: str) -> ContainerInfo:
        with _reachable():
            try:
                container = await self._docker.containers.get(container_id)
            except DockerError as exc:
                if exc.status == 404:
                    return ContainerInfo(id=container_id, name="", state="missing")
                raise DriverError(f"inspecting container {container_id}: {exc.message}") from exc
            return self._info(container._container)

    async def remove_container(self, container_id: str) -> None:
        with _reachable():
            networks: list[str] = []
            try:
                container = await self._docker.containers.get(container_id)
                joined = (container._container.get("NetworkSettings") or {}).get("Networks")
                networks = [name for name in joined or {} if egress.is_session_network(name)]
                if (container._container.get("State") or {}).get("Paused"):
                    await container.unpause()  # the engine kills no frozen process
                await container.delete(force=True)
            except DockerError as exc:
                if exc.status not in (404, 409):  # gone, or its removal already under way
                    raise DriverError(f"removing container {container_id}: {exc.message}") from exc
            await self._remove_session_networks(networks)

    async def pause_container(self, container_id: str) -> None:
        with _reachable():
            try:
                await self._docker.containers.container(container_id).pause()
            except DockerError as exc:
                if "already paused" not in exc.message:
                    raise DriverError(f"pausing container {container_id}: {exc.message}") from exc

    async def unpause_container(self, container_id: str) -> None:
        with _reachable():
            try:
                await self._docker.containers.container(container_id).unpause()
            except DockerError as exc:
                if "not paused" not in exc.message:
                    raise DriverError(f"thawing container {container_id}: {exc.message}") from exc

    async def _remove_session_networks(self, names: list[str]) -> None:
        for name in names:
            try:
                await egress.remove_session_network(self._docker, name)
            except DriverError as exc:  # the reaper's sweep takes it later
                log.warning("%s", exc)

    async def ensure_egress_proxy(self, spec: egress.ProxySpec) -> str:
        """Start the egress proxy unless it runs; its control API's URL."""
        with _reachable():
            return await egress.ensure_proxy(self._docker, spec)

    async def usage(self, container_id: str) -> UsageSample | None:
        """CPU and memory now (`UsageReader`); None when the container is not running."""
        with _reachable():
            return await usage_sample(self._docker, container_id)

    async def logs(self, container_id: str, tail: int = 50) -> str:
        with _reachable():
            try:
                container = self._docker.containers.container(container_id)
                lines = await container.log(stdout=True, stderr=True, tail=tail)
            except DockerError as exc:
                return f"(no logs: {exc.message})"
            return "".join(lines)

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        with _reachable():
            found = await self._docker.containers.list(all=True, filters=_label_filter(labels))
            infos = []
            for container in found:
                infos.append(await self.inspect(container.id))
            return [info for info in infos if info.state != "missing"]
