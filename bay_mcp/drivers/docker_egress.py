"""The Docker side of egress: a network per proxied session, and the proxy's container.

A proxied sandbox joins an internal network of its own (no route out), a /28 of the
pool BAY_EGRESS__SUBNET_POOL, which the proxy joins too under the alias `bay-egress`:
the proxy is its only way out, and two sandboxes never share a network, so they cannot
reach each other (Docker's inter-container switch stays on within a network of two).
The proxy's own network, `bay-egress-outside`, is an ordinary bridge; Bay reaches its
control API on a port published on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

from bay_mcp.drivers import DriverError
from bay_mcp.drivers.firewall import close_bridge
from ship.egress.protocol import CONTROL_PORT, PROXY_HOST

log = logging.getLogger(__name__)

SESSION_NETWORK_PREFIX = "bay-egress-s-"
OUTSIDE_NETWORK = "bay-egress-outside"
OUTSIDE_BRIDGE = "bay-br2"
# Every session network's bridge is `bay-s<hash>`: one firewall rule (`bay-s+`) keeps
# them all off the host's ports.
SESSION_BRIDGE_PREFIX = "bay-s"
NETWORK_LABEL = "bay.egress_network"
PROXY_ROLE = "egress-proxy"
CONFIG_LABEL = "bay.egress_config"
SUBNET_PREFIX = 28
_CREATE_TRIES = 8


def session_network_name(container_name: str) -> str:
    return f"{SESSION_NETWORK_PREFIX}{container_name}"


def is_session_network(name: str) -> bool:
    return name.startswith(SESSION_NETWORK_PREFIX)


async def _used_subnets(docker: aiodocker.Docker) -> set[str]:
    used: set[str] = set()
    for network in await docker.networks.list():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            if subnet := config.get("Subnet"):
                used.add(str(subnet))
    return used


async def create_session_network(
    docker: aiodocker.Docker, container_name: str, pool: str, proxy: str
) -> str:
    """The session's network, with the proxy on it as `bay-egress`; its name."""
    name = session_network_name(container_name)
    blocks = list(ipaddress.ip_network(pool).subnets(new_prefix=SUBNET_PREFIX))
    bridge = f"{SESSION_BRIDGE_PREFIX}{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    for _ in range(_CREATE_TRIES):
        used = await _used_subnets(docker)
        free = [block for block in blocks if str(block) not in used]
        if not free:
            raise DriverError(
                f"no free /{SUBNET_PREFIX} left in BAY_EGRESS__SUBNET_POOL {pool}: stop some "
                "sandboxes with an egress allowlist, or give the pool a wider range"
            )
        subnet = random.choice(free)  # another Bay may be picking at the same time
        config: dict[str, Any] = {
            "Name": name,
            "Driver": "bridge",
            "Internal": True,
            "IPAM": {"Config": [{"Subnet": str(subnet)}]},
            "Options": {"com.docker.network.bridge.name": bridge},
            "Labels": {"bay.managed": "true", NETWORK_LABEL: container_name},
        }
        try:
            await docker.networks.create(config)
            break
        except DockerError as exc:
            if "overlap" in exc.message.lower():
                continue  # taken meanwhile: pick again
            if exc.status == 409:
                break  # there already (a start tried again)
            raise DriverError(f"creating network {name}: {exc.message}") from exc
    else:
        raise DriverError(f"creating network {name}: every subnet tried was taken meanwhile")
    await close_bridge(f"{SESSION_BRIDGE_PREFIX}+")
    try:
        await connect_proxy(docker, name, proxy)
    except DriverError:
        await remove_session_network(docker, name)
        raise
    return name


async def connect_proxy(docker: aiodocker.Docker, network: str, proxy: str) -> None:
    try:
        found = await docker.networks.get(network)
        await found.connect({"Container": proxy, "EndpointConfig": {"Aliases": [PROXY_HOST]}})
    except DockerError as exc:
        if "already exists" not in exc.message:
            raise DriverError(f"connecting the egress proxy to {network}: {exc.message}") from exc


async def remove_session_network(docker: aiodocker.Docker, name: str) -> None:
    """Take the proxy off the network and remove it; gone already is fine."""
    try:
        network = await docker.networks.get(name)
    except DockerError as exc:
        if exc.status == 404:
            return
        raise DriverError(f"inspecting network {name}: {exc.message}") from exc
    details = await network.show()
    for endpoint in details.get("Containers") or {}:
        try:
            await network.disconnect({"Container": endpoint, "Force": True})
        except DockerError as exc:
            if exc.status != 404:
                log.warning("disconnecting %s from %s: %s", endpoint[:12], name, exc.message)
    try:
        await network.delete()
    except DockerError as exc:
        if exc.status != 404:
            raise DriverError(f"removing network {name}: {exc.message}") from exc


async def session_networks(docker: aiodocker.Docker) -> list[dict[str, Any]]:
    """Every session network on the engine (of every Bay), as Docker shows them."""
    found = await docker.networks.list(filters={"label": [NETWORK_LABEL]})
    return list(found)


async def ensure_outside_network(docker: aiodocker.Docker) -> None:
    try:
        await docker.networks.get(OUTSIDE_NETWORK)
        return
    except DockerError as exc:
        if exc.status != 404:
            raise DriverError(f"inspecting network {OUTSIDE_NETWORK}: {exc.message}") from exc
    try:
        await docker.networks.create(
            {
                "Name": OUTSIDE_NETWORK,
                "Driver": "bridge",
                "Options": {"com.docker.network.bridge.name": OUTSIDE_BRIDGE},
                "Labels": {"bay.managed": "true"},
            }
        )
    except DockerError as exc:
        if exc.status != 409:
            raise DriverError(f"creating network {OUTSIDE_NETWORK}: {exc.message}") from exc
    # The proxy reaches out, never the host's own ports or the metadata service.
    await close_bridge(OUTSIDE_BRIDGE)


@dataclass(frozen=True)
class ProxySpec:
    name: str
    image: str
    env: dict[str, str]
    labels: dict[str, str]
    # Names resolved before DNS (BAY_EGRESS__HOSTS).
    hosts: dict[str, str]
    memory_mb: int


def _config_hash(spec: ProxySpec) -> str:
    text = json.dumps([spec.image, spec.env, spec.hosts, spec.memory_mb], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def proxy_config(spec: ProxySpec) -> dict[str, Any]:
    port = f"{CONTROL_PORT}/tcp"
    image, env, labels, hosts, memory_mb = (
        spec.image, spec.env, spec.labels, spec.hosts, spec.memory_mb
    )  # fmt: skip
    return {
        "Image": image,
        "User": "1000:1000",
        "Entrypoint": ["/usr/bin/tini", "--", "/opt/egress/bin/python", "-m", "ship.egress"],
        "Cmd": [],
        "Env": [f"{key}={value}" for key, value in env.items()],
        "Labels": {**labels, "bay.role": PROXY_ROLE, CONFIG_LABEL: _config_hash(spec)},
        "ExposedPorts": {port: {}},
        "HostConfig": {
            "NetworkMode": OUTSIDE_NETWORK,
            "PortBindings": {port: [{"HostIp": "127.0.0.1", "HostPort": ""}]},
            "ExtraHosts": [f"{name}:{address}" for name, address in sorted(hosts.items())],
            "Memory": memory_mb * 1024 * 1024,
            "MemorySwap": memory_mb * 1024 * 1024,
            "PidsLimit": 256,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges:true"],
            "ReadonlyRootfs": True,
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
        },
    }


async def ensure_proxy(docker: aiodocker.Docker, spec: ProxySpec) -> str:
    """Start the proxy `name` unless it runs (made from `config` when missing); its
    control API's URL. A proxy made anew joins every session network there is."""
    name = spec.name
    try:
        container = await docker.containers.get(name)
    except DockerError as exc:
        if exc.status != 404:
            raise DriverError(f"inspecting {name}: {exc.message}") from exc
        container = None
    if container is not None and (
        (container._container.get("Config") or {}).get("Labels", {}).get(CONFIG_LABEL)
        != _config_hash(spec)
    ):
        # Made for another configuration (its CA, its host names): made anew.
        await container.delete(force=True)
        container = None
    if container is not None and not container._container["State"].get("Running"):
        try:
            await container.start()
        except DockerError as exc:  # it cannot start again: made anew below
            log.warning("egress proxy %s did not start again (%s): making it anew", name, exc)
            await container.delete(force=True)
            container = None
    if container is None:
        await ensure_outside_network(docker)
        try:
            container = await docker.containers.create(proxy_config(spec), name=name)
        except DockerError as exc:
            if exc.status != 409:
                raise DriverError(f"creating {name}: {exc.message}") from exc
            container = await docker.containers.get(name)
        try:
            await container.start()
        except DockerError as exc:
            raise DriverError(f"starting {name}: {exc.message}") from exc
        for network in await session_networks(docker):
            if await _container_exists(docker, network["Labels"][NETWORK_LABEL]):
                await connect_proxy(docker, network["Name"], name)
            else:  # its session's container is gone (a Bay killed): nothing to join
                await remove_session_network(docker, network["Name"])
    url = control_url((await docker.containers.get(name))._container)
    if url is None:
        raise DriverError(f"the egress proxy {name} publishes no control port")
    return url


async def _container_exists(docker: aiodocker.Docker, name: str) -> bool:
    try:
        await docker.containers.get(name)
    except DockerError as exc:
        if exc.status == 404:
            return False
        raise DriverError(f"inspecting {name}: {exc.message}") from exc
    return True


def control_url(data: dict[str, Any]) -> str | None:
    """Where the running proxy's control API answers (its port on 127.0.0.1)."""
    ports = ((data.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{CONTROL_PORT}/tcp")
    for binding in ports or []:
        if binding.get("HostPort"):
            return f"http://127.0.0.1:{binding['HostPort']}"
    return None
