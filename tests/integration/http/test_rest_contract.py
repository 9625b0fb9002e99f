"""The `/v1` contract, endpoint by endpoint, against a real server and real Docker."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, error_of

SANDBOX_KEYS = {
    "id", "status", "profile", "cargo_id", "capabilities", "created_at", "expires_at",
    "idle_expires_at", "env", "egress", "secrets", "last_stop",
}  # fmt: skip


def create(client: httpx.Client, **body: object) -> dict[str, object]:
    response = client.post("/v1/sandboxes", json=body)
    assert response.status_code == 201, response.text
    sandbox: dict[str, object] = response.json()
    return sandbox


def test_health_and_openapi_are_open(bay_http: HttpBay) -> None:
    with bay_http.client() as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        assert set(health.json()["checks"]) == {"database", "driver"}
        document = anonymous.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/sandboxes/{sandbox_id}/python/exec" in document["paths"]


def test_no_key_and_a_bad_key_are_401_everywhere(bay_http: HttpBay) -> None:
    for headers in ({}, {"Authorization": "Bearer bay_not-a-key"}, {"Authorization": "Basic x"}):
        with bay_http.client(**headers) as client:
            for method, path in [
                ("GET", "/v1/sandboxes"),
                ("POST", "/v1/sandboxes"),
                ("GET", "/v1/profiles"),
                ("GET", "/v1/cargos"),
                ("POST", "/mcp"),
                ("GET", "/sse"),
            ]:
                error_of(client.request(method, path), 401, "unauthorized")


def test_profiles(alice: httpx.Client) -> None:
    items = alice.get("/v1/profiles").json()["items"]
    assert [p["id"] for p in items] == ["python-default", "python-only"]
    default = items[0]
    assert default["image"] == "ship:latest"
    assert default["resources"] == {"cpus": 1.0, "memory": "1024m"}
    assert default["idle_timeout"] == 600
    assert "description" in alice.get("/v1/profiles", params={"detail": "true"}).json()["items"][0]


def test_sandbox_lifecycle_with_docker_effects(alice: httpx.Client, bay_http: HttpBay) -> None:
    sandbox = create(alice, ttl=3600)
    assert set(sandbox) == SANDBOX_KEYS
    assert sandbox["status"] == "idle"
    sandbox_id, cargo_id = str(sandbox["id"]), str(sandbox["cargo_id"])
    assert bay_http.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]
    assert bay_http.containers(sandbox_id=sandbox_id) == []

    got = alice.get(f"/v1/sandboxes/{sandbox_id}").json()
    assert got["containers"] is None
    keepalive = alice.post(f"/v1/sandboxes/{sandbox_id}/keepalive")
    assert keepalive.json() == {"status": "ok"}
    assert bay_http.containers(sandbox_id=sandbox_id) == []  # keepalive never starts one

    ran = alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "x = 2\nx * 21"})
    assert ran.status_code == 200
    body = ran.json()
    assert body["success"] is True
    assert "42" in body["output"]
    assert body["data"]["output"]["text"] == body["output"]
    assert body["execution_id"]
    assert len(bay_http.containers(sandbox_id=sandbox_id)) == 1
    got = alice.get(f"/v1/sandboxes/{sandbox_id}").json()
    assert got["status"] == "ready"
    [container] = got["containers"]
    assert container["healthy"] is True
    assert container["runtime_type"] == "ship"

    extended = alice.post(f"/v1/sandboxes/{sandbox_id}/extend_ttl", json={"extend_by": 60})
    assert extended.status_code == 200
    assert extended.json()["expires_at"] > str(sandbox["expires_at"])

    stopped = alice.post(f"/v1/sandboxes/{sandbox_id}/stop")
    assert stopped.json() == {"status": "stopped"}
    assert alice.post(f"/v1/sandboxes/{sandbox_id}/stop").json() == {"status": "stopped"}
    assert bay_http.containers(sandbox_id=sandbox_id) == []
    assert bay_http.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]

    deleted = alice.delete(f"/v1/sandboxes/{sandbox_id}")
    assert deleted.status_code == 204
    assert bay_http.volumes(cargo_id=cargo_id) == []
    error_of(alice.delete(f"/v1/sandboxes/{sandbox_id}"), 404, "not_found")
    error_of(alice.get(f"/v1/sandboxes/{sandbox_id}"), 404, "not_found")
    error_of(
        alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1"}), 404, "not_found"
    )


def test_exec_results_and_errors(alice: httpx.Client, bay_http: HttpBay) -> None:
    sandbox_id = str(create(alice)["id"])
    failed = alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1/0"}).json()
    assert failed["success"] is False
    assert "ZeroDivisionError" in failed["error"]
    plot = alice.post(
        f"/v1/sandboxes/{sandbox_id}/python/exec",
        json={"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"},
    ).json()
    [image] = plot["data"]["output"]["images"]
    assert base64.b64decode(image["image/png"]).startswith(b"\x89PNG")

    shell = alice.post(
        f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": "pwd; exit 3", "cwd": "."}
    ).json()
    assert shell["exit_code"] == 3
    assert shell["success"] is False
    assert shell["output"].strip() == "/workspace"

    timed_out = alice.post(
        f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "while True: pass", "timeout": 1}
    )
    error_of(timed_out, 504, "timeout")
    for bad in ({"code": 1}, {"code": "1", "timeout": 0}, {"code": "1", "timeout": 301}, {}):
        error_of(
            alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json=bad),
            400,
            "validation_error",
        )
    error_of(
        alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", content=b"{not json"),
        400,
        "validation_error",
    )
    error_of(
        alice.post(f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": "ls", "cwd": "/"}),
        400,
        "invalid_path",
    )
    only_python = str(create(alice, profile="python-only")["id"])
    refused = alice.post(f"/v1/sandboxes/{only_python}/shell/exec", json={"command": "id"})
    error = error_of(refused, 400, "capability_not_supported")
    assert error["details"] == {"capability": "shell", "available": ["python"]}
    assert bay_http.containers(sandbox_id=only_python) == []
    for sandbox in (sandbox_id, only_python):
        assert alice.delete(f"/v1/sandboxes/{sandbox}").status_code == 204


def test_files(alice: httpx.Client) -> None:
    sandbox_id = str(create(alice)["id"])
    base = f"/v1/sandboxes/{sandbox_id}/filesystem"
    assert alice.put(f"{base}/files", json={"path": "d/e/f.txt", "content": "text"}).json() == {
        "status": "ok"
    }
    assert alice.get(f"{base}/files", params={"path": "d/e/f.txt"}).json() == {"content": "text"}
    entries = alice.get(f"{base}/directories", params={"path": "d/e"}).json()["entries"]
    assert entries[0]["name"] == "f.txt"
    assert entries[0]["path"] == "d/e/f.txt"
    assert entries[0]["is_file"] is True
    assert entries[0]["is_dir"] is False
    assert entries[0]["size"] == 4

    payload = bytes(range(256)) * 100
    uploaded = alice.post(
        f"{base}/upload", files={"file": ("b.bin", payload)}, data={"path": "bin/b.bin"}
    )
    assert uploaded.json() == {"status": "ok", "path": "bin/b.bin", "size": len(payload)}
    downloaded = alice.get(f"{base}/download", params={"path": "bin/b.bin"})
    assert downloaded.status_code == 200
    assert downloaded.content == payload
    assert downloaded.headers["content-type"] == "application/octet-stream"
    assert downloaded.headers["content-disposition"].startswith("attachment")
    error_of(alice.get(f"{base}/files", params={"path": "bin/b.bin"}), 400, "validation_error")

    assert alice.delete(f"{base}/files", params={"path": "d"}).json() == {"status": "ok"}
    error_of(alice.get(f"{base}/files", params={"path": "d/e/f.txt"}), 404, "file_not_found")
    error_of(alice.get(f"{base}/download", params={"path": "nope.bin"}), 404, "file_not_found")
    for bad in ["/etc/passwd", "../etc/passwd", "", "a\x00b"]:
        error_of(alice.get(f"{base}/files", params={"path": bad}), 400, "invalid_path")
        error_of(
            alice.put(f"{base}/files", json={"path": bad, "content": "x"}), 400, "invalid_path"
        )
    error_of(alice.get(f"{base}/files"), 400, "validation_error")
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


def test_pagination(alice: httpx.Client) -> None:
    made = [str(create(alice)["id"]) for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = alice.get("/v1/sandboxes", params=params).json()
        assert len(page["items"]) <= 2
        assert all("containers" not in item for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(made) <= set(seen)
    assert len(seen) == len(set(seen))
    error_of(alice.get("/v1/sandboxes", params={"cursor": "garbage!"}), 400, "validation_error")
    error_of(alice.get("/v1/sandboxes", params={"limit": 0}), 400, "validation_error")
    error_of(alice.get("/v1/sandboxes", params={"limit": 201}), 400, "validation_error")
    idle = alice.get("/v1/sandboxes", params={"status": "idle", "limit": 200}).json()
    assert set(made) <= {item["id"] for item in idle["items"]}
    for sandbox_id in made:
        alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_ttl_errors(alice: httpx.Client) -> None:
    forever = str(create(alice)["id"])
    error_of(
        alice.post(f"/v1/sandboxes/{forever}/extend_ttl", json={"extend_by": 10}),
        409,
        "sandbox_ttl_infinite",
    )
    error_of(
        alice.post(f"/v1/sandboxes/{forever}/extend_ttl", json={"extend_by": 0}),
        400,
        "validation_error",
    )
    error_of(alice.post("/v1/sandboxes", json={"profile": "nope"}), 400, "validation_error")
    error_of(alice.post("/v1/sandboxes", json={"ttl": -1}), 400, "validation_error")
    error_of(alice.post("/v1/sandboxes", json={"surprise": 1}), 400, "validation_error")
    alice.delete(f"/v1/sandboxes/{forever}")


def test_idempotent_create(alice: httpx.Client, bay_http: HttpBay) -> None:
    key = {"Idempotency-Key": "create-once-1"}
    first = alice.post("/v1/sandboxes", json={"ttl": 600}, headers=key)
    again = alice.post("/v1/sandboxes", json={"ttl": 600}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    cargo_id = first.json()["cargo_id"]
    assert len(bay_http.volumes(cargo_id=cargo_id)) == 1
    mine = [s["id"] for s in alice.get("/v1/sandboxes", params={"limit": 200}).json()["items"]]
    assert mine.count(first.json()["id"]) == 1
    error_of(alice.post("/v1/sandboxes", json={"ttl": 601}, headers=key), 409, "conflict")
    cargo = alice.post("/v1/cargos", json={}, headers={"Idempotency-Key": "cargo-1"})
    cargo_again = alice.post("/v1/cargos", json={}, headers={"Idempotency-Key": "cargo-1"})
    assert cargo.json()["id"] == cargo_again.json()["id"]
    alice.delete(f"/v1/sandboxes/{first.json()['id']}")
    alice.delete(f"/v1/cargos/{cargo.json()['id']}")


def test_external_cargo(alice: httpx.Client, bob: httpx.Client, bay_http: HttpBay) -> None:
    made = alice.post("/v1/cargos", json={"size_limit_mb": 512})
    assert made.status_code == 201
    cargo = made.json()
    assert cargo["managed"] is False
    assert cargo["managed_by_sandbox_id"] is None
    assert cargo["backend"] == "docker_volume"
    assert cargo["size_limit_mb"] == 512
    cargo_id = cargo["id"]
    assert bay_http.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]
    assert alice.get(f"/v1/cargos/{cargo_id}").json()["id"] == cargo_id
    assert cargo_id in [c["id"] for c in alice.get("/v1/cargos").json()["items"]]
    error_of(bob.get(f"/v1/cargos/{cargo_id}"), 404, "not_found")

    sandbox_id = str(create(alice, cargo_id=cargo_id)["id"])
    alice.put(
        f"/v1/sandboxes/{sandbox_id}/filesystem/files", json={"path": "keep.txt", "content": "k"}
    )
    in_use = error_of(alice.delete(f"/v1/cargos/{cargo_id}"), 409, "conflict")
    assert in_use["details"] == {"active_sandbox_ids": [sandbox_id]}
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
    assert bay_http.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]  # external: kept

    reused = str(create(alice, cargo_id=cargo_id)["id"])
    kept = alice.get(f"/v1/sandboxes/{reused}/filesystem/files", params={"path": "keep.txt"})
    assert kept.json() == {"content": "k"}
    alice.delete(f"/v1/sandboxes/{reused}")
    assert alice.delete(f"/v1/cargos/{cargo_id}").status_code == 204
    assert bay_http.volumes(cargo_id=cargo_id) == []
    error_of(alice.get(f"/v1/cargos/{cargo_id}"), 404, "not_found")
    error_of(alice.post("/v1/sandboxes", json={"cargo_id": "ws-missing"}), 404, "not_found")


def test_owner_isolation_on_rest(alice: httpx.Client, bob: httpx.Client) -> None:
    sandbox_id = str(create(alice)["id"])
    for response in [
        bob.get(f"/v1/sandboxes/{sandbox_id}"),
        bob.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "1"}),
        bob.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "x"}),
        bob.post(f"/v1/sandboxes/{sandbox_id}/stop"),
        bob.delete(f"/v1/sandboxes/{sandbox_id}"),
    ]:
        error_of(response, 404, "not_found")
    assert sandbox_id not in [s["id"] for s in bob.get("/v1/sandboxes").json()["items"]]
    assert alice.get(f"/v1/sandboxes/{sandbox_id}").status_code == 200
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_unknown_routes_and_request_ids(alice: httpx.Client) -> None:
    error_of(alice.get("/v1/nothing-here"), 404, "not_found")
    given = alice.get("/v1/sandboxes", headers={"X-Request-Id": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    missing = alice.get("/v1/sandboxes/sandbox-000000000000", headers={"X-Request-Id": "trace-9"})
    assert error_of(missing, 404, "not_found")["request_id"] == "trace-9"


@pytest.mark.parametrize("method", ["PATCH"])
def test_wrong_method_is_an_error_in_the_contract_shape(alice: httpx.Client, method: str) -> None:
    response = alice.request(method, "/v1/sandboxes")
    assert response.status_code == 405
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
