"""Lifecycle against real Docker: idle reaping, expiry, orphans, crashes, races.

The server here runs no periodic reaper (BAY_GC_ENABLED=false) unless a test says
otherwise: tests trigger runs through the admin API and poll with deadlines.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import IMAGE, TEST_LABEL, docker
from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    running_server,
    start_server,
    stop_server,
)
from tests.integration.http.docker_proxy import DockerProxy

PROFILES = json.dumps(
    [
        {"id": "python-default", "warm_pool_size": 0},
        {"id": "quick", "idle_timeout_seconds": 1},
    ]
)
SETTINGS = {
    "BAY_ALLOW_ANONYMOUS": "false",
    "BAY_PROFILES": PROFILES,
    "BAY_GC_ENABLED": "false",
    "BAY_GC_ORPHAN_GRACE_SECONDS": "0",
    # Twenty execs race the reaper at once: above the default per-owner limit.
    "BAY_MAX_CONCURRENT_EXECS_PER_OWNER": "32",
}


def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def lifecycle_bay() -> Iterator[HttpBay]:
    with running_server(("alice", "admin"), **SETTINGS) as server:
        yield server


@pytest.fixture(scope="module")
def alice(lifecycle_bay: HttpBay) -> Iterator[httpx.Client]:
    with lifecycle_bay.client("alice") as client:
        yield client


@pytest.fixture(scope="module")
def admin(lifecycle_bay: HttpBay) -> Iterator[httpx.Client]:
    with lifecycle_bay.client("admin") as client:
        yield client


def gc(admin: httpx.Client, *tasks: str) -> dict[str, Any]:
    response = admin.post("/v1/admin/gc/run", json={"tasks": list(tasks)} if tasks else {})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def exec_ok(client: httpx.Client, sandbox_id: str, code: str) -> str:
    response = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code})
    assert response.status_code == 200, response.text
    assert response.json()["success"], response.text
    output: str = response.json()["output"]
    return output


def test_admin_api_is_admin_only(alice: httpx.Client, admin: httpx.Client) -> None:
    error_of(alice.post("/v1/admin/gc/run", json={}), 403, "forbidden")
    error_of(alice.get("/v1/admin/gc/status"), 403, "forbidden")
    status = admin.get("/v1/admin/gc/status").json()
    assert status["enabled"] is False
    assert status["is_running"] is False
    assert status["instance_id"].startswith("bay-test-")
    assert set(status["tasks"]) == {
        "idle_sessions", "expired_sandboxes", "orphan_containers", "orphan_cargos"
    }  # fmt: skip
    report = gc(admin)
    assert [r["task_name"] for r in report["results"]] == status["tasks"]
    for result in report["results"]:
        assert set(result) == {"task_name", "cleaned_count", "skipped_count", "errors"}
    error_of(
        admin.post("/v1/admin/gc/run", json={"tasks": ["everything"]}), 400, "validation_error"
    )


def test_idle_sessions_are_stopped_and_files_kept(
    alice: httpx.Client, admin: httpx.Client, lifecycle_bay: HttpBay
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={"profile": "quick"}).json()["id"]
    exec_ok(alice, sandbox_id, "open('idle.txt', 'w').write('kept')")
    assert len(lifecycle_bay.containers(sandbox_id=sandbox_id)) == 1
    assert alice.get(f"/v1/sandboxes/{sandbox_id}").json()["idle_expires_at"] is not None

    def reaped() -> bool:
        gc(admin, "idle_sessions")
        return lifecycle_bay.containers(sandbox_id=sandbox_id) == []

    until(reaped, "the idle session is reaped")
    shown = alice.get(f"/v1/sandboxes/{sandbox_id}").json()
    assert shown["status"] == "idle"
    assert shown["idle_expires_at"] is None
    assert "kept" in exec_ok(alice, sandbox_id, "print(open('idle.txt').read())")
    assert len(lifecycle_bay.containers(sandbox_id=sandbox_id)) == 1
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_keepalive_holds_off_the_reaper(alice: httpx.Client, admin: httpx.Client,
                                         lifecycle_bay: HttpBay) -> None:  # fmt: skip
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]  # idle timeout 600 s
    exec_ok(alice, sandbox_id, "1")
    assert alice.post(f"/v1/sandboxes/{sandbox_id}/keepalive").json() == {"status": "ok"}
    gc(admin, "idle_sessions")
    assert len(lifecycle_bay.containers(sandbox_id=sandbox_id)) == 1
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_expired_sandboxes_are_deleted_but_external_cargo_survives(
    alice: httpx.Client, admin: httpx.Client, lifecycle_bay: HttpBay
) -> None:
    cargo_id = alice.post("/v1/cargos", json={}).json()["id"]
    attached = alice.post("/v1/sandboxes", json={"ttl": 1, "cargo_id": cargo_id}).json()
    managed = alice.post("/v1/sandboxes", json={"ttl": 1}).json()
    alice.put(
        f"/v1/sandboxes/{attached['id']}/filesystem/files",
        json={"path": "survives.txt", "content": "yes"},
    )
    until(
        lambda: alice.get(f"/v1/sandboxes/{managed['id']}").json()["status"] == "expired",
        "the sandboxes expire",
    )
    error_of(
        alice.post(f"/v1/sandboxes/{managed['id']}/extend_ttl", json={"extend_by": 60}),
        409,
        "sandbox_expired",
    )
    error_of(
        alice.post(f"/v1/sandboxes/{managed['id']}/python/exec", json={"code": "1"}),
        409,
        "sandbox_expired",
    )
    report = gc(admin, "expired_sandboxes")
    assert report["total_cleaned"] == 2
    for sandbox in (attached, managed):
        error_of(alice.get(f"/v1/sandboxes/{sandbox['id']}"), 404, "not_found")
        assert lifecycle_bay.containers(sandbox_id=sandbox["id"]) == []
    assert lifecycle_bay.volumes(cargo_id=managed["cargo_id"]) == []
    assert lifecycle_bay.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]
    reused = alice.post("/v1/sandboxes", json={"cargo_id": cargo_id}).json()["id"]
    kept = alice.get(f"/v1/sandboxes/{reused}/filesystem/files", params={"path": "survives.txt"})
    assert kept.json() == {"content": "yes"}
    alice.delete(f"/v1/sandboxes/{reused}")
    assert alice.delete(f"/v1/cargos/{cargo_id}").status_code == 204


def test_orphans_with_our_labels_go_and_nothing_else_is_touched(
    admin: httpx.Client, lifecycle_bay: HttpBay
) -> None:
    ours = {"bay.instance_id": lifecycle_bay.instance_id, "bay.managed": "true"}
    theirs = {"bay.instance_id": "bay-someone-else", "bay.managed": "true"}

    def make(labels: dict[str, str]) -> tuple[str, str]:
        flags = [f"--label={k}={v}" for k, v in {**labels, "bay.test": "integration"}.items()]
        volume = f"bay-test-orphan-{secrets.token_hex(4)}"
        docker("volume", "create", *flags, volume)
        container = docker("create", *flags, IMAGE)
        return container, volume

    our_container, our_volume = make({**ours, "bay.session_id": "sess-gone"})
    their_container, their_volume = make(theirs)
    plain_volume = f"bay-test-plain-{secrets.token_hex(4)}"
    docker("volume", "create", f"--label={TEST_LABEL}", plain_volume)
    try:
        report = gc(admin, "orphan_containers", "orphan_cargos")
        assert report["total_errors"] == 0, report
        assert docker("ps", "-aq", "--filter", f"id={our_container}") == ""
        assert docker("volume", "ls", "-q", "--filter", f"name={our_volume}") == ""
        assert docker("ps", "-aq", "--filter", f"id={their_container}") != ""
        assert docker("volume", "ls", "-q", "--filter", f"name={their_volume}") == their_volume
        assert docker("volume", "ls", "-q", "--filter", f"name={plain_volume}") == plain_volume
    finally:
        docker("rm", "-f", their_container, check=False)
        docker("volume", "rm", "-f", their_volume, plain_volume, check=False)


def test_a_docker_kill_is_survived(alice: httpx.Client, lifecycle_bay: HttpBay) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    exec_ok(alice, sandbox_id, "open('f.txt', 'w').write('intact')")
    [container] = lifecycle_bay.containers(sandbox_id=sandbox_id)
    docker("kill", container)
    assert "intact" in exec_ok(alice, sandbox_id, "print(open('f.txt').read())")
    running = docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox_id}").split()
    assert len(running) == 1
    assert lifecycle_bay.containers(sandbox_id=sandbox_id) == running  # the dead one is gone
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_sigkill_during_an_exec_loses_nothing() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-kill-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    server = start_server(data_dir, instance, owners=("alice",), env=SETTINGS)
    try:
        with server.client("alice") as alice:
            sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
            exec_ok(alice, sandbox_id, "open('before.txt', 'w').write('written')")

            def doomed() -> None:
                # The server dies under this call: that is the point.
                with contextlib.suppress(httpx.HTTPError):
                    alice.post(
                        f"/v1/sandboxes/{sandbox_id}/python/exec",
                        json={"code": "import time\ntime.sleep(20)"},
                    )

            caller = threading.Thread(target=doomed)
            caller.start()
            time.sleep(0.5)  # let the exec reach the sandbox
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            caller.join(timeout=60)
        restarted = start_server(data_dir, instance, env=SETTINGS)
        restarted.keys = server.keys
        server = restarted  # what the finally below stops
        with restarted.client("alice") as alice:
            listed = [s["id"] for s in alice.get("/v1/sandboxes").json()["items"]]
            assert sandbox_id in listed
            read = alice.get(
                f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "before.txt"}
            )
            assert read.json() == {"content": "written"}
            assert "2" in exec_ok(alice, sandbox_id, "1 + 1")
            assert len(restarted.containers(sandbox_id=sandbox_id)) == 1  # adopted, no duplicate
            alice.delete(f"/v1/sandboxes/{sandbox_id}")
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_the_reaper_racing_twenty_execs_leaves_a_sane_state() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-race-"))
    settings = {**SETTINGS, "BAY_GC_ENABLED": "true", "BAY_GC_INTERVAL_SECONDS": "0.2"}
    server = start_server(
        data_dir, f"bay-test-{secrets.token_hex(4)}", owners=("alice",), env=settings
    )
    try:
        with server.client("alice") as alice:
            sandbox_id = alice.post("/v1/sandboxes", json={"profile": "quick"}).json()["id"]
            exec_ok(alice, sandbox_id, "1")
            time.sleep(0.9)  # right at the 1 s idle deadline
            statuses: list[int] = []
            errors: list[str] = []

            def one() -> None:
                response = alice.post(
                    f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "2 + 2"}
                )
                statuses.append(response.status_code)
                if response.status_code != 200:
                    errors.append(response.json()["error"]["code"])

            threads = [threading.Thread(target=one) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert len(statuses) == 20
            assert all(status in (200, 503) for status in statuses), statuses
            assert set(errors) <= {"session_not_ready"}, errors
            assert statuses.count(200) >= 1
            assert len(server.containers(sandbox_id=sandbox_id)) <= 1
            alice.delete(f"/v1/sandboxes/{sandbox_id}")
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_extend_ttl_is_idempotent_with_a_key(alice: httpx.Client) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={"ttl": 600}).json()["id"]
    key = {"Idempotency-Key": f"extend-{secrets.token_hex(4)}"}
    first = alice.post(
        f"/v1/sandboxes/{sandbox_id}/extend_ttl", json={"extend_by": 60}, headers=key
    )
    again = alice.post(
        f"/v1/sandboxes/{sandbox_id}/extend_ttl", json={"extend_by": 60}, headers=key
    )
    assert first.json()["expires_at"] == again.json()["expires_at"]  # extended once, not twice
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_no_docker_engine_fails_fast_and_recovers(tmp_path: Path) -> None:
    """Bay talks to Docker through a proxy this test cuts and restores."""
    proxy = DockerProxy(tmp_path / "docker.sock")
    proxy.start()
    instance = f"bay-test-{secrets.token_hex(4)}"
    server = start_server(tmp_path, instance, owners=("alice",),
                          env={**SETTINGS, "DOCKER_HOST": f"unix://{proxy.path}"})  # fmt: skip
    try:
        with server.client("alice") as alice:
            sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
            exec_ok(alice, sandbox_id, "1")
            new_id = alice.post("/v1/sandboxes", json={}).json()["id"]
            proxy.stop()
            # A running sandbox needs no Docker call: it keeps working.
            assert "3" in exec_ok(alice, sandbox_id, "1 + 2")
            started = time.monotonic()
            down = alice.post(f"/v1/sandboxes/{new_id}/python/exec", json={"code": "1"})
            error = error_of(down, 503, "session_not_ready")
            assert "Docker engine" in str(error["message"])
            assert time.monotonic() - started < 10
            assert "retry-after" in down.headers
            health = alice.get("/health")
            assert health.status_code == 503
            assert health.json()["checks"]["driver"].startswith("failing")
            proxy.start()
            until(lambda: alice.get("/health").status_code == 200, "health recovers")
            assert "4" in exec_ok(alice, new_id, "2 + 2")
            alice.delete(f"/v1/sandboxes/{sandbox_id}")
            alice.delete(f"/v1/sandboxes/{new_id}")
    finally:
        proxy.stop()
        stop_server(server)


def test_two_bay_processes_on_one_database_start_one_session() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bay-two-"))
    instance = f"bay-test-{secrets.token_hex(4)}"
    first = start_server(data_dir, instance, owners=("alice",), env=SETTINGS)
    second = start_server(data_dir, instance, env=SETTINGS)
    second.keys = first.keys
    try:
        with first.client("alice") as one, second.client("alice") as two:
            sandbox_id = one.post("/v1/sandboxes", json={}).json()["id"]
            statuses: list[int] = []

            def call(client: httpx.Client) -> None:
                response = client.post(
                    f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1"}
                )
                statuses.append(response.status_code)

            threads = [threading.Thread(target=call, args=(c,)) for c in (one, two) * 5]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert sorted(set(statuses)) <= [200, 503], statuses
            assert statuses.count(200) >= 1
            assert len(first.containers(sandbox_id=sandbox_id)) == 1
            # Both processes now use that one session.
            assert "2" in exec_ok(one, sandbox_id, "1 + 1")
            assert "3" in exec_ok(two, sandbox_id, "1 + 2")
            assert len(first.containers(sandbox_id=sandbox_id)) == 1
            one.delete(f"/v1/sandboxes/{sandbox_id}")
    finally:
        stop_server(second)
        stop_server(first)
        shutil.rmtree(data_dir, ignore_errors=True)
