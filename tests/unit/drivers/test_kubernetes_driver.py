"""The Kubernetes driver's calls, against a fake API server over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.config import incluster_config, kube_config

from bay_mcp.drivers import ContainerSpec, DriverError, EngineUnavailable, ImageMissing
from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.drivers.kubernetes_manifests import POD_LABEL, label_value
from bay_mcp.errors import Timeout
from bay_mcp.managers import labels
from bay_mcp.settings import KubernetesSettings
from tests.unit.drivers.fake_kubernetes import VERSION, FakeKubernetes

# Every wait on the fake has a deadline.
DEADLINE_S = 10
OWNER = "alice@example.com"


def _spec(session_id: str = "sess-0a1b2c3d4e5f", **overrides: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "name": labels.container_name(session_id),
        "image": "ship:latest",
        "volume": "bay-cargo-ws-0a1b2c3d4e5f",
        "env": {"SHIP_TOKEN": "t" * 32},
        "labels": {
            labels.INSTANCE: "bay-unit",
            labels.OWNER: OWNER,
            labels.SESSION: session_id,
            labels.MANAGED: "true",
        },
        "cpus": 1.0,
        "memory_mb": 1024,
        "pids_limit": 512,
    }
    values.update(overrides)
    return ContainerSpec(**values)


def _kinds(fake: FakeKubernetes, resource: str) -> set[str]:
    return set(fake.objects[resource])


# ping, configuration, reachability


async def test_ping_answers_the_api_servers_version(driver: KubernetesDriver) -> None:
    assert await driver.ping() == VERSION


async def test_configuration_is_loaded_on_first_use_only(
    fake: FakeKubernetes, tmp_path: Path
) -> None:
    path = tmp_path / "later"
    driver = KubernetesDriver(KubernetesSettings(kubeconfig=path))
    try:
        path.write_text(fake.kubeconfig())  # after construction: read at the first call

        assert await driver.ping() == VERSION
    finally:
        await driver.close()


async def test_no_configuration_is_a_driver_error_saying_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "none"))
    driver = KubernetesDriver(KubernetesSettings())
    try:
        with pytest.raises(DriverError, match="BAY_KUBERNETES__KUBECONFIG"):
            await driver.ping()
    finally:
        await driver.close()


async def test_in_a_pod_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("pod-token")
    ca.write_text("not checked before a call")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    driver = KubernetesDriver(KubernetesSettings())

    configuration = await driver._load_configuration()

    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.api_key["BearerToken"] == "Bearer pod-token"


async def test_unreachable_api_server_is_engine_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeKubernetes()
    fake.url = f"http://127.0.0.1:{port}"
    path = tmp_path / "kubeconfig"
    path.write_text(fake.kubeconfig())
    driver = KubernetesDriver(KubernetesSettings(kubeconfig=path))
    try:
        with pytest.raises(EngineUnavailable, match="does not answer"):
            await driver.list_containers({labels.INSTANCE: "bay-unit"})
        with pytest.raises(EngineUnavailable):
            await driver.ping()
    finally:
        await driver.close()


async def test_busy_api_server_is_engine_unavailable(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.fail_next[("pods", "get")] = (503, "ServiceUnavailable")

    with pytest.raises(EngineUnavailable, match="busy"):
        await driver.inspect("bay-sess-1")


async def test_refusal_is_a_driver_error_with_the_apis_message(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.fail_next[("pods", "list")] = (403, "Forbidden")

    with pytest.raises(DriverError, match="injected Forbidden") as caught:
        await driver.list_containers({})
    assert not isinstance(caught.value, EngineUnavailable)


# images


async def test_image_id_is_the_reference_itself(driver: KubernetesDriver) -> None:
    assert await driver.image_id("ship:latest") == "ship:latest"


# volumes


async def test_volume_life_cycle(driver: KubernetesDriver, fake: FakeKubernetes) -> None:
    volume_labels = {labels.INSTANCE: "bay-unit", labels.OWNER: OWNER, labels.MANAGED: "true"}
    before = datetime.now(UTC) - timedelta(seconds=1)

    await driver.create_volume("bay-cargo-ws-1", volume_labels)
    await driver.create_volume("bay-cargo-ws-2", {labels.INSTANCE: "other"})

    claim = fake.objects["persistentvolumeclaims"]["bay-cargo-ws-1"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert await driver.list_volumes({labels.INSTANCE: "bay-unit"}) == ["bay-cargo-ws-1"]
    # Selected by the owner too, whose address is no label value of its own.
    assert await driver.list_volumes({labels.OWNER: OWNER}) == ["bay-cargo-ws-1"]
    created = await driver.volume_created_at("bay-cargo-ws-1")
    assert created is not None
    assert created >= before

    await driver.remove_volume("bay-cargo-ws-1")

    assert await driver.list_volumes({labels.INSTANCE: "bay-unit"}) == []
    assert await driver.volume_created_at("bay-cargo-ws-1") is None


async def test_remove_volume_that_is_gone_is_no_error(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    await driver.create_volume("bay-cargo-ws-1", {})
    await driver.create_volume("bay-cargo-ws-2", {})
    await driver.remove_volume("bay-cargo-ws-1")

    await driver.remove_volume("bay-cargo-ws-1")  # again: the API server says 404

    assert fake.calls.count(("persistentvolumeclaims", "delete")) == 2
    assert _kinds(fake, "persistentvolumeclaims") == {"bay-cargo-ws-2"}  # the other is kept


async def test_create_existing_volume_uses_it(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    await driver.create_volume("bay-cargo-ws-1", {})
    await driver.create_volume("bay-cargo-ws-1", {})

    assert _kinds(fake, "persistentvolumeclaims") == {"bay-cargo-ws-1"}


async def test_create_volume_refused_is_a_driver_error(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.fail_next[("persistentvolumeclaims", "create")] = (422, "Invalid")

    with pytest.raises(DriverError, match="creating PVC bay-cargo-ws-1: injected Invalid"):
        await driver.create_volume("bay-cargo-ws-1", {})


# containers


async def test_run_container_makes_policy_and_pod_and_starts(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()

    info = await driver.run_container(spec)

    assert (info.id, info.name, info.state) == (spec.name, spec.name, "starting")
    assert info.endpoint is None
    assert info.address is None
    assert info.labels == spec.labels
    assert info.image_id == "ship:latest" == await driver.image_id(spec.image)
    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == {spec.name}
    policy = fake.objects["networkpolicies"][spec.name]
    assert policy["spec"]["podSelector"]["matchLabels"] == {POD_LABEL: spec.name}
    # The policy came first: the Pod never runs unprotected.
    assert fake.calls.index(("networkpolicies", "create")) < fake.calls.index(("pods", "create"))


async def test_inspect_follows_the_pod_from_pending_to_running(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()
    await driver.run_container(spec)

    fake.wait_pod(spec.name, "ContainerCreating", "")
    assert (await driver.inspect(spec.name)).state == "starting"

    fake.run_pod(spec.name, ip="10.1.2.3")
    info = await driver.inspect(spec.name)

    assert info.state == "running"
    assert info.endpoint == "http://10.1.2.3:8123"
    assert info.address == "10.1.2.3"
    assert info.created_at is not None
    assert info.created_at.tzinfo is not None


async def test_inspect_brackets_an_ipv6_pod_address(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec(port=9000)
    await driver.run_container(spec)
    fake.run_pod(spec.name, ip="fd00::5")

    assert (await driver.inspect(spec.name)).endpoint == "http://[fd00::5]:9000"


@pytest.mark.parametrize("exit_code", [0, 137])
async def test_inspect_of_an_ended_pod_is_exited_with_its_code(
    driver: KubernetesDriver, fake: FakeKubernetes, exit_code: int
) -> None:
    spec = _spec()
    await driver.run_container(spec)
    fake.run_pod(spec.name)
    fake.end_pod(spec.name, exit_code, log="bye\n")

    info = await driver.inspect(spec.name)

    assert (info.state, info.exit_code, info.endpoint) == ("exited", exit_code, None)


async def test_image_that_cannot_be_pulled_ends_the_start_with_the_reason(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec(image="ship:typo")
    await driver.run_container(spec)
    fake.wait_pod(spec.name, "ErrImagePull", 'pull access denied for "ship:typo"')

    info = await driver.inspect(spec.name)
    logs = await driver.logs(spec.name)

    assert info.state == "exited"
    assert logs == '(no logs: ErrImagePull: pull access denied for "ship:typo")'


async def test_inspect_of_a_missing_pod_is_missing(driver: KubernetesDriver) -> None:
    info = await driver.inspect("bay-sess-gone")

    assert (info.id, info.state) == ("bay-sess-gone", "missing")


async def test_remove_container_deletes_pod_and_policy(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()
    await driver.run_container(spec)

    await driver.remove_container(spec.name)

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()
    assert (await driver.inspect(spec.name)).state == "missing"


async def test_remove_container_that_is_gone_is_no_error(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    """A Pod already gone (deleted by hand, evicted) still has its NetworkPolicy removed."""
    spec, other = _spec(), _spec("sess-ffffffffffff")
    await driver.run_container(spec)
    await driver.run_container(other)
    del fake.objects["pods"][spec.name]

    await driver.remove_container(spec.name)

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == {other.name}
    assert (await driver.inspect(spec.name)).state == "missing"


async def test_failed_pod_create_leaves_nothing_behind(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.fail_next[("pods", "create")] = (403, "Forbidden")

    with pytest.raises(DriverError, match="creating Pod bay-sess-0a1b2c3d4e5f"):
        await driver.run_container(_spec())

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()


async def test_failed_policy_create_makes_no_pod(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.fail_next[("networkpolicies", "create")] = (500, "InternalError")

    with pytest.raises(DriverError, match="creating NetworkPolicy"):
        await driver.run_container(_spec())

    assert ("pods", "create") not in fake.calls
    assert _kinds(fake, "networkpolicies") == set()


@pytest.mark.parametrize("resource", ["networkpolicies", "pods"])
async def test_a_create_carried_out_after_the_caller_was_cancelled_is_undone(
    driver: KubernetesDriver, fake: FakeKubernetes, resource: str
) -> None:
    # Bay stopping cancels a pool refill while the API server holds its create: the
    # object is made after the cancel, and must not outlive it.
    release = asyncio.Event()
    fake.hold_next[(resource, "create")] = release
    running = asyncio.create_task(driver.run_container(_spec()))
    async with asyncio.timeout(10):
        assert await fake.held.get() == (resource, "create")
    running.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    async with asyncio.timeout(10):
        await fake.next_created(resource)  # made, whether before or after the cancel

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()


async def test_duplicate_name_is_a_driver_error_and_keeps_the_first(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()
    await driver.run_container(spec)

    with pytest.raises(DriverError, match="already exists"):
        await driver.run_container(spec)

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == {spec.name}


async def test_pod_of_the_same_name_is_left_alone_and_the_new_policy_removed(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()
    stray = {"metadata": {"name": spec.name}, "spec": {"containers": [{"name": "x"}]}}
    fake.objects["pods"][spec.name] = stray

    with pytest.raises(DriverError, match="already exists"):
        await driver.run_container(spec)

    assert fake.objects["pods"] == {spec.name: stray}
    assert _kinds(fake, "networkpolicies") == set()


async def test_invalid_ca_bundle_makes_nothing(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    with pytest.raises(DriverError, match="ConfigMap"):
        await driver.run_container(_spec(ca_bundle="/etc/ssl/ca.pem"))

    assert fake.calls == []


async def test_list_containers_by_labels(driver: KubernetesDriver, fake: FakeKubernetes) -> None:
    mine = _spec("sess-000000000001")
    other = _spec("sess-000000000002", labels={labels.INSTANCE: "other"})
    await driver.run_container(mine)
    await driver.run_container(other)
    fake.run_pod(mine.name)

    found = await driver.list_containers({labels.INSTANCE: "bay-unit"})
    by_owner = await driver.list_containers({labels.OWNER: OWNER})

    assert [(info.id, info.state) for info in found] == [(mine.name, "running")]
    assert found[0].labels == mine.labels
    assert [info.id for info in by_owner] == [mine.name]
    assert {info.id for info in await driver.list_containers({})} == {mine.name, other.name}


async def test_policy_left_without_its_pod_is_listed_to_be_reaped(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    spec = _spec()
    await driver.run_container(spec)
    del fake.objects["pods"][spec.name]  # as if Bay stopped between the two creates

    [left] = await driver.list_containers({labels.INSTANCE: "bay-unit"})
    assert (left.id, left.state, left.labels) == (spec.name, "exited", spec.labels)
    await driver.remove_container(left.id)

    assert _kinds(fake, "networkpolicies") == set()
    assert await driver.list_containers({labels.INSTANCE: "bay-unit"}) == []


async def test_logs_are_the_tail_as_written(driver: KubernetesDriver, fake: FakeKubernetes) -> None:
    spec = _spec()
    await driver.run_container(spec)
    fake.run_pod(spec.name)
    # A log that is JSON stays text, as written.
    fake.logs[spec.name] = "one\ntwo\n" + '{"three": 3}\n'

    assert await driver.logs(spec.name, tail=2) == 'two\n{"three": 3}\n'


async def test_logs_of_a_missing_pod_say_so(driver: KubernetesDriver) -> None:
    assert "not found" in await driver.logs("bay-sess-gone")


# copying volumes


async def _copy(driver: KubernetesDriver, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "image": "ship:latest",
        "labels": {labels.INSTANCE: "bay-unit", labels.ROLE: labels.COPY_ROLE},
        "replace": False,
        "timeout": DEADLINE_S,
    }
    arguments.update(overrides)
    return await driver.copy_volume("bay-cargo-ws-1", "bay-snapshot-snap-1", **arguments)


async def test_copy_volume_waits_for_the_helper_and_reads_the_size(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    copying = asyncio.create_task(_copy(driver, replace=True))
    name = await asyncio.wait_for(fake.next_created("pods"), DEADLINE_S)
    pod = fake.objects["pods"][name]
    policy = fake.objects["networkpolicies"][name]
    fake.run_pod(name)  # seen running at least once, then done
    assert (await driver.inspect(name)).state == "running"
    fake.end_pod(name, 0, log="4096\n")

    copied = await asyncio.wait_for(copying, DEADLINE_S)

    assert copied.size_bytes == 4096
    assert pod["spec"]["containers"][0]["command"][-1] == "replace"
    assert pod["metadata"]["labels"][labels.ROLE] == labels.COPY_ROLE
    # No network: no ingress, no egress.
    assert (policy["spec"]["ingress"], policy["spec"]["egress"]) == ([], [])
    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()


async def test_copy_volume_runs_where_the_source_is_mounted(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    session = _spec(volume="bay-cargo-ws-1")
    await driver.run_container(session)
    fake.run_pod(session.name, node="node-9")
    created: list[dict[str, Any]] = []

    def finish(pod: dict[str, Any]) -> None:
        created.append(pod)
        fake.end_pod(pod["metadata"]["name"], 0, log="1\n")

    fake.on_create = finish

    await _copy(driver)

    [helper] = created
    terms = helper["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms[0]["matchFields"][0]["values"] == ["node-9"]


async def test_copy_volume_failure_is_a_driver_error_with_the_output(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.on_create = lambda pod: fake.end_pod(
        pod["metadata"]["name"], 1, log="cp: cannot create regular file '/to/x': No space\n"
    )

    with pytest.raises(DriverError, match=r"failed \(exit 1\): cp: cannot create"):
        await _copy(driver)

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()


async def test_copy_volume_timeout_stops_the_helper(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    # The helper never ends (it stays Pending).
    with pytest.raises(Timeout, match=r"took more than 0\.2 s"):
        await _copy(driver, timeout=0.2)

    assert _kinds(fake, "pods") == _kinds(fake, "networkpolicies") == set()


async def test_copy_volume_with_an_image_that_cannot_be_pulled(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    fake.on_create = lambda pod: fake.wait_pod(
        pod["metadata"]["name"], "ImagePullBackOff", "Back-off pulling image"
    )

    with pytest.raises(ImageMissing, match="cannot be pulled"):
        await _copy(driver, image="ship:typo")

    assert _kinds(fake, "pods") == set()


async def test_copy_volume_helper_deleted_midway_is_a_driver_error(
    driver: KubernetesDriver, fake: FakeKubernetes
) -> None:
    copying = asyncio.create_task(_copy(driver))
    name = await asyncio.wait_for(fake.next_created("pods"), DEADLINE_S)
    del fake.objects["pods"][name]

    with pytest.raises(DriverError, match="deleted before it ended"):
        await asyncio.wait_for(copying, DEADLINE_S)


def test_owner_label_is_selected_by_its_mapped_value() -> None:
    # What the fake's selector sees: the mapped value (the API's own rule).
    assert label_value(OWNER) != OWNER
