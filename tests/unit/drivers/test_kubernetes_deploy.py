"""deploy/k8s/: every document a valid Kubernetes object, the Role exactly what the
driver calls, the Deployment and ConfigMap what Bay reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml  # type: ignore[import-untyped]
from kubernetes_asyncio.client import ApiClient

from bay_mcp.cli import _parser
from bay_mcp.drivers import ContainerSpec
from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.managers import labels
from bay_mcp.settings import BaySettings, KubernetesSettings
from tests.unit.drivers.fake_kubernetes import FakeKubernetes
from tests.unit.drivers.kubernetes_models import as_model

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "k8s"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path.name, document))
    return found


def _document(kind: str) -> dict[str, Any]:
    return next(document for _, document in _documents() if document["kind"] == kind)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with ApiClient() as api:
        yield api


def test_deploy_has_the_objects_bay_needs() -> None:
    kinds = sorted(document["kind"] for _, document in _documents())

    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Namespace",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]


@pytest.mark.parametrize(("file", "document"), _documents(), ids=[name for name, _ in _documents()])
async def test_every_document_is_a_valid_kubernetes_object(
    client: ApiClient, file: str, document: dict[str, Any]
) -> None:
    model = as_model(client, document)

    if document["kind"] != "Namespace":
        assert model.metadata.namespace == "bay"


async def _every_driver_call(driver: KubernetesDriver, fake: FakeKubernetes) -> None:
    """A session's and a cargo's whole life, a snapshot's copy, and the reaper's lists."""
    await driver.ping()
    await driver.image_id("ship:latest")
    await driver.create_volume("bay-cargo-ws-1", {labels.INSTANCE: "bay-unit"})
    await driver.create_volume("bay-snapshot-snap-1", {labels.INSTANCE: "bay-unit"})
    await driver.list_volumes({labels.INSTANCE: "bay-unit"})
    await driver.volume_created_at("bay-cargo-ws-1")
    spec = ContainerSpec(
        name="bay-sess-1",
        image="ship:latest",
        volume="bay-cargo-ws-1",
        env={},
        labels={labels.INSTANCE: "bay-unit"},
        cpus=1,
        memory_mb=1024,
        pids_limit=512,
    )
    await driver.run_container(spec)
    fake.run_pod(spec.name)
    await driver.inspect(spec.name)
    await driver.logs(spec.name)
    await driver.list_containers({labels.INSTANCE: "bay-unit"})
    fake.on_create = lambda pod: fake.end_pod(pod["metadata"]["name"], 0, log="1\n")
    await driver.copy_volume(
        "bay-cargo-ws-1", "bay-snapshot-snap-1", image="ship:latest", labels={}, timeout=10
    )
    await driver.remove_container(spec.name)
    await driver.remove_volume("bay-cargo-ws-1")
    await driver.remove_volume("bay-snapshot-snap-1")


async def test_role_grants_exactly_what_the_driver_calls(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    await _every_driver_call(driver, fake)

    role = _document("Role")
    granted = {
        (resource, verb)
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == set(fake.calls)
    groups = {
        resource: rule["apiGroups"] for rule in role["rules"] for resource in rule["resources"]
    }
    assert groups == {
        "pods": [""],
        "pods/log": [""],
        "persistentvolumeclaims": [""],
        "networkpolicies": ["networking.k8s.io"],
    }


def test_role_is_bound_to_the_service_account_the_deployment_runs_as() -> None:
    binding = _document("RoleBinding")
    pod = _document("Deployment")["spec"]["template"]["spec"]

    assert binding["roleRef"]["name"] == _document("Role")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "bay"}
    ]
    assert _document("ServiceAccount")["metadata"]["name"] == pod["serviceAccountName"]


def test_deployment_runs_the_http_server_as_bays_pods() -> None:
    deployment = _document("Deployment")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]

    # The image's entrypoint is bay-mcp (behind tini): the container gives its arguments.
    args = _parser().parse_args(container["args"])

    assert "command" not in container
    assert (args.command, args.transport, args.host, args.port) == (
        "serve",
        "http",
        "0.0.0.0",
        8000,
    )
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "bay-mcp:latest"
    # Sandboxes admit Bay by these labels.
    assert pod["metadata"]["labels"] == KubernetesSettings().bay_pod_labels
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    service = _document("Service")
    assert service["spec"]["selector"] == pod["metadata"]["labels"]


def test_configmap_and_secrets_are_settings_bay_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = dict(_document("ConfigMap")["data"])
    container = _document("Deployment")["spec"]["template"]["spec"]["containers"][0]
    secrets = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BAY_DATABASE_URL", "postgresql+asyncpg://bay:secret@postgres/bay")

    settings = BaySettings()

    assert settings.driver == "kubernetes"
    assert settings.kubernetes.namespace == "bay"
    assert settings.stateless_http is True
    assert settings.auto_build_image is False
    assert settings.instance_id == "bay-k8s"
    assert "bay.bay.svc:*" in settings.allowed_hosts
    assert set(secrets) == {"BAY_DATABASE_URL", "BAY_API_KEY"}
    assert {ref["name"] for ref in secrets.values()} == {"bay-secrets"}
