"""The Kubernetes driver's manifests, built from profiles, checked against the API's models."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from bay_mcp.drivers import ContainerSpec, DriverError
from bay_mcp.drivers.kubernetes_manifests import (
    CA_PATH,
    POD_LABEL,
    copy_pod_manifest,
    label_selector,
    label_value,
    labels_of,
    network_policy_manifest,
    object_name,
    pod_manifest,
    pvc_manifest,
)
from bay_mcp.managers import labels
from bay_mcp.settings import KubernetesSettings, Profile, default_profiles
from bay_mcp.storage.models import new_id
from tests.unit.drivers.kubernetes_models import as_model, unknown_keys

SETTINGS = KubernetesSettings()
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
OWNER = "alice@example.com"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with ApiClient() as api:
        yield api


def _spec(profile: Profile, **overrides: Any) -> ContainerSpec:
    """The spec SessionManager makes for a session of `profile`."""
    session_id = new_id("sess")
    values: dict[str, Any] = {
        "name": labels.container_name(session_id),
        "image": profile.image,
        "volume": labels.cargo_volume_name(new_id("ws")),
        "env": {**profile.env, "SHIP_TOKEN": "t" * 32, "SHIP_USER_ENV": ""},
        "labels": {
            labels.INSTANCE: "bay-unit",
            labels.OWNER: OWNER,
            labels.SANDBOX: new_id("sandbox"),
            labels.SESSION: session_id,
            labels.CARGO: new_id("ws"),
            labels.PROFILE: profile.id,
            labels.MANAGED: "true",
        },
        "cpus": profile.cpus,
        "memory_mb": profile.memory_mb,
        "pids_limit": profile.pids_limit,
        "network": profile.network,
        "read_only_root": profile.read_only_root,
        "runtime": profile.runtime,
        "ca_bundle": profile.ca_bundle,
    }
    values.update(overrides)
    return ContainerSpec(**values)


PROFILES = [
    *default_profiles(),
    Profile(id="offline", network="none", runtime="gvisor", cpus=0.5, memory_mb=512),
    Profile(id="corporate", ca_bundle="corporate-ca", read_only_root=False, env={"A": "1"}),
]


def _label_values(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["metadata"]["labels"].values())


@pytest.mark.parametrize("profile", PROFILES, ids=lambda profile: profile.id)
async def test_session_pod_is_a_valid_pod_for_every_profile(
    client: ApiClient, profile: Profile
) -> None:
    manifest = pod_manifest(_spec(profile), SETTINGS)

    pod = as_model(client, manifest, "V1Pod")

    assert pod.spec.containers[0].image == profile.image
    assert all(LABEL_VALUE.match(value) for value in _label_values(manifest))


async def test_session_pod_runs_as_the_sandbox_user_without_privileges(client: ApiClient) -> None:
    pod = as_model(client, pod_manifest(_spec(PROFILES[0]), SETTINGS), "V1Pod")

    security = pod.spec.security_context
    assert (security.run_as_user, security.run_as_group, security.fs_group) == (1000, 1000, 1000)
    assert security.run_as_non_root is True
    assert security.seccomp_profile.type == "RuntimeDefault"
    container = pod.spec.containers[0].security_context
    assert container.allow_privilege_escalation is False
    assert container.capabilities.drop == ["ALL"]
    assert container.capabilities.add is None
    assert container.read_only_root_filesystem is True
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.automount_service_account_token is False
    assert pod.spec.enable_service_links is False
    assert pod.spec.host_network is None
    assert pod.spec.runtime_class_name is None


async def test_session_pod_mounts_the_cargo_and_a_memory_tmp(client: ApiClient) -> None:
    spec = _spec(PROFILES[0])
    pod = as_model(client, pod_manifest(spec, SETTINGS), "V1Pod")

    volumes = {volume.name: volume for volume in pod.spec.volumes}
    mounts = {mount.mount_path: mount.name for mount in pod.spec.containers[0].volume_mounts}
    assert volumes[mounts["/workspace"]].persistent_volume_claim.claim_name == spec.volume
    assert volumes[mounts["/tmp"]].empty_dir.medium == "Memory"
    assert volumes[mounts["/tmp"]].empty_dir.size_limit == "1Gi"
    assert pod.spec.containers[0].ports[0].container_port == spec.port


async def test_session_pod_limits_follow_the_profile(client: ApiClient) -> None:
    spec = _spec(PROFILES[0], cpus=1.5, memory_mb=2048)

    full = as_model(client, pod_manifest(spec, SETTINGS), "V1Pod").spec.containers[0]
    half = as_model(
        client, pod_manifest(spec, KubernetesSettings(requests_fraction=0.5)), "V1Pod"
    ).spec.containers[0]

    assert full.resources.limits == {"cpu": "1500m", "memory": "2048Mi"}
    assert full.resources.requests == full.resources.limits
    assert half.resources.limits == full.resources.limits
    assert half.resources.requests == {"cpu": "750m", "memory": "1024Mi"}


async def test_session_pod_carries_runtime_env_and_the_exact_labels(client: ApiClient) -> None:
    spec = _spec(PROFILES[2], env={"SHIP_TOKEN": "t" * 32, "GREETING": "hello world"})
    manifest = pod_manifest(spec, SETTINGS)
    pod = as_model(client, manifest, "V1Pod")

    assert pod.spec.runtime_class_name == "gvisor"
    env = {item.name: item.value for item in pod.spec.containers[0].env}
    assert env == spec.env
    # The owner's address is no label value: mapped for selectors, kept exactly beside.
    assert pod.metadata.labels[labels.OWNER] == label_value(OWNER) != OWNER
    assert pod.metadata.labels[POD_LABEL] == spec.name
    assert labels_of(pod.metadata.labels, pod.metadata.annotations) == spec.labels


async def test_session_pod_root_is_writable_only_when_the_profile_says(
    client: ApiClient,
) -> None:
    pod = as_model(client, pod_manifest(_spec(PROFILES[3]), SETTINGS), "V1Pod")

    assert pod.spec.containers[0].security_context.read_only_root_filesystem is False


async def test_ca_bundle_is_a_configmap_mounted_where_tools_look(client: ApiClient) -> None:
    pod = as_model(client, pod_manifest(_spec(PROFILES[3]), SETTINGS), "V1Pod")

    container = pod.spec.containers[0]
    mount = next(mount for mount in container.volume_mounts if mount.mount_path == CA_PATH)
    volume = next(volume for volume in pod.spec.volumes if volume.name == mount.name)
    assert volume.config_map.name == "corporate-ca"
    assert (mount.sub_path, mount.read_only) == ("ca.crt", True)
    env = {item.name: item.value for item in container.env}
    assert env["SSL_CERT_FILE"] == env["PIP_CERT"] == env["NODE_EXTRA_CA_CERTS"] == CA_PATH
    assert env["A"] == "1"


def test_ca_bundle_host_path_is_refused_with_what_to_do() -> None:
    spec = _spec(PROFILES[0], ca_bundle="/etc/ssl/certs/ca-certificates.crt")

    with pytest.raises(DriverError, match="names a ConfigMap"):
        pod_manifest(spec, SETTINGS)


async def test_bridge_network_policy_admits_bay_and_egress_but_metadata(
    client: ApiClient,
) -> None:
    spec = _spec(PROFILES[0])
    manifest = network_policy_manifest(spec.name, spec.labels, "bridge", SETTINGS)
    policy = as_model(client, manifest, "V1NetworkPolicy")

    assert policy.metadata.name == spec.name
    assert policy.spec.pod_selector.match_labels == {POD_LABEL: spec.name}
    assert policy.spec.policy_types == ["Ingress", "Egress"]
    [ingress] = policy.spec.ingress
    [peer] = ingress._from
    assert peer.pod_selector.match_labels == {"app": "bay"}
    assert peer.namespace_selector is None
    assert peer.ip_block is None
    assert ingress.ports is None  # Ship's port and exposed ports
    [egress] = policy.spec.egress
    [to] = egress.to
    assert to.ip_block.cidr == "0.0.0.0/0"
    assert to.ip_block._except == ["169.254.169.254/32"]


async def test_none_network_policy_allows_no_egress(client: ApiClient) -> None:
    spec = _spec(PROFILES[2])
    manifest = network_policy_manifest(spec.name, spec.labels, "none", SETTINGS)
    policy = as_model(client, manifest, "V1NetworkPolicy")

    assert policy.spec.egress == []
    assert len(policy.spec.ingress) == 1
    assert policy.spec.policy_types == ["Ingress", "Egress"]


async def test_network_policy_admits_bay_from_its_own_namespace(client: ApiClient) -> None:
    settings = KubernetesSettings(
        namespace="sandboxes", bay_namespace="bay", bay_pod_labels={"app": "bay-mcp"}
    )
    manifest = network_policy_manifest("bay-sess-1", {}, "bridge", settings)
    policy = as_model(client, manifest, "V1NetworkPolicy")

    [peer] = policy.spec.ingress[0]._from
    assert peer.pod_selector.match_labels == {"app": "bay-mcp"}
    assert peer.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "bay"}


def test_bay_pod_labels_may_not_be_empty() -> None:
    # An empty selector would admit every Pod of the namespace.
    with pytest.raises(ValueError, match="at least 1"):
        KubernetesSettings(bay_pod_labels={})


async def test_cargo_pvc_is_read_write_once_of_the_settings_class_and_size(
    client: ApiClient,
) -> None:
    name = labels.cargo_volume_name(new_id("ws"))
    settings = KubernetesSettings(storage_class="fast", default_cargo_size_mb=2048)
    volume_labels = {labels.INSTANCE: "bay-unit", labels.OWNER: OWNER, labels.MANAGED: "true"}

    claim = as_model(client, pvc_manifest(name, volume_labels, settings), "V1PersistentVolumeClaim")

    assert claim.metadata.name == name
    assert claim.spec.access_modes == ["ReadWriteOnce"]
    assert claim.spec.storage_class_name == "fast"
    assert claim.spec.resources.requests == {"storage": "2048Mi"}
    assert labels_of(claim.metadata.labels, claim.metadata.annotations) == volume_labels


async def test_cargo_pvc_without_a_class_uses_the_clusters_default(client: ApiClient) -> None:
    manifest = pvc_manifest("bay-cargo-ws-1", {}, SETTINGS)

    claim = as_model(client, manifest, "V1PersistentVolumeClaim")

    assert claim.spec.storage_class_name is None
    assert claim.spec.resources.requests == {"storage": "10240Mi"}


async def test_copy_pod_copies_as_root_with_four_capabilities_and_a_deadline(
    client: ApiClient,
) -> None:
    manifest = copy_pod_manifest(
        "bay-copy-1",
        "bay-cargo-ws-1",
        "bay-snapshot-snap-1",
        image="ship:latest",
        labels={labels.ROLE: labels.COPY_ROLE},
        replace=True,
        timeout=600,
        settings=SETTINGS,
        node="node-7",
    )
    pod = as_model(client, manifest, "V1Pod")

    [container] = pod.spec.containers
    assert container.command[-1] == "replace"
    assert container.security_context.run_as_user == 0
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.security_context.capabilities.add == [
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
    ]
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.read_only_root_filesystem is True
    claims = {v.name: v.persistent_volume_claim for v in pod.spec.volumes}
    assert (claims["from"].claim_name, claims["from"].read_only) == ("bay-cargo-ws-1", True)
    assert claims["to"].claim_name == "bay-snapshot-snap-1"
    assert pod.spec.active_deadline_seconds == 630
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.automount_service_account_token is False
    terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert terms.node_selector_terms[0].match_fields[0].values == ["node-7"]


def test_unknown_keys_are_named() -> None:
    # The check the tests above rely on, since the deserializer ignores such keys.
    manifest = pod_manifest(_spec(PROFILES[0]), SETTINGS)
    manifest["spec"]["securityContext"]["runAsUsr"] = 1000
    manifest["spec"]["containers"][0]["resources"]["limit"] = {}

    assert unknown_keys(manifest, "V1Pod") == [
        ".spec.securityContext.runAsUsr",
        ".spec.containers[0].resources.limit",
    ]


@pytest.mark.parametrize(
    "value",
    [OWNER, "x" * 64, "-leading", "trailing.", "with space", "ünïcode", "@@@"],
)
def test_label_values_kubernetes_refuses_are_mapped_to_valid_stable_ones(value: str) -> None:
    mapped = label_value(value)

    assert LABEL_VALUE.match(mapped)
    assert 0 < len(mapped) <= 63
    assert mapped == label_value(value) != value
    assert label_selector({labels.OWNER: value}) == f"{labels.OWNER}={mapped}"


@pytest.mark.parametrize("value", ["bay-unit", "true", "sess-0a1b2c3d4e5f", "python-default", ""])
def test_valid_label_values_are_kept(value: str) -> None:
    assert label_value(value) == value


def test_bays_names_are_valid_object_names() -> None:
    for name in (
        labels.container_name(new_id("sess")),
        labels.cargo_volume_name(new_id("ws")),
        labels.snapshot_volume_name(new_id("snap")),
    ):
        assert object_name(name) == name


@pytest.mark.parametrize("name", ["Bay-Cargo", "bay_cargo", "-bay", "b" * 64, ""])
def test_invalid_object_names_are_refused(name: str) -> None:
    with pytest.raises(DriverError, match="not a valid Kubernetes object name"):
        object_name(name)
