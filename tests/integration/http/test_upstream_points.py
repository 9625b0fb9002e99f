"""Points of upstream Shipyard Neo's contract its own test suite checks against us: a
shell run's `command`, a refused `cwd` named as such, an unknown `exec_type`, Ship's
`/meta` read from inside the sandbox, and the host name `ship` (docs/rest.md lists where
we differ on purpose)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    profiles = [{"id": "python-default", "warm_pool_size": 0}]
    with running_server(("alice",), BAY_PROFILES=json.dumps(profiles)) as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


@pytest.fixture(scope="module")
def sandbox(alice: httpx.Client) -> Iterator[str]:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    yield sandbox_id
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def shell(alice: httpx.Client, sandbox: str, command: str, **more: str) -> httpx.Response:
    return alice.post(
        f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": command, **more}, timeout=120
    )


def test_a_shell_run_carries_its_command_in_the_result_and_the_history(
    alice: httpx.Client, sandbox: str
) -> None:
    ran = shell(alice, sandbox, "echo hello")
    assert ran.status_code == 200, ran.text
    assert ran.json()["command"] == "echo hello"
    entry = alice.get(f"/v1/sandboxes/{sandbox}/history/{ran.json()['execution_id']}").json()
    assert (entry["exec_type"], entry["command"]) == ("shell", "echo hello")
    python = alice.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "1"}).json()
    entry = alice.get(f"/v1/sandboxes/{sandbox}/history/{python['execution_id']}").json()
    assert entry["command"] is None


def test_a_cwd_outside_the_workspace_is_refused_by_name(alice: httpx.Client, sandbox: str) -> None:
    refused = shell(alice, sandbox, "pwd", cwd="../etc")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_path", "cwd")
    assert error["message"].startswith("cwd")


def test_an_unknown_exec_type_is_a_validation_error(alice: httpx.Client, sandbox: str) -> None:
    for path in ("history", "history/last"):
        refused = alice.get(f"/v1/sandboxes/{sandbox}/{path}", params={"exec_type": "perl"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "validation_error"


def test_code_in_the_sandbox_reads_ships_meta_and_the_name_ship(
    alice: httpx.Client, sandbox: str
) -> None:
    read = (
        'python3 -c "import json, urllib.request; meta = json.load(urllib.request.urlopen('
        "'http://localhost:8123/meta')); print(meta['runtime']['name'], "
        "meta['runtime']['version'])\""
    )
    ran = shell(alice, sandbox, read)
    assert ran.status_code == 200, ran.text
    name, version = ran.json()["output"].split()
    assert name == "ship"
    assert version
    # Every other route of Ship still wants Bay's token.
    guarded = shell(
        alice, sandbox, "python3 -c \"import urllib.request; "
        "urllib.request.urlopen('http://localhost:8123/filesystem/directories')\""
    )  # fmt: skip
    assert "401" in guarded.json()["output"], guarded.json()
    resolved = shell(alice, sandbox, "getent hosts ship")
    assert resolved.json()["output"].split()[0] == "127.0.0.1", resolved.json()
