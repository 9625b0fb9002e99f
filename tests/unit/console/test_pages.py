"""The console's pages over the fake Bay: each renders for the sandbox's owner (and an
admin), and is 404 for anyone else, as REST and MCP are."""

from __future__ import annotations

import asyncio
import base64

import pytest

from bay_mcp.bay import Bay
from bay_mcp.console.pages import _crumbs, _data_url
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun, ShellRun
from ship import protocol
from tests.fakes import FakeShip
from tests.unit.console.conftest import Browser

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake picture").decode()
TABS = ["", "/files", "/runs", "/terminal", "/live"]


async def ran(bay: Bay, ship: FakeShip, owner: str = "alice") -> tuple[str, str]:
    """A sandbox that ran Python showing a picture: its id and the run's."""
    sandbox = await bay.sandboxes.create(owner)
    ship.python_answer = protocol.PythonExecResult(
        success=True,
        output="plotted\n",
        outputs=[protocol.RichOutput(mime_type="image/png", data=PNG)],
    )
    result = await bay.execution.run(owner, sandbox.id, PythonRun(code="plot()"), no_progress)
    ship.python_answer = None
    await bay.history.flush()
    return sandbox.id, result.execution_id


async def test_every_page_of_a_sandbox_renders_for_its_owner(
    bay: Bay, ship: FakeShip, alice: Browser
) -> None:
    sandbox_id, execution_id = await ran(bay, ship)
    listing = await alice.get("/ui/sandboxes")
    assert listing.status_code == 200
    assert sandbox_id in listing.text
    for tab in TABS:
        page = await alice.get(f"/ui/sandboxes/{sandbox_id}{tab}")
        assert page.status_code == 200, (tab, page.text)
    overview = await alice.get(f"/ui/sandboxes/{sandbox_id}")
    assert "plot()" in overview.text
    runs = await alice.get(f"/ui/sandboxes/{sandbox_id}/runs")
    assert execution_id in runs.text
    run = await alice.get(f"/ui/sandboxes/{sandbox_id}/runs/{execution_id}")
    assert run.status_code == 200
    assert "plotted" in run.text
    assert f'src="data:image/png;base64,{PNG}"' in run.text
    health = await alice.get("/ui/health")
    assert health.status_code == 200
    assert "Health" in health.text


async def test_a_sandbox_of_someone_else_is_not_found(
    bay: Bay, ship: FakeShip, alice: Browser, bob: Browser
) -> None:
    sandbox_id, execution_id = await ran(bay, ship)
    for path in [*TABS, f"/runs/{execution_id}", "/files/download?path=a.txt"]:
        page = await bob.get(f"/ui/sandboxes/{sandbox_id}{path}")
        assert page.status_code == 404, path
        assert sandbox_id in page.text
    assert sandbox_id not in (await bob.get("/ui/sandboxes")).text
    refused = await bob.post(f"/ui/sandboxes/{sandbox_id}/delete")
    assert refused.status_code == 404
    assert (await bay.sandboxes.get("alice", sandbox_id)).id == sandbox_id


async def test_an_admin_sees_every_owners_sandboxes(
    bay: Bay, ship: FakeShip, admin: Browser
) -> None:
    sandbox_id, execution_id = await ran(bay, ship)
    listing = await admin.get("/ui/sandboxes")
    assert sandbox_id in listing.text
    assert sandbox_id in (await admin.get("/ui/sandboxes", params={"owner": "alice"})).text
    assert sandbox_id not in (await admin.get("/ui/sandboxes", params={"owner": "bob"})).text
    run = await admin.get(f"/ui/sandboxes/{sandbox_id}/runs/{execution_id}")
    assert run.status_code == 200
    assert (await admin.get("/ui/sandboxes/sandbox-nope")).status_code == 404


async def test_a_bad_filter_is_said_on_the_page(alice: Browser) -> None:
    for params in ({"status": "sunny"}, {"owner": "not an owner!"}):
        page = await alice.get("/ui/sandboxes", params=params)
        assert page.status_code == 400
    assert (await alice.get("/ui/sandboxes", params={"status": "ready"})).status_code == 200


async def test_a_run_not_in_the_sandbox_is_not_found(bay: Bay, alice: Browser) -> None:
    sandbox = await bay.sandboxes.create("alice")
    page = await alice.get(f"/ui/sandboxes/{sandbox.id}/runs/exec-nope")
    assert page.status_code == 404
    assert (await alice.get(f"/ui/sandboxes/{sandbox.id}/runs?offset=x")).status_code == 400


async def test_the_live_fragment_shows_a_run_in_progress(
    bay: Bay, ship: FakeShip, alice: Browser
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    running = asyncio.create_task(
        bay.execution.run(
            "alice", sandbox.id, PythonRun(code="train()"), no_progress, on_output=lambda _: None
        )
    )
    await asyncio.wait_for(ship.python_started.wait(), timeout=5)
    live = await alice.get(f"/ui/sandboxes/{sandbox.id}/live", htmx=True)
    assert live.status_code == 200
    assert "train()" in live.text
    ship.block_python.set()
    await asyncio.wait_for(running, timeout=5)
    assert "train()" not in (await alice.get(f"/ui/sandboxes/{sandbox.id}/live")).text


async def test_files_are_listed_and_downloaded(bay: Bay, alice: Browser) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.execution.run("alice", sandbox.id, ShellRun(command="mkdir -p data"), no_progress)
    files = await alice.get(f"/ui/sandboxes/{sandbox.id}/files")
    assert files.status_code == 200
    uploaded = await alice.post(
        f"/ui/sandboxes/{sandbox.id}/files/upload",
        {"dir": "data"},
        files={"file": ("notes.txt", b"hello console")},
    )
    assert uploaded.status_code == 303
    listed = await alice.get(f"/ui/sandboxes/{sandbox.id}/files", params={"path": "data"})
    assert "notes.txt" in listed.text
    got = await alice.get(
        f"/ui/sandboxes/{sandbox.id}/files/download", params={"path": "data/notes.txt"}
    )
    assert got.status_code == 200
    assert got.content == b"hello console"
    assert "attachment" in got.headers["content-disposition"]


async def test_usage_cells_only_for_the_callers_sandboxes(
    bay: Bay, alice: Browser, bob: Browser
) -> None:
    mine = await bay.sandboxes.create("alice")
    theirs = await bay.sandboxes.create("bob")
    cells = await alice.get("/ui/usage", params={"ids": f"{mine.id},{theirs.id},,sb-nope"})
    assert cells.status_code == 200
    assert mine.id in cells.text
    assert theirs.id not in cells.text


async def test_the_keys_page_is_for_admins_only(alice: Browser, admin: Browser) -> None:
    refused = await alice.get("/ui/keys")
    assert refused.status_code == 403
    assert "BAY_ADMIN_OWNERS" in refused.text
    assert 'href="/ui/keys"' not in (await alice.get("/ui/sandboxes")).text
    page = await admin.get("/ui/keys")
    assert page.status_code == 200
    assert "alice" in page.text  # her key is listed (never the key itself)


@pytest.mark.parametrize(
    ("path", "crumbs"),
    [
        (".", [("workspace", ".")]),
        ("", [("workspace", ".")]),
        ("/", [("workspace", ".")]),
        ("data", [("workspace", "."), ("data", "data")]),
        ("data/raw/2026/", [("workspace", "."), ("data", "data"), ("raw", "data/raw"),
                            ("2026", "data/raw/2026")]),
        ("./a//b", [("workspace", "."), ("a", "a"), ("b", "a/b")]),
    ],
)  # fmt: skip
def test_crumbs_lead_from_the_workspace_down(path: str, crumbs: list[tuple[str, str]]) -> None:
    assert _crumbs(path) == crumbs


def test_a_picture_that_is_not_base64_is_not_shown() -> None:
    assert _data_url(PNG, "image/png") == f"data:image/png;base64,{PNG}"
    assert _data_url("not base64!", "image/png") == ""
