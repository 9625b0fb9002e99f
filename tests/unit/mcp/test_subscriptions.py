"""Subscriptions in memory: the SDK's Client at 2026-07-28 (`subscriptions/listen`) and
at the handshake versions (`resources/subscribe`) against create_mcp_server over the
fakes. A run's changed files, a file call, a restore, a sandbox made or deleted: each
heard by its owner's subscribers only, once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp_types import Implementation

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.mcp import subscriptions
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from bay_mcp.services.changes import CargoChanged, Change, Changes
from bay_mcp.services.runs import PythonRun
from ship import protocol
from tests.fakes import FakeShip
from tests.subscribers import Updates, next_of

# The handshake versions' subscribe calls are deprecated at 2026-07-28; served all the same.
legacy = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


def owner_by_client_name(ctx: Any) -> str:
    """Each client says who it is: one server, several owners (as over HTTP)."""
    params = ctx.request_context.session.client_params
    return str(params.client_info.name)


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, owner_by_client_name)


def client(server: BayMCPServer, owner: str, **kwargs: Any) -> Client:
    return Client(server, client_info=Implementation(name=owner, version="1"), **kwargs)


def writes(ship: FakeShip, *paths: str) -> None:
    """The next python_exec reports it wrote `paths`."""
    ship.python_answer = protocol.PythonExecResult(
        success=True,
        output="",
        execution_count=1,
        execution_time_ms=1,
        files_changed=protocol.FilesChanged(
            files=[protocol.FileChange(path=p, change="created", size=1) for p in paths],
            total=len(paths),
        ),
    )


async def sandbox_of(bay: Bay, owner: str) -> str:
    return (await bay.sandboxes.create(owner)).id


async def run_writing(c: Client, ship: FakeShip, sandbox_id: str, *paths: str) -> None:
    writes(ship, *paths)
    result = await c.call_tool("python_exec", {"sandbox_id": sandbox_id, "code": "w()"})
    assert not result.is_error, result.content


# -- the handshake versions: resources/subscribe ------------------------------------------


@legacy
async def test_a_legacy_subscriber_hears_once_of_the_file_a_run_wrote(
    server: BayMCPServer, bay: Bay, ship: FakeShip
) -> None:
    sandbox_id = await sandbox_of(bay, "alice")
    out, other = f"cargo://{sandbox_id}/out.txt", f"cargo://{sandbox_id}/other.txt"
    updates = Updates()
    async with client(server, "alice", mode="legacy", message_handler=updates) as c:
        assert c.server_capabilities.resources is not None
        assert c.server_capabilities.resources.subscribe is True
        await c.session.subscribe_resource(out)
        await c.session.subscribe_resource(other)
        await run_writing(c, ship, sandbox_id, "out.txt", "notes.md")
        # A later change, heard after: anything more about out.txt would come before it.
        await run_writing(c, ship, sandbox_id, "other.txt")
        assert await updates.until(2) == [out, other]
        await c.session.unsubscribe_resource(other)
        await c.session.subscribe_resource(f"cargo://{sandbox_id}/")
        await run_writing(c, ship, sandbox_id, "other.txt", "out.txt")
        assert await updates.until(4) == [out, other, out, f"cargo://{sandbox_id}/"]


@legacy
async def test_a_legacy_subscribe_to_what_is_not_the_callers_is_refused(
    server: BayMCPServer, bay: Bay
) -> None:
    bobs = await sandbox_of(bay, "bob")
    async with client(server, "alice", mode="legacy") as c:
        for uri, says in [
            (f"cargo://{bobs}/out.txt", bobs),
            ("cargo://sbx-nothing/out.txt", "sbx-nothing"),
            ("skill://report", "only cargo://"),
        ]:
            with pytest.raises(MCPError) as refused:
                await c.session.subscribe_resource(uri)
            assert says in refused.value.error.message, uri


@legacy
async def test_a_file_written_over_rest_reaches_a_legacy_subscriber(
    server: BayMCPServer, bay: Bay
) -> None:
    sandbox_id = await sandbox_of(bay, "alice")
    updates = Updates()
    async with client(server, "alice", mode="legacy", message_handler=updates) as c:
        await c.session.subscribe_resource(f"cargo://{sandbox_id}/data.csv")
        await bay.files.write_text("alice", sandbox_id, "data.csv", "a,b\n", no_progress)
        assert await updates.until(1) == [f"cargo://{sandbox_id}/data.csv"]


# -- 2026-07-28: subscriptions/listen -----------------------------------------------------


async def test_a_listen_stream_hears_the_file_a_run_wrote(
    server: BayMCPServer, bay: Bay, ship: FakeShip
) -> None:
    sandbox_id = await sandbox_of(bay, "alice")
    out = f"cargo://{sandbox_id}/out.txt"
    async with client(server, "alice") as c:
        capabilities = c.server_capabilities
        assert capabilities.resources is not None
        assert capabilities.tools is not None
        assert (capabilities.resources.subscribe, capabilities.resources.list_changed) == (
            True,
            True,
        )
        assert not capabilities.tools.list_changed  # Bay's tools never change
        async with c.listen(resource_subscriptions=[out, f"cargo://{sandbox_id}/"]) as events:
            await run_writing(c, ship, sandbox_id, "out.txt")
            assert await next_of(events) == ResourceUpdated(uri=out)
            assert await next_of(events) == ResourceUpdated(uri=f"cargo://{sandbox_id}/")
            # The file tools too: each call heard as the file, then the whole cargo.
            for tool, arguments in [
                ("write_file", {"path": "out.txt", "content": "hello"}),
                ("edit_file", {"path": "out.txt", "old_string": "hello", "new_string": "hi"}),
                ("delete_file", {"path": "out.txt"}),
            ]:
                done = await c.call_tool(tool, {"sandbox_id": sandbox_id, **arguments})
                assert not done.is_error, done.content
                assert await next_of(events) == ResourceUpdated(uri=out)
                assert await next_of(events) == ResourceUpdated(uri=f"cargo://{sandbox_id}/")


async def test_a_listen_stream_never_hears_another_owners_sandbox(
    server: BayMCPServer, bay: Bay, ship: FakeShip
) -> None:
    alices, bobs = await sandbox_of(bay, "alice"), await sandbox_of(bay, "bob")
    async with client(server, "alice") as alice, client(server, "bob") as bob:
        watched = [f"cargo://{alices}/out.txt", f"cargo://{bobs}/mine.txt"]
        async with bob.listen(
            resource_subscriptions=watched, resources_list_changed=True
        ) as events:
            await run_writing(alice, ship, alices, "out.txt")
            await alice.call_tool("create_sandbox", {})
            await bob.call_tool(
                "write_file", {"sandbox_id": bobs, "path": "mine.txt", "content": "x"}
            )
            # Alice's run and her new sandbox came first; bob hears only his own file.
            assert await next_of(events) == ResourceUpdated(uri=f"cargo://{bobs}/mine.txt")


async def test_a_restore_is_heard_as_the_whole_cargo(server: BayMCPServer, bay: Bay) -> None:
    sandbox_id = await sandbox_of(bay, "alice")
    snapshot = await bay.snapshots.create("alice", sandbox_id)
    root = f"cargo://{sandbox_id}/"
    async with client(server, "alice") as c, c.listen(resource_subscriptions=[root]) as events:
        await bay.snapshots.restore("alice", sandbox_id, snapshot.id)
        assert await next_of(events) == ResourceUpdated(uri=root)


async def test_the_resource_list_changes_when_a_sandbox_is_made_or_deleted(
    server: BayMCPServer, bay: Bay
) -> None:
    async with client(server, "alice") as c, c.listen(resources_list_changed=True) as events:
        made = await c.call_tool("create_sandbox", {})
        assert made.structured_content is not None
        assert await next_of(events) == ResourcesListChanged()
        await c.call_tool("delete_sandbox", {"sandbox_id": made.structured_content["id"]})
        assert await next_of(events) == ResourcesListChanged()


async def test_a_write_to_a_sandboxs_cargo_over_the_cargo_routes_is_heard(
    server: BayMCPServer, bay: Bay
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    uri = f"cargo://{sandbox.id}/a.txt"
    async with client(server, "alice") as c, c.listen(resource_subscriptions=[uri]) as events:
        await bay.cargo_files.write_text("alice", sandbox.cargo_id, "a.txt", "hello")
        assert await next_of(events) == ResourceUpdated(uri=uri)


async def test_a_skill_released_or_deleted_changes_the_prompt_and_resource_lists(
    server: BayMCPServer, bay: Bay
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    run = await bay.execution.run("alice", sandbox.id, PythonRun(code="1"), no_progress)
    candidate = await bay.skills.create_candidate("alice", "report", [run.execution_id])
    await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
    async with (
        client(server, "alice") as c,
        c.listen(prompts_list_changed=True, resources_list_changed=True) as events,
    ):
        release = await bay.skills.promote_candidate("alice", candidate.id)
        assert {await next_of(events), await next_of(events)} == {
            PromptsListChanged(),
            ResourcesListChanged(),
        }
        await bay.skills.delete_release("alice", release.id)
        assert await next_of(events) == PromptsListChanged()


# -- coalescing and bounds ----------------------------------------------------------------


async def test_many_files_in_a_window_are_told_as_the_cargo_root() -> None:
    now = [0.0]
    changes = Changes(files_per_window=3, window_seconds=1.0, clock=lambda: now[0])
    heard: list[Change] = []

    async def listener(change: Change) -> None:
        heard.append(change)

    changes.subscribe(listener)
    paths = [f"f{i}.txt" for i in range(1000)]
    await changes.files("alice", "sbx-1", paths)
    await changes.files("alice", "sbx-1", ["late.txt"])
    await changes.files("alice", "sbx-2", ["a.txt", "a.txt"])
    now[0] = 1.0
    await changes.files("alice", "sbx-1", ["next.txt"])
    assert [c.uris for c in heard if isinstance(c, CargoChanged)] == [
        ("cargo://sbx-1/f0.txt", "cargo://sbx-1/f1.txt", "cargo://sbx-1/f2.txt", "cargo://sbx-1/"),
        ("cargo://sbx-1/",),
        ("cargo://sbx-2/a.txt", "cargo://sbx-2/"),
        ("cargo://sbx-1/next.txt", "cargo://sbx-1/"),
    ]


async def test_a_legacy_subscriber_that_stops_reading_loses_updates_past_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = asyncio.Event()

    class Stuck:
        async def send_resource_updated(self, uri: str) -> None:
            await stuck.wait()

    subscriber = subscriptions._Connection(Stuck(), "alice")  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.WARNING, logger=subscriptions.__name__):
            for i in range(subscriptions.PER_CLIENT + 2):
                subscriber.offer(f"cargo://sbx-1/{i}")
                subscriber.offer(f"cargo://sbx-1/{i}")  # the same again: already queued
        assert "updates behind" in caplog.text
    finally:
        subscriber.close()
