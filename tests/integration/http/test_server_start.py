"""Starting the HTTP server: refusal on public addresses without keys, anonymous
access on loopback, graceful shutdown."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import ON_POSTGRES, query, server_database_url
from tests.integration.http.conftest import (
    BAY_MCP,
    environment,
    error_of,
    free_port,
    start_server,
    stop_server,
    wait_for_file,
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bay-start-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def serve(data_dir: Path, host: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BAY_MCP, "serve", "--transport", "http", "--host", host, "--port", str(free_port())],
        env=environment(data_dir, f"bay-test-{secrets.token_hex(4)}", **env),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_public_address_without_a_key_is_refused(data_dir: Path) -> None:
    refused = serve(data_dir, "0.0.0.0")
    assert refused.returncode == 2
    assert "no API key" in refused.stderr
    assert "bay-mcp keys create" in refused.stderr


def test_anonymous_access_on_a_public_address_is_refused(data_dir: Path) -> None:
    refused = serve(data_dir, "0.0.0.0", BAY_ALLOW_ANONYMOUS="true", BAY_API_KEY="k" * 32)
    assert refused.returncode == 2
    assert "anonymous" in refused.stderr


def test_a_public_address_with_a_key_starts_and_requires_it(data_dir: Path) -> None:
    server = start_server(data_dir, f"bay-test-{secrets.token_hex(4)}", owners=("carol",),
                          host="0.0.0.0")  # fmt: skip
    try:
        with server.client() as anonymous:
            error_of(anonymous.get("/v1/sandboxes"), 401, "unauthorized")
        with server.client("carol") as carol:
            assert carol.get("/v1/sandboxes").json() == {"items": [], "next_cursor": None}
    finally:
        stop_server(server)


def test_sigterm_finishes_cleanly_and_state_survives(data_dir: Path) -> None:
    instance = f"bay-test-{secrets.token_hex(4)}"
    server = start_server(data_dir, instance)
    assert server.process is not None
    try:
        with server.client() as client:
            sandbox_id = client.post("/v1/sandboxes", json={}).json()["id"]
            client.put(
                f"/v1/sandboxes/{sandbox_id}/filesystem/files",
                json={"path": "kept.txt", "content": "still here"},
            )
            outcome: dict[str, object] = {}

            def long_call() -> None:
                try:
                    outcome["status"] = client.post(
                        f"/v1/sandboxes/{sandbox_id}/python/exec",
                        json={
                            "code": "import time\nopen('started', 'w').close()\n"
                            "time.sleep(3)\nprint('finished')"
                        },
                    ).status_code
                except httpx.HTTPError as exc:
                    outcome["error"] = exc

            caller = threading.Thread(target=long_call)
            caller.start()
            wait_for_file(client, sandbox_id, "started")  # the call is in the sandbox
            server.process.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
            caller.join(timeout=60)
        assert outcome.get("status") == 200, outcome  # the in-flight call finished
        assert "Application shutdown complete" in (data_dir / "server.log").read_text()
        restarted = server = start_server(data_dir, instance)  # the finally stops this one
        with restarted.client() as client:
            ids = [s["id"] for s in client.get("/v1/sandboxes").json()["items"]]
            assert sandbox_id in ids
            kept = client.get(
                f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "kept.txt"}
            )
            assert kept.json() == {"content": "still here"}
            assert client.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
    finally:
        stop_server(server)


def test_keys_are_shown_once_listed_without_secrets_and_revocable(data_dir: Path) -> None:
    server = start_server(data_dir, f"bay-test-{secrets.token_hex(4)}", owners=("erin",),
                          BAY_ALLOW_ANONYMOUS="false")  # fmt: skip
    env = environment(data_dir, server.instance_id)
    try:
        key = server.keys["erin"]
        assert key.startswith("bay_")
        listed = subprocess.run(
            [BAY_MCP, "keys", "list"], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert "erin" in listed
        assert key not in listed
        assert "bay.db" not in key
        stored = query(server_database_url(data_dir), "SELECT * FROM api_keys")
        assert stored
        assert key not in repr(stored)
        if not ON_POSTGRES:  # every byte of the file, journal pages included
            assert key not in (data_dir / "bay.db").read_bytes().decode(errors="replace")
        with server.client("erin") as erin:
            assert erin.get("/v1/sandboxes").status_code == 200
        key_id = listed.split()[0]
        subprocess.run([BAY_MCP, "keys", "revoke", key_id], env=env, check=True,
                       capture_output=True)  # fmt: skip
        with server.client("erin") as erin:
            error_of(erin.get("/v1/sandboxes"), 401, "unauthorized")
        with server.client(**{"X-Owner": "bad owner!"}) as odd:
            error_of(odd.get("/v1/sandboxes"), 401, "unauthorized")  # no key, no access
    finally:
        stop_server(server)
