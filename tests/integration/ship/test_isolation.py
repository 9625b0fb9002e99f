"""Who runs user code, what it can reach, and what survives the container."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.conftest import docker
from tests.integration.ship.conftest import ShipContainer, create_volume, remove, start_ship


def sh(client: httpx.Client, command: str) -> dict[str, Any]:
    response = client.post("/shell/exec", json={"command": command, "timeout": 30})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_user_code_is_unprivileged(client: httpx.Client) -> None:
    python = client.post(
        "/python/exec", json={"code": "import os\nprint(os.getuid(), os.geteuid(), os.getgid())"}
    ).json()
    assert python["output"].split() == ["1000", "1000", "1000"]
    shell = sh(client, "id -u; id -g; id -un")
    assert shell["output"].split() == ["1000", "1000", "shipyard"]
    status = sh(client, "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")["output"]
    assert "NoNewPrivs:\t1" in status
    assert "CapEff:\t0000000000000000" in status


def test_no_way_back_to_root(client: httpx.Client) -> None:
    assert sh(client, "command -v sudo doas pkexec")["output"].strip() == ""
    setuid = sh(client, "find / -xdev -perm /6000 -type f 2>/dev/null")["output"].strip()
    assert setuid == ""
    su = sh(client, "su -c id root </dev/null")
    assert su["exit_code"] != 0
    assert "uid=0" not in su["output"]
    assert sh(client, "touch /etc/owned")["exit_code"] != 0


def test_ship_token_is_out_of_reach(client: httpx.Client, ship: ShipContainer) -> None:
    assert ship.token not in sh(client, "env")["output"]
    python = client.post(
        "/python/exec", json={"code": "import os\nprint(sorted(k for k in os.environ))"}
    ).json()
    assert "SHIP_TOKEN" not in python["output"]
    for pid in ("1", "$(pgrep -f 'python -m ship' | head -1)"):
        leaked = sh(client, f"cat /proc/{pid}/environ 2>&1 | tr '\\0' '\\n'")["output"]
        assert ship.token not in leaked, pid


def test_workspace_is_owned_by_the_user(client: httpx.Client, ship: ShipContainer) -> None:
    client.put("/filesystem/files", json={"path": "owned/by/me.txt", "content": "x"})
    owners = ship.exec_outside(
        "stat", "-c", "%u:%g %n", "/workspace", "/workspace/owned", "/workspace/owned/by/me.txt"
    )
    assert [line.split()[0] for line in owners.splitlines()] == ["1000:1000"] * 3
    uploaded = client.post("/filesystem/upload", params={"path": "up/u.bin"}, content=b"\x00\x01")
    assert uploaded.status_code == 200
    assert ship.exec_outside("stat", "-c", "%u", "/workspace/up/u.bin") == "1000"


def test_files_survive_the_container() -> None:
    """Written by the shell in one container, read via the filesystem API in the next."""
    volume = create_volume()
    try:
        first = start_ship(volume)
        try:
            with first.client() as client:
                made = sh(client, "mkdir -p data && echo 'kept across containers' > data/f.txt")
                assert made["exit_code"] == 0
        finally:
            remove(first)
        assert docker("ps", "-aq", "--filter", f"id={first.id}") == ""
        second = start_ship(volume)
        try:
            with second.client() as client:
                read = client.get("/filesystem/files", params={"path": "data/f.txt"})
                assert read.status_code == 200, read.text
                assert read.json()["content"] == "kept across containers\n"
                assert sh(client, "echo more >> data/f.txt")["exit_code"] == 0
        finally:
            remove(second)
    finally:
        docker("volume", "rm", "-f", volume, check=False)
