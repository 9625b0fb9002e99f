"""The console's actions over the fake Bay: each does what its REST endpoint does, then
sends the browser back (303) with a notice; a refused one says why on a page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import NotFound, Unauthorized
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun
from tests.unit.console.conftest import Browser


def notice_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["notice"][0]


async def started(bay: Bay, owner: str = "alice") -> str:
    sandbox = await bay.sandboxes.create(owner)
    await bay.execution.run(owner, sandbox.id, PythonRun(code="x = 1"), no_progress)
    return sandbox.id


async def test_stop_keeps_the_sandbox_and_delete_removes_it(bay: Bay, alice: Browser) -> None:
    sandbox_id = await started(bay)
    stopped = await alice.post(f"/ui/sandboxes/{sandbox_id}/stop")
    assert stopped.status_code == 303
    assert stopped.headers["location"].startswith(f"/ui/sandboxes/{sandbox_id}?")
    assert "files are kept" in notice_of(stopped.headers["location"])
    assert (await bay.sandboxes.get("alice", sandbox_id)).status == "idle"
    deleted = await alice.post(f"/ui/sandboxes/{sandbox_id}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"].startswith("/ui/sandboxes?")
    with pytest.raises(NotFound):
        await bay.sandboxes.get("alice", sandbox_id)
    # The notice is shown on the page the browser is sent to.
    shown = await alice.client.get(deleted.headers["location"])
    assert f"sandbox {sandbox_id} deleted" in shown.text


async def test_an_admin_acts_on_another_owners_sandbox(bay: Bay, admin: Browser) -> None:
    sandbox_id = await started(bay)
    assert (await admin.post(f"/ui/sandboxes/{sandbox_id}/delete")).status_code == 303
    with pytest.raises(NotFound):
        await bay.sandboxes.get("alice", sandbox_id)


async def test_snapshots_are_taken_restored_forked_and_deleted(bay: Bay, alice: Browser) -> None:
    sandbox_id = await started(bay)
    base = f"/ui/sandboxes/{sandbox_id}"
    taken = await alice.post(f"{base}/snapshots", {"name": "before"})
    assert taken.status_code == 303
    [snapshot] = (await bay.snapshots.list("alice", sandbox_id)).snapshots
    assert snapshot.name == "before"
    overview = await alice.get(base)
    assert snapshot.id in overview.text

    restored = await alice.post(f"{base}/snapshots/{snapshot.id}/restore")
    assert restored.status_code == 303
    assert f"restored {snapshot.id}" in notice_of(restored.headers["location"])

    forked = await alice.post(f"{base}/snapshots/{snapshot.id}/fork")
    assert forked.status_code == 303
    fork_id = urlsplit(forked.headers["location"]).path.rsplit("/", 1)[-1]
    assert fork_id != sandbox_id
    assert (await bay.sandboxes.get("alice", fork_id)).id == fork_id

    deleted = await alice.post(f"{base}/snapshots/{snapshot.id}/delete")
    assert deleted.status_code == 303
    assert (await bay.snapshots.list("alice", sandbox_id)).snapshots == []
    again = await alice.post(f"{base}/snapshots/{snapshot.id}/delete")
    assert again.status_code == 404


async def test_files_are_uploaded_and_deleted_through_forms(bay: Bay, alice: Browser) -> None:
    sandbox_id = await started(bay)
    base = f"/ui/sandboxes/{sandbox_id}/files"
    uploaded = await alice.post(
        f"{base}/upload", files={"file": ("C:\\Users\\me\\report.csv", b"a,b\n1,2\n")}
    )
    assert uploaded.status_code == 303
    assert "uploaded report.csv (8 bytes)" in notice_of(uploaded.headers["location"])
    listing = await bay.files.list_directory("alice", sandbox_id, ".", no_progress)
    assert "report.csv" in [entry.name for entry in listing.entries]

    deleted = await alice.post(f"{base}/delete", {"path": "report.csv"})
    assert deleted.status_code == 303
    assert parse_qs(urlsplit(deleted.headers["location"]).query)["path"] == ["."]
    listing = await bay.files.list_directory("alice", sandbox_id, ".", no_progress)
    assert "report.csv" not in [entry.name for entry in listing.entries]


async def test_a_form_missing_its_file_or_path_is_refused(bay: Bay, alice: Browser) -> None:
    sandbox_id = await started(bay)
    base = f"/ui/sandboxes/{sandbox_id}/files"
    no_file = await alice.post(f"{base}/upload", {"dir": "."})
    assert no_file.status_code == 400
    assert "choose a file" in no_file.text
    nameless = await alice.post(f"{base}/upload", files={"file": ("..", b"x")})
    assert nameless.status_code == 400
    no_path = await alice.post(f"{base}/delete", {"path": "  "})
    assert no_path.status_code == 400
    assert "path is missing" in no_path.text
    escape = await alice.post(f"{base}/delete", {"path": "../etc/passwd"})
    assert escape.status_code == 400


async def test_a_new_key_is_shown_once_and_revoking_ends_its_use(
    bay: Bay, admin: Browser, alice: Browser
) -> None:
    created = await admin.post("/ui/keys", {"owner": "carol", "expires_in_days": "30"})
    assert created.status_code == 200
    assert "copy it now" in created.text
    [view] = [k for k in await bay.keys.list() if k.owner == "carol"]
    assert view.expires_at is not None
    key = created.text.split('<pre class="code" id="new-key">', 1)[1].split("</pre>", 1)[0]
    assert await bay.keys.authenticate(key) == "carol"
    listed = await admin.get("/ui/keys")
    assert view.id in listed.text
    assert key not in listed.text  # never shown again

    revoked = await admin.post(f"/ui/keys/{view.id}/revoke")
    assert revoked.status_code == 303
    assert revoked.headers["location"].startswith("/ui/keys?")
    with pytest.raises(Unauthorized, match="revoked"):
        await bay.keys.authenticate(key)

    # Not an admin: refused, nothing made.
    refused = await alice.post("/ui/keys", {"owner": "mallory"})
    assert refused.status_code == 403
    assert not [k for k in await bay.keys.list() if k.owner == "mallory"]
    assert (await alice.post(f"/ui/keys/{view.id}/revoke")).status_code == 403


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"owner": "carol", "expires_in_days": "0"}, "whole number of days"),
        ({"owner": "carol", "expires_in_days": "-1"}, "whole number of days"),
        ({"owner": "carol", "expires_in_days": "3651"}, "whole number of days"),
        ({"owner": ""}, "owner is missing"),
        ({"owner": "not an owner!"}, "owner"),
    ],
)
async def test_a_bad_key_form_makes_no_key(
    bay: Bay, admin: Browser, form: dict[str, str], says: str
) -> None:
    before = len(await bay.keys.list())
    refused = await admin.post("/ui/keys", form)
    assert refused.status_code == 400
    assert says in refused.text
    assert len(await bay.keys.list()) == before
