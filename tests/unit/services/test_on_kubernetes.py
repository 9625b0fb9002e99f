"""Bay's services over the Kubernetes driver (and the fake API server of
tests/unit/drivers/fake_kubernetes.py): sessions, cargos, snapshots and the reaper work
through the Driver protocol alone. The driver's own calls: tests/unit/drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.drivers import ContainerSpec
from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.drivers.kubernetes_manifests import COPY_CONTAINER, label_value
from bay_mcp.errors import CapabilityNotSupported
from bay_mcp.managers import labels, no_progress
from bay_mcp.services.runs import PythonRun
from bay_mcp.settings import BaySettings, KubernetesSettings, Profile
from bay_mcp.storage.database import Database
from tests.databases import database_url
from tests.fakes import FakeShip
from tests.unit.drivers.fake_kubernetes import FakeKubernetes

OWNER = "alice@example.com"


def _kubelet(fake: FakeKubernetes) -> None:
    """Sessions run at once; copies end at once, having copied 2048 bytes."""

    def start(pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if pod["spec"]["containers"][0]["name"] == COPY_CONTAINER:
            fake.end_pod(name, 0, log="2048\n")
        else:
            fake.run_pod(name, ip="10.9.8.7")

    fake.on_create = start


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeKubernetes]:
    server = FakeKubernetes()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def bay(fake: FakeKubernetes, tmp_path: Path) -> AsyncIterator[Bay]:
    _kubelet(fake)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(fake.kubeconfig())
    settings = BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        driver="kubernetes",
        kubernetes=KubernetesSettings(kubeconfig=kubeconfig),
        profiles=[Profile(id="python-default", warm_pool_size=0)],
    )
    driver = KubernetesDriver(settings.kubernetes, poll_interval=0.02)
    async with database_url(tmp_path / "bay.db") as url:
        instance = Bay(settings, driver=driver, ship=FakeShip(), database=Database(url=url))
        await instance.start()
        try:
            yield instance
        finally:
            await instance.close()


async def test_a_sandbox_runs_as_a_pod_on_a_pvc_and_stops(bay: Bay, fake: FakeKubernetes) -> None:
    sandbox = await bay.sandboxes.create(OWNER)
    volume = labels.cargo_volume_name(sandbox.cargo_id)
    assert set(fake.objects["persistentvolumeclaims"]) == {volume}

    await bay.execution.run(OWNER, sandbox.id, PythonRun(code="1 + 1", timeout=30), no_progress)

    [pod] = fake.objects["pods"].values()
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == volume
    assert pod["metadata"]["labels"][labels.OWNER] == label_value(OWNER)
    assert (await bay.sandboxes.get(OWNER, sandbox.id)).status == "ready"

    await bay.sandboxes.stop(OWNER, sandbox.id)

    assert fake.objects["pods"] == fake.objects["networkpolicies"] == {}
    assert set(fake.objects["persistentvolumeclaims"]) == {volume}


async def test_a_snapshot_is_copied_by_a_helper_pod(bay: Bay, fake: FakeKubernetes) -> None:
    sandbox = await bay.sandboxes.create(OWNER)

    taken = await bay.snapshots.create(OWNER, sandbox.id, "first")

    assert taken.size_bytes == 2048
    assert labels.snapshot_volume_name(taken.id) in fake.objects["persistentvolumeclaims"]
    assert fake.objects["pods"] == {}  # the helper is gone


async def test_cargo_files_without_a_sandbox_are_refused_and_resources_start_it(
    bay: Bay, fake: FakeKubernetes
) -> None:
    sandbox = await bay.sandboxes.create(OWNER)
    with pytest.raises(CapabilityNotSupported) as refused:
        await bay.cargo_files.write_text(OWNER, sandbox.cargo_id, "a.txt", "x")
    assert "/v1/sandboxes/{id}/filesystem" in refused.value.message
    assert fake.objects["pods"] == {}  # nothing was started for it
    # A stopped sandbox's resource is read as before: through its session.
    await bay.files.write_text(OWNER, sandbox.id, "a.txt", "x", no_progress)
    await bay.sandboxes.stop(OWNER, sandbox.id)
    read = await bay.files.read_resource(OWNER, sandbox.id, "a.txt")
    assert read.content == "x"
    [pod] = fake.objects["pods"].values()
    assert pod["metadata"]["labels"][labels.SANDBOX] == label_value(sandbox.id)


async def test_deleting_a_sandbox_removes_its_pod_and_pvc(bay: Bay, fake: FakeKubernetes) -> None:
    sandbox = await bay.sandboxes.create(OWNER)
    await bay.execution.run(OWNER, sandbox.id, PythonRun(code="1", timeout=30), no_progress)

    await bay.sandboxes.delete(OWNER, sandbox.id)

    assert fake.objects["pods"] == fake.objects["persistentvolumeclaims"] == {}


async def test_the_reaper_removes_orphans_with_our_labels_only(
    bay: Bay, fake: FakeKubernetes
) -> None:
    ours = {labels.INSTANCE: "bay-unit", labels.MANAGED: "true"}
    theirs = {labels.INSTANCE: "bay-other", labels.MANAGED: "true"}
    await bay.driver.create_volume("bay-cargo-ws-000000000001", ours)
    await bay.driver.create_volume("bay-cargo-ws-000000000002", theirs)
    for name, owner_labels in (("bay-sess-000000000001", ours), ("bay-sess-000000000002", theirs)):
        spec_labels = {**owner_labels, labels.SESSION: name.removeprefix("bay-")}
        await bay.driver.run_container(
            _session_spec(name, "bay-cargo-ws-000000000001", spec_labels)
        )
    bay.settings.gc_orphan_grace_seconds = 0

    report = await bay.reaper.run(["orphan_containers", "orphan_cargos"])

    assert report.total_cleaned == 2
    assert set(fake.objects["pods"]) == {"bay-sess-000000000002"}
    assert set(fake.objects["persistentvolumeclaims"]) == {"bay-cargo-ws-000000000002"}


def _session_spec(name: str, volume: str, spec_labels: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        image="ship:latest",
        volume=volume,
        env={},
        labels=spec_labels,
        cpus=1,
        memory_mb=256,
        pids_limit=64,
    )
