"""BAY_LOG_FORMAT=json: every line the server writes is one JSON object carrying the
request id, and the owner, sandbox and execution it is about where known; audit events
(sandbox created, stopped, deleted; admin GC run) are among them."""

from __future__ import annotations

import json

from tests.integration.http.conftest import running_server


def test_every_line_is_json_with_its_request_and_subject() -> None:
    with running_server(("alice", "admin"), BAY_LOG_FORMAT="json") as server:
        with server.client("alice", **{"X-Request-Id": "req-json-logs"}) as alice:
            sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
            ran = alice.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "print(1)"})
            execution_id = ran.json()["execution_id"]
            alice.post(f"/v1/sandboxes/{sandbox}/stop")
            assert alice.delete(f"/v1/sandboxes/{sandbox}").status_code == 204
        with server.client("admin") as admin:
            assert admin.post("/v1/admin/gc/run", json={}).status_code == 200
        text = (server.data_dir / "server.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) > 5
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
    ours = [line for line in lines if line["request_id"] == "req-json-logs"]
    messages = [line["message"] for line in ours]
    assert f"owner alice created sandbox {sandbox} (profile python-default)" in messages
    assert f"owner alice stopped sandbox {sandbox}" in messages
    assert f"owner alice deleted sandbox {sandbox}" in messages
    assert all(line["owner"] == "alice" for line in ours)
    started = [line for line in ours if "session" in line["message"] and "ready" in line["message"]]
    assert started
    assert started[0]["sandbox_id"] == sandbox
    assert started[0]["execution_id"] == execution_id
    assert any(line["message"].startswith("owner admin runs garbage collection") for line in lines)
