"""Every Ship endpoint, over real HTTP, against the real image."""

from __future__ import annotations

import httpx

from ship import API_VERSION
from tests.integration.ship.conftest import ShipContainer


def test_health_and_meta_are_open_and_everything_else_needs_the_token(ship: ShipContainer) -> None:
    assert httpx.get(f"{ship.url}/health").json()["status"] == "healthy"
    # /meta too is open: code in the sandbox reads it (upstream's clients do).
    assert httpx.get(f"{ship.url}/meta").json()["runtime"]["name"] == "ship"
    for method, path in [
        ("POST", "/python/exec"),
        ("POST", "/shell/exec"),
        ("GET", "/filesystem/files?path=a.txt"),
        ("GET", "/filesystem/directories"),
        ("GET", "/filesystem/download?path=a.txt"),
    ]:
        response = httpx.request(method, f"{ship.url}{path}", json={"code": "1"})
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
        wrong = httpx.request(method, f"{ship.url}{path}", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, path


def test_meta_describes_the_runtime(client: httpx.Client) -> None:
    meta = client.get("/meta").json()
    assert meta["runtime"]["name"] == "ship"
    assert meta["runtime"]["version"]
    assert meta["api_version"] == API_VERSION
    assert meta["workspace"] == {"mount_path": "/workspace"}
    assert set(meta["capabilities"]) == {"python", "shell", "filesystem"}
    assert "exec" in meta["capabilities"]["python"]["operations"]
    assert set(meta["capabilities"]["filesystem"]["operations"]) >= {
        "read", "write", "list", "delete", "move", "upload", "download"
    }  # fmt: skip


def test_python_exec_keeps_state_and_reports_errors(client: httpx.Client) -> None:
    first = client.post("/python/exec", json={"code": "import math\nx = 41"}).json()
    assert first["success"] is True
    second = client.post("/python/exec", json={"code": "print('out')\nmath.floor(x + 1.5)"}).json()
    assert second["success"] is True
    assert "out" in second["output"]
    assert "42" in second["output"]
    assert second["execution_count"] > first["execution_count"]

    failed = client.post("/python/exec", json={"code": "1/0"}).json()
    assert failed["success"] is False
    assert failed["error"]["ename"] == "ZeroDivisionError"
    assert "\x1b[" not in "\n".join(failed["error"]["traceback"])


def test_python_stderr_and_stdout_are_both_returned(client: httpx.Client) -> None:
    code = "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)"
    result = client.post("/python/exec", json={"code": code}).json()
    assert "to-out" in result["output"]
    assert "to-err" in result["output"]


def test_input_fails_fast(client: httpx.Client) -> None:
    result = client.post("/python/exec", json={"code": "input('name? ')", "timeout": 20}).json()
    assert result["success"] is False
    assert result["timed_out"] is False
    assert result["execution_time_ms"] < 5000


def test_shell_exec_returns_exit_code_and_ordered_output(client: httpx.Client) -> None:
    result = client.post(
        "/shell/exec", json={"command": "echo one; echo two >&2; echo three; exit 3"}
    ).json()
    assert result["exit_code"] == 3
    assert result["success"] is False
    assert result["output"].split() == ["one", "two", "three"]


def test_shell_cwd_must_stay_in_the_workspace(client: httpx.Client) -> None:
    client.put("/filesystem/files", json={"path": "sub/dir/f.txt", "content": "x"})
    inside = client.post("/shell/exec", json={"command": "pwd", "cwd": "sub/dir"}).json()
    assert inside["output"].strip() == "/workspace/sub/dir"
    outside = client.post("/shell/exec", json={"command": "pwd", "cwd": "../etc"})
    assert outside.status_code == 400
    assert outside.json()["error"]["code"] == "invalid_path"


def test_file_write_read_list_delete(client: httpx.Client) -> None:
    written = client.put(
        "/filesystem/files", json={"path": "notes/deep/a.txt", "content": "l1\nl2\nl3\n"}
    )
    assert written.status_code == 200
    read = client.get("/filesystem/files", params={"path": "notes/deep/a.txt"}).json()
    assert read["content"] == "l1\nl2\nl3\n"
    partial = client.get(
        "/filesystem/files", params={"path": "notes/deep/a.txt", "offset": 1, "limit": 1}
    ).json()
    assert partial["content"] == "l2\n"
    listing = client.get("/filesystem/directories", params={"path": "notes/deep"}).json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["entries"]] == [("a.txt", "file", 9)]
    assert (
        client.get("/filesystem/directories", params={"path": "notes"}).json()["entries"][0]["type"]
        == "directory"
    )
    deleted = client.request("DELETE", "/filesystem/files", params={"path": "notes"})
    assert deleted.status_code == 200
    missing = client.get("/filesystem/files", params={"path": "notes/deep/a.txt"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "file_not_found"


def test_upload_download_binary_round_trip(client: httpx.Client) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB with every byte value
    uploaded = client.post("/filesystem/upload", params={"path": "bin/blob.bin"}, content=payload)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["size"] == len(payload)
    with client.stream("GET", "/filesystem/download", params={"path": "bin/blob.bin"}) as stream:
        assert stream.status_code == 200
        body = b"".join(stream.iter_bytes())
    assert body == payload
    as_text = client.get("/filesystem/files", params={"path": "bin/blob.bin"})
    assert as_text.status_code == 400
    assert "download" in as_text.json()["error"]["message"]


def test_bad_paths_are_refused_everywhere(client: httpx.Client) -> None:
    for bad in ["", "/etc/passwd", "../etc/passwd", "a/../../x", "a\x00b"]:
        for response in [
            client.get("/filesystem/files", params={"path": bad}),
            client.put("/filesystem/files", json={"path": bad, "content": "x"}),
            client.request("DELETE", "/filesystem/files", params={"path": bad}),
            client.get("/filesystem/download", params={"path": bad}),
        ]:
            assert response.status_code == 400, (bad, response.request.method, response.text)
            assert response.json()["error"]["code"] == "invalid_path"
    listing = client.get("/filesystem/directories", params={"path": "../"})
    assert listing.status_code == 400


def test_symlink_escape_is_refused(client: httpx.Client, ship: ShipContainer) -> None:
    made = client.post(
        "/shell/exec", json={"command": "ln -sfn /etc/passwd leak && ln -sfn /etc etcdir"}
    ).json()
    assert made["exit_code"] == 0
    for response in [
        client.get("/filesystem/files", params={"path": "leak"}),
        client.get("/filesystem/download", params={"path": "leak"}),
        client.put("/filesystem/files", json={"path": "leak", "content": "pwned"}),
        client.get("/filesystem/directories", params={"path": "etcdir"}),
        client.put("/filesystem/files", json={"path": "etcdir/evil", "content": "x"}),
    ]:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_path"
        assert "root:" not in response.text
    assert "pwned" not in ship.exec_outside("cat", "/etc/passwd")
    assert ship.exec_outside("ls", "/etc/evil", check=False) == ""
    # Deleting the link removes the link, never its target.
    assert client.request("DELETE", "/filesystem/files", params={"path": "leak"}).status_code == 200
    assert "root:" in ship.exec_outside("cat", "/etc/passwd")


def test_errors_have_one_shape(client: httpx.Client) -> None:
    for response in [
        client.post("/python/exec", json={"timeout": 5}),
        client.post("/python/exec", content=b"not json"),
        client.post("/shell/exec", json={"command": "true", "timeout": -1}),
        client.get("/nope"),
    ]:
        assert response.status_code in (400, 404, 422)
        error = response.json()["error"]
        assert error["code"]
        assert error["message"]
