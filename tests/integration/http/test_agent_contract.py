"""Contract points upstream clients rely on, over REST: env on create (names only in
views), containers with their runtime version, singular GC task names, a shell cwd
that leaves the workspace refused before anything runs."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.integration.http.conftest import HttpBay, error_of


def test_env_on_create_reaches_the_code_and_only_names_come_back(
    bay_http: HttpBay, alice: httpx.Client
) -> None:
    secret = f"value-{secrets.token_hex(8)}"
    made = alice.post("/v1/sandboxes", json={"env": {"API_TOKEN": secret, "MODE": "test"}})
    assert made.status_code == 201, made.text
    sandbox = made.json()
    assert sandbox["env"] == ["API_TOKEN", "MODE"]
    assert secret not in made.text
    shell = alice.post(f"/v1/sandboxes/{sandbox['id']}/shell/exec",
                       json={"command": "echo $MODE"})  # fmt: skip
    assert shell.json()["output"] == "test\n"
    checked = alice.post(
        f"/v1/sandboxes/{sandbox['id']}/python/exec",
        json={"code": f"import os; print(os.environ['API_TOKEN'] == {secret!r})"},
    )
    assert checked.json()["output"] == "True\n"
    for response in (alice.get(f"/v1/sandboxes/{sandbox['id']}"), alice.get("/v1/sandboxes")):
        assert secret not in response.text
    assert secret not in (bay_http.data_dir / "server.log").read_text()
    assert alice.delete(f"/v1/sandboxes/{sandbox['id']}").status_code == 204


def test_bad_env_is_400_naming_the_variable(bay_http: HttpBay, alice: httpx.Client) -> None:
    before = bay_http.volumes()
    for env, name in (({"PATH": "/x"}, "PATH"), ({"SHIP_X": "1"}, "SHIP_X"),
                      ({"no spaces": "1"}, "no spaces")):  # fmt: skip
        error = error_of(alice.post("/v1/sandboxes", json={"env": env}), 400, "validation_error")
        assert repr(name) in str(error["message"])
        assert error["details"]["field"] == "env"  # type: ignore[index]
    assert bay_http.volumes() == before


def test_containers_show_the_running_session_with_its_version(alice: httpx.Client) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    idle = alice.get(f"/v1/sandboxes/{sandbox_id}").json()
    assert idle["containers"] is None  # the contract: null while no session runs
    alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1"})
    [container] = alice.get(f"/v1/sandboxes/{sandbox_id}").json()["containers"]
    assert container["runtime_type"] == "ship"
    assert container["status"] == "ready"
    assert set(container["capabilities"]) == {"python", "shell", "filesystem"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", container["version"])
    assert container["name"].startswith("bay-sess-")
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


def test_gc_accepts_singular_task_names(bay_http: HttpBay) -> None:
    with bay_http.client("admin") as admin:
        tasks = ["idle_session", "expired_sandbox", "orphan_container", "orphan_cargo"]
        report = admin.post("/v1/admin/gc/run", json={"tasks": tasks})
        assert report.status_code == 200, report.text
        assert [r["task_name"] for r in report.json()["results"]] == tasks
        plural = admin.post("/v1/admin/gc/run", json={"tasks": ["idle_sessions"]}).json()
        assert [r["task_name"] for r in plural["results"]] == ["idle_sessions"]
        error_of(admin.post("/v1/admin/gc/run", json={"tasks": ["nope"]}), 400,
                 "validation_error")  # fmt: skip


def test_a_cwd_outside_the_workspace_is_invalid_path_and_nothing_runs(
    alice: httpx.Client,
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    exec_url = f"/v1/sandboxes/{sandbox_id}/shell/exec"
    alice.post(exec_url, json={"command": "ln -s /etc out && mkdir -p inside"})
    for cwd in ("/", "/tmp", "..", "inside/../..", "out"):
        refused = alice.post(exec_url, json={"command": "touch ran-here", "cwd": cwd})
        error_of(refused, 400, "invalid_path")
    listing = alice.post(exec_url, json={"command": "find / -name ran-here 2>/dev/null"})
    assert listing.json()["output"] == ""  # nothing ran anywhere
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
