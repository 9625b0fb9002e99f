"""Egress under Kubernetes: a proxied session's Pod and NetworkPolicy, and the proxy's
objects, checked against the API's models; the driver refuses what it cannot run yet."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

import ship.egress
from bay_mcp.drivers import ContainerSpec, DriverError
from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.drivers.kubernetes_egress import (
    POD_IP_VARIABLE,
    egress_manifests,
    proxy_deployment_manifest,
    proxy_network_policy_manifest,
    proxy_secret_manifest,
    proxy_service_manifest,
)
from bay_mcp.drivers.kubernetes_manifests import (
    EGRESS_LABEL,
    network_policy_manifest,
    pod_manifest,
)
from bay_mcp.managers import labels
from bay_mcp.settings import BaySettings, EgressSettings, KubernetesSettings
from ship.egress.protocol import CONTROL_PORT, PROXY_HOST, PROXY_PORT
from tests.unit.drivers.fake_kubernetes import FakeKubernetes
from tests.unit.drivers.kubernetes_models import as_model

TOKEN = "c" * 48
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PROXY_IP = "10.96.0.42"
BLOCKED = ["169.254.169.254/32", "10.0.0.0/8"]
SETTINGS = BaySettings(
    instance_id="bay-k8s",
    kubernetes=KubernetesSettings(namespace="sandboxes", blocked_egress_cidrs=BLOCKED),
    egress=EgressSettings(proxy_memory_mb=768),
)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with ApiClient() as api:
        yield api


def _spec(network: Any = "egress") -> ContainerSpec:
    return ContainerSpec(
        name="bay-sess-1",
        image="ship:latest",
        volume="bay-cargo-ws-1",
        env={"SHIP_TOKEN": "t" * 32},
        labels={labels.INSTANCE: "bay-k8s", labels.MANAGED: "true"},
        cpus=1,
        memory_mb=1024,
        pids_limit=512,
        network=network,
    )


def _by_kind() -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in egress_manifests(SETTINGS, "ship:1.2", TOKEN, CA_PEM)}


def _selects(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= pod_labels.items()


async def test_every_egress_manifest_is_a_valid_kubernetes_object(client: ApiClient) -> None:
    manifests = egress_manifests(SETTINGS, "ship:1.2", TOKEN, CA_PEM)

    models = [as_model(client, manifest) for manifest in manifests]

    assert [manifest["kind"] for manifest in manifests] == [
        "Secret",
        "NetworkPolicy",
        "Service",
        "Deployment",
    ]
    assert {(m.metadata.name, m.metadata.namespace) for m in models} == {(PROXY_HOST, "sandboxes")}


async def test_proxied_session_policy_reaches_the_proxy_port_and_nothing_else(
    client: ApiClient,
) -> None:
    spec = _spec()
    policy = as_model(
        client,
        network_policy_manifest(spec.name, spec.labels, "egress", SETTINGS.kubernetes),
        "V1NetworkPolicy",
    )
    proxy_pod = _by_kind()["Deployment"]["spec"]["template"]["metadata"]["labels"]

    assert policy.spec.policy_types == ["Ingress", "Egress"]
    [ingress] = policy.spec.ingress
    assert [peer.pod_selector.match_labels for peer in ingress._from] == [{"app": "bay"}]
    # One rule: one peer, one port. No DNS, no ipBlock.
    [egress] = policy.spec.egress
    [peer] = egress.to
    assert peer.ip_block is None
    assert peer.namespace_selector is None
    assert _selects(peer.pod_selector.match_labels, proxy_pod)
    [port] = egress.ports
    assert (port.protocol, port.port, port.end_port) == ("TCP", PROXY_PORT, None)


async def test_proxied_session_pod_names_the_proxy_without_dns(client: ApiClient) -> None:
    manifest = pod_manifest(_spec(), SETTINGS.kubernetes, proxy_ip=PROXY_IP)
    pod = as_model(client, manifest, "V1Pod")

    aliases = {alias.ip: alias.hostnames for alias in pod.spec.host_aliases}
    assert aliases == {"127.0.0.1": ["ship"], PROXY_IP: [PROXY_HOST]}
    env = {item.name: item.value for item in pod.spec.containers[0].env}
    proxy_url = f"http://{PROXY_HOST}:{PROXY_PORT}"
    assert env["HTTP_PROXY"] == env["HTTPS_PROXY"] == env["https_proxy"] == proxy_url
    assert "ship" in env["NO_PROXY"].split(",")
    assert env["SHIP_TOKEN"] == "t" * 32
    assert pod.metadata.labels[EGRESS_LABEL] == "proxied"


def test_proxied_session_pod_needs_the_proxys_address() -> None:
    with pytest.raises(DriverError, match="egress proxy's Service address"):
        pod_manifest(_spec(), SETTINGS.kubernetes)


def test_open_session_pod_is_not_admitted_by_the_proxy() -> None:
    manifest = pod_manifest(_spec("bridge"), SETTINGS.kubernetes, proxy_ip=PROXY_IP)

    assert EGRESS_LABEL not in manifest["metadata"]["labels"]
    assert len(manifest["spec"]["hostAliases"]) == 1
    assert "HTTP_PROXY" not in {item["name"] for item in manifest["spec"]["containers"][0]["env"]}


async def test_proxy_admits_its_port_from_proxied_sessions_and_control_from_bay_only(
    client: ApiClient,
) -> None:
    policy = as_model(client, proxy_network_policy_manifest(SETTINGS.kubernetes))
    proxied = pod_manifest(_spec(), SETTINGS.kubernetes, proxy_ip=PROXY_IP)["metadata"]["labels"]
    bridge = pod_manifest(_spec("bridge"), SETTINGS.kubernetes)["metadata"]["labels"]
    proxy_pod = _by_kind()["Deployment"]["spec"]["template"]["metadata"]["labels"]

    assert _selects(policy.spec.pod_selector.match_labels, proxy_pod)
    assert policy.spec.policy_types == ["Ingress", "Egress"]
    admitted = {}
    for rule in policy.spec.ingress:
        [port] = rule.ports
        [peer] = rule._from
        assert peer.ip_block is None
        assert peer.namespace_selector is None
        admitted[(port.protocol, port.port)] = peer.pod_selector.match_labels
    assert set(admitted) == {("TCP", PROXY_PORT), ("TCP", CONTROL_PORT)}
    sandboxes = admitted[("TCP", PROXY_PORT)]
    assert _selects(sandboxes, proxied)
    assert not _selects(sandboxes, bridge)
    assert admitted[("TCP", CONTROL_PORT)] == {"app": "bay"}


async def test_proxy_admits_bay_from_its_own_namespace(client: ApiClient) -> None:
    settings = KubernetesSettings(namespace="sandboxes", bay_namespace="bay")

    policy = as_model(client, proxy_network_policy_manifest(settings))

    control = next(rule for rule in policy.spec.ingress if rule.ports[0].port == CONTROL_PORT)
    [peer] = control._from
    assert peer.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "bay"}
    assert peer.pod_selector.match_labels == {"app": "bay"}


async def test_proxy_goes_anywhere_but_the_blocked_ranges_and_to_dns(client: ApiClient) -> None:
    policy = as_model(client, proxy_network_policy_manifest(SETTINGS.kubernetes))

    dns, outside = policy.spec.egress
    [kube_dns] = dns.to
    assert kube_dns.pod_selector.match_labels == {"k8s-app": "kube-dns"}
    assert kube_dns.namespace_selector.match_labels == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert {(port.protocol, port.port) for port in dns.ports} == {("UDP", 53), ("TCP", 53)}
    [block] = outside.to
    assert outside.ports is None
    assert block.ip_block.cidr == "0.0.0.0/0"
    assert block.ip_block._except == BLOCKED


async def test_proxy_secret_carries_the_token_and_the_ca(client: ApiClient) -> None:
    plain = as_model(client, proxy_secret_manifest(SETTINGS.kubernetes, TOKEN, CA_PEM))
    upstream = proxy_secret_manifest(SETTINGS.kubernetes, TOKEN, CA_PEM, "UPSTREAM PEM")

    assert plain.string_data == {"token": TOKEN, "ca.pem": CA_PEM}
    assert plain.type == "Opaque"
    assert upstream["stringData"]["upstream-ca.pem"] == "UPSTREAM PEM"


async def test_proxy_runs_non_root_read_only_without_capabilities(client: ApiClient) -> None:
    deployment = as_model(client, proxy_deployment_manifest(SETTINGS, "ship:1.2"))

    assert deployment.spec.replicas == 1
    assert deployment.spec.strategy.type == "Recreate"
    pod = deployment.spec.template.spec
    assert _selects(deployment.spec.selector.match_labels, deployment.spec.template.metadata.labels)
    assert (pod.security_context.run_as_user, pod.security_context.run_as_group) == (1000, 1000)
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    assert pod.automount_service_account_token is False
    [container] = pod.containers
    assert container.image == "ship:1.2"
    assert container.command == ["/opt/egress/bin/python", "-m", "ship.egress"]
    security = container.security_context
    assert security.allow_privilege_escalation is False
    assert security.read_only_root_filesystem is True
    assert security.capabilities.drop == ["ALL"]
    assert security.capabilities.add is None
    # The one place it writes (/tmp/egress) is an emptyDir.
    [mount] = container.volume_mounts
    volume = next(volume for volume in pod.volumes if volume.name == mount.name)
    assert (mount.mount_path, volume.empty_dir.medium) == ("/tmp", "Memory")
    assert container.resources.limits["memory"] == "768Mi"
    assert {port.container_port for port in container.ports} == {PROXY_PORT, CONTROL_PORT}


def test_proxy_reads_its_settings_from_the_secret_and_the_blocked_ranges() -> None:
    objects = _by_kind()
    [container] = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    secret = objects["Secret"]
    # The variables `python -m ship.egress` reads, and no other.
    source = (Path(ship.egress.__file__).parent / "__main__.py").read_text()
    read = set(re.findall(r"BAY_EGRESS_[A-Z_]+", source))

    assert {name for name in env if name.startswith("BAY_EGRESS_")} - {POD_IP_VARIABLE} == read
    for name in ("BAY_EGRESS_TOKEN", "BAY_EGRESS_CA"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
        assert "optional" not in ref
    assert env["BAY_EGRESS_UPSTREAM_CA"]["valueFrom"]["secretKeyRef"]["optional"] is True
    # Kubernetes expands $(NAME) only from variables defined before it.
    names = [item["name"] for item in container["env"]]
    assert names.index(POD_IP_VARIABLE) < names.index("BAY_EGRESS_DENY")
    assert env[POD_IP_VARIABLE]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["BAY_EGRESS_DENY"]["value"].split(",") == [*BLOCKED, f"$({POD_IP_VARIABLE})/32"]


async def test_proxy_service_sends_each_port_to_the_proxy(client: ApiClient) -> None:
    service = as_model(client, proxy_service_manifest(SETTINGS.kubernetes))
    deployment = _by_kind()["Deployment"]["spec"]["template"]
    [container] = deployment["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert service.spec.type == "ClusterIP"
    assert _selects(service.spec.selector, deployment["metadata"]["labels"])
    assert {port.port: ports[port.target_port] for port in service.spec.ports} == {
        PROXY_PORT: PROXY_PORT,
        CONTROL_PORT: CONTROL_PORT,
    }


async def test_driver_refuses_a_proxied_session_before_creating_anything(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    with pytest.raises(DriverError, match="needs the egress proxy") as refused:
        await driver.run_container(_spec())

    assert "docs/kubernetes.md#egress-allowlists" in refused.value.message
    assert not [call for call in fake.calls if call[1] == "create"]
    assert not fake.objects["pods"]
    assert not fake.objects["networkpolicies"]
