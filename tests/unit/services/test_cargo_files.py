"""The cargo file service over the fakes: a helper, never the sandbox's container."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.bay import Bay
from bay_mcp.drivers.docker import DockerDriver
from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.errors import (
    CapabilityNotSupported,
    Conflict,
    FileNotFound,
    InvalidPath,
    NotFound,
    PayloadTooLarge,
)
from bay_mcp.managers import labels, no_progress
from bay_mcp.services.runs import PythonRun
from tests.fakes import BytesUpload, FakeDriver, FakeShip


def sandbox_containers(driver: FakeDriver, sandbox_id: str) -> list[str]:
    return [
        c.info.id
        for c in driver.containers.values()
        if c.info.labels.get(labels.SANDBOX) == sandbox_id
    ]


def helpers(driver: FakeDriver) -> list[str]:
    return [
        c.info.id
        for c in driver.containers.values()
        if c.info.labels.get(labels.ROLE) == labels.CARGO_FILES_ROLE
    ]


async def test_a_write_starts_a_helper_not_the_sandbox_and_the_sandbox_sees_it(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    written = await bay.cargo_files.write_text("alice", sandbox.cargo_id, "a/b.txt", "hello")
    assert (written.path, written.size) == ("a/b.txt", 5)
    assert sandbox_containers(driver, sandbox.id) == []
    [helper] = helpers(driver)
    spec = driver.containers[helper].spec
    assert spec.volume == labels.cargo_volume_name(sandbox.cargo_id)
    assert spec.labels[labels.CARGO] == sandbox.cargo_id
    assert labels.SANDBOX not in spec.labels
    assert labels.SESSION not in spec.labels
    assert spec.env["SHIP_CARGO_HELPER"] == "1"  # leaves the sandbox's env file alone
    assert "SHIP_USER_ENV" not in spec.env

    read = await bay.cargo_files.read_text("alice", sandbox.cargo_id, "a/b.txt")
    assert read.content == "hello"
    assert helpers(driver) == [helper]  # reused while warm
    seen = await bay.files.read_text("alice", sandbox.id, "a/b.txt", no_progress)
    assert seen.content == "hello"


async def test_list_delete_upload_download(bay: Bay) -> None:
    cargo = await bay.cargos.create("alice")
    uploaded = await bay.cargo_files.upload("alice", cargo.id, BytesUpload("d/x.bin", b"\x00\x01"))
    assert (uploaded.path, uploaded.size) == ("d/x.bin", 2)
    listing = await bay.cargo_files.list_directory("alice", cargo.id, "d")
    assert [(e.name, e.path, e.is_file, e.size) for e in listing.entries] == [
        ("x.bin", "d/x.bin", True, 2)
    ]
    async with bay.cargo_files.download("alice", cargo.id, "d/x.bin") as download:
        assert download.size == 2
        assert b"".join([chunk async for chunk in download.chunks]) == b"\x00\x01"
    assert await bay.cargo_files.delete("alice", cargo.id, "d/x.bin") == "d/x.bin"
    with pytest.raises(FileNotFound):
        await bay.cargo_files.read_text("alice", cargo.id, "d/x.bin")


async def test_an_upload_over_the_cargo_limit_is_refused(bay: Bay) -> None:
    cargo = await bay.cargos.create("alice", size_limit_mb=1)
    with pytest.raises(PayloadTooLarge) as refused:
        await bay.cargo_files.upload("alice", cargo.id, BytesUpload("big", b"x" * (2 << 20)))
    assert refused.value.details == {"limit_bytes": 1 << 20}


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a\x00b"])
async def test_paths_escaping_the_cargo_are_refused(
    bay: Bay, driver: FakeDriver, path: str
) -> None:
    cargo = await bay.cargos.create("alice")
    with pytest.raises(InvalidPath):
        await bay.cargo_files.write_text("alice", cargo.id, path, "x")
    with pytest.raises(InvalidPath):
        await bay.cargo_files.read_text("alice", cargo.id, path)
    assert helpers(driver) == []


async def test_another_owners_cargo_is_not_found(bay: Bay) -> None:
    cargo = await bay.cargos.create("alice")
    with pytest.raises(NotFound):
        await bay.cargo_files.read_text("bob", cargo.id, "a.txt")
    with pytest.raises(NotFound):
        await bay.cargo_files.write_text("bob", cargo.id, "a.txt", "x")


async def test_a_write_during_an_exec_is_refused_with_conflict_and_reads_go_on(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    running = asyncio.create_task(
        bay.execution.run("alice", sandbox.id, PythonRun(code="work()", timeout=30), no_progress)
    )
    await ship.python_started.wait()
    with pytest.raises(Conflict) as refused:
        await bay.cargo_files.write_text("alice", sandbox.cargo_id, "a.txt", "x")
    assert refused.value.details == {"active_sandbox_ids": [sandbox.id]}
    assert "retry" in refused.value.message.lower()
    with pytest.raises(Conflict):
        await bay.cargo_files.delete("alice", sandbox.cargo_id, "a.txt")
    with pytest.raises(Conflict):
        await bay.cargo_files.upload("alice", sandbox.cargo_id, BytesUpload("a.txt", b"x"))
    listing = await bay.cargo_files.list_directory("alice", sandbox.cargo_id, ".")
    assert listing.entries == []
    ship.block_python.set()
    await running
    await bay.cargo_files.write_text("alice", sandbox.cargo_id, "a.txt", "x")


async def test_a_call_arriving_during_a_write_waits_for_it(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.files.write_text("alice", sandbox.id, "warm", "", no_progress)
    entered, release = asyncio.Event(), asyncio.Event()
    original = ship.write_file

    async def slow_write(endpoint, path, content):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        return await original(endpoint, path, content)

    ship.write_file = slow_write  # type: ignore[method-assign]
    writing = asyncio.create_task(bay.cargo_files.write_text("alice", sandbox.cargo_id, "a", "x"))
    await entered.wait()
    reading = asyncio.create_task(bay.files.read_text("alice", sandbox.id, "a", no_progress))
    for _ in range(50):  # every step the read could take without the write's end
        await asyncio.sleep(0)
    assert not reading.done()
    release.set()
    await writing
    assert (await reading).content == "x"


async def test_the_helper_is_removed_when_idle_and_with_its_cargo(
    bay: Bay, driver: FakeDriver
) -> None:
    cargo = await bay.cargos.create("alice")
    await bay.cargo_files.write_text("alice", cargo.id, "a", "x")
    assert await bay.cargo_helpers.sweep() == 0  # just used
    assert len(helpers(driver)) == 1
    await bay.cargos.delete("alice", cargo.id)
    assert helpers(driver) == []


async def test_kubernetes_says_it_cannot(bay: Bay, driver: FakeDriver) -> None:
    cargo = await bay.cargos.create("alice")
    driver.shares_volumes = False
    with pytest.raises(CapabilityNotSupported) as refused:
        await bay.cargo_files.read_text("alice", cargo.id, "a")
    assert "sandbox" in refused.value.message
    assert helpers(driver) == []


def test_the_kubernetes_driver_does_not_share_volumes() -> None:
    assert KubernetesDriver.shares_volumes is False
    assert DockerDriver.shares_volumes is True


async def test_a_stopped_sandboxs_resource_is_read_through_its_cargo(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.cargo_files.write_text("alice", sandbox.cargo_id, "notes/n.md", "# hi")
    read = await bay.files.read_resource("alice", sandbox.id, "notes/n.md")
    assert (read.content, read.mime_type) == ("# hi", "text/markdown")
    listing = await bay.files.read_resource("alice", sandbox.id, "notes")
    assert '"n.md"' in str(listing.content)
    assert sandbox_containers(driver, sandbox.id) == []
    with pytest.raises(NotFound):
        await bay.files.read_resource("bob", sandbox.id, "notes/n.md")


async def test_a_running_sandboxs_resource_is_read_through_its_session(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.files.write_text("alice", sandbox.id, "a.txt", "x", no_progress)
    assert (await bay.files.read_resource("alice", sandbox.id, "a.txt")).content == "x"
    assert helpers(driver) == []


async def test_deleting_the_sandbox_removes_its_cargos_helper(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.cargo_files.write_text("alice", sandbox.cargo_id, "a", "x")
    assert len(helpers(driver)) == 1
    await bay.sandboxes.delete("alice", sandbox.id)
    assert helpers(driver) == []
    assert labels.cargo_volume_name(sandbox.cargo_id) not in driver.volumes
