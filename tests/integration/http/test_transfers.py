"""Uploads and downloads stream end to end; limits per owner and per request.

A 1 GB file goes up and comes back with the same sha256 while Bay's memory stays
flat; a client that goes away mid-upload leaves nothing; an upload over its limit
is 413 with nothing written; an owner at its concurrent-exec limit gets 429 with
Retry-After while its other sandboxes and other owners keep working.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    mcp_http,
    mcp_sse,
    running_server,
    text_of,
)

GIB = 1024**3
MIB = 1024**2
PROFILES = [
    {"id": "python-default", "warm_pool_size": 0},
    {"id": "small-uploads", "max_upload_mb": 1},
]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(
        ("alice", "bob"),
        BAY_PROFILES=json.dumps(PROFILES),
        BAY_MAX_CONCURRENT_EXECS_PER_OWNER="2",
    ) as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


@pytest.fixture(scope="module")
def sandbox(alice: httpx.Client) -> Iterator[str]:
    sandbox_id: str = alice.post("/v1/sandboxes", json={}).json()["id"]
    yield sandbox_id
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


@pytest.fixture(scope="module")
def gigabyte() -> Iterator[tuple[Path, str]]:
    """A 1 GiB file of random-looking bytes on the host, and its sha256."""
    path = Path(tempfile.mkdtemp(prefix="bay-transfer-")) / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with path.open("wb") as handle:
        for index in range(GIB // MIB):
            chunk = index.to_bytes(8, "big") + block[8:]  # no two blocks alike
            handle.write(chunk)
            digest.update(chunk)
    yield path, digest.hexdigest()
    path.unlink()
    path.parent.rmdir()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class PeakMemory:
    """Bay's peak resident memory during a block, above what it held before it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.growth_mib = 0.0

    def __enter__(self) -> PeakMemory:
        # Writing 5 to clear_refs resets the peak (VmHWM) to the current size.
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.before = status_kib(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth_mib = (status_kib(self.pid, "VmHWM") - self.before) / 1024


def workspace_names(client: httpx.Client, sandbox_id: str, path: str = ".") -> list[str]:
    """What the tests put there: not `.local`, which the kernel makes as it boots (where
    `pip install` goes), nor what Ship copies in at its start (`skills`, `.bay`)."""
    listed = client.get(f"/v1/sandboxes/{sandbox_id}/filesystem/directories",
                        params={"path": path})  # fmt: skip
    if listed.status_code == 404:
        return []
    assert listed.status_code == 200, listed.text
    made_by_ship = {".local", ".bay", "skills"}
    entries = listed.json()["entries"]
    return [entry["name"] for entry in entries if entry["name"] not in made_by_ship]


def leftovers(client: httpx.Client, sandbox_id: str) -> list[str]:
    """Partial files: staged uploads and temporary siblings."""
    staged = workspace_names(client, sandbox_id, ".bay/uploads")
    temporary = [n for n in workspace_names(client, sandbox_id) if n.endswith(".tmp")]
    return staged + temporary


def test_a_gigabyte_goes_up_and_down_intact_and_bay_stays_flat(
    server: HttpBay, alice: httpx.Client, sandbox: str, gigabyte: tuple[Path, str]
) -> None:
    assert server.process is not None
    source, digest = gigabyte
    base = f"/v1/sandboxes/{sandbox}/filesystem"
    alice.put(f"{base}/files", json={"path": "warm.txt", "content": "x"})  # session started
    with PeakMemory(server.process.pid) as upload_memory, source.open("rb") as handle:
        uploaded = alice.post(
            f"{base}/upload", data={"path": "data/big.bin"}, files={"file": ("big.bin", handle)}
        )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"status": "ok", "path": "data/big.bin", "size": GIB}
    in_sandbox = alice.post(
        f"/v1/sandboxes/{sandbox}/shell/exec",
        json={"command": "sha256sum data/big.bin", "timeout": 120},
    ).json()
    assert in_sandbox["output"].split()[0] == digest

    received = hashlib.sha256()
    size = 0
    with (
        PeakMemory(server.process.pid) as download_memory,
        alice.stream("GET", f"{base}/download", params={"path": "data/big.bin"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-length"] == str(GIB)
        for chunk in response.iter_bytes():
            received.update(chunk)
            size += len(chunk)
    assert size == GIB
    assert received.hexdigest() == digest
    assert upload_memory.growth_mib < 256, f"upload grew Bay by {upload_memory.growth_mib} MiB"
    assert download_memory.growth_mib < 256, f"download grew Bay by {download_memory.growth_mib}"
    assert leftovers(alice, sandbox) == []
    alice.delete(f"{base}/files", params={"path": "data"})


def test_curl_with_the_file_before_the_path(
    server: HttpBay, alice: httpx.Client, sandbox: str, tmp_path: Path
) -> None:
    """The README's curl order: the bytes arrive before the path that names them."""
    local = tmp_path / "data.csv"
    local.write_bytes(b"a,b\n1,2\n" * 10_000)
    made = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{local}", "-F", "path=data/data.csv",
         "-H", f"Authorization: Bearer {server.keys['alice']}",
         f"{server.url}/v1/sandboxes/{sandbox}/filesystem/upload"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(made.stdout) == {
        "status": "ok", "path": "data/data.csv", "size": local.stat().st_size
    }  # fmt: skip
    read = alice.get(f"/v1/sandboxes/{sandbox}/filesystem/download",
                     params={"path": "data/data.csv"})  # fmt: skip
    assert read.content == local.read_bytes()
    # A path after the bytes that escapes the workspace: refused, and the bytes are gone.
    escaped = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{local}", "-F", "path=../../etc/evil",
         "-H", f"Authorization: Bearer {server.keys['alice']}",
         f"{server.url}/v1/sandboxes/{sandbox}/filesystem/upload"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(escaped.stdout)["error"]["code"] == "invalid_path"
    assert leftovers(alice, sandbox) == []
    alice.delete(f"/v1/sandboxes/{sandbox}/filesystem/files", params={"path": "data"})


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    server: HttpBay, alice: httpx.Client, sandbox: str
) -> None:
    for order in ("path first", "file first"):
        boundary = "bay-test-boundary"
        path_part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nhalf/file.bin\r\n'
        )
        file_head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="file.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        preamble = path_part + file_head if order == "path first" else file_head
        url = httpx.URL(server.url)
        head = (
            f"POST /v1/sandboxes/{sandbox}/filesystem/upload HTTP/1.1\r\n"
            f"Host: {url.host}:{url.port}\r\nAuthorization: Bearer {server.keys['alice']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {200 * MIB}\r\n\r\n"
        )
        with socket.create_connection((url.host, url.port or 80), timeout=30) as connection:
            connection.sendall(head.encode() + preamble.encode())
            for _ in range(20):  # 20 MiB of the promised 200, then gone
                connection.sendall(b"\x07" * MIB)
        deadline = time.monotonic() + 30
        while leftovers(alice, sandbox) or "half" in workspace_names(alice, sandbox):
            assert time.monotonic() < deadline, (order, leftovers(alice, sandbox))
            time.sleep(0.1)
    # Bay and the sandbox still work.
    written = alice.put(f"/v1/sandboxes/{sandbox}/filesystem/files",
                        json={"path": "after.txt", "content": "fine"})  # fmt: skip
    assert written.status_code == 200


def test_an_upload_over_the_profile_limit_is_413_with_nothing_written(
    alice: httpx.Client,
) -> None:
    small = alice.post("/v1/sandboxes", json={"profile": "small-uploads"}).json()["id"]
    base = f"/v1/sandboxes/{small}/filesystem"
    try:
        declared = alice.post(f"{base}/upload", data={"path": "big.bin"},
                              files={"file": ("big.bin", b"x" * (2 * MIB))})  # fmt: skip
        error = error_of(declared, 413, "payload_too_large")
        assert error["details"] == {"limit_bytes": MIB}
        assert "1048576-byte upload limit" in str(error["message"])
        assert "nothing was written" in str(error["message"])

        def undeclared() -> Iterator[bytes]:  # chunked: no Content-Length to judge by
            yield b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\nbig.bin\r\n'
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
            for _ in range(3):
                yield b"y" * MIB
            yield b"\r\n--b--\r\n"

        streamed = alice.post(
            f"{base}/upload", content=undeclared(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )  # fmt: skip
        error_of(streamed, 413, "payload_too_large")
        fits = alice.post(f"{base}/upload", data={"path": "ok.bin"},
                          files={"file": ("ok.bin", b"z" * 1000)})  # fmt: skip
        assert fits.status_code == 200, fits.text
        assert workspace_names(alice, small) == ["ok.bin"]
        assert leftovers(alice, small) == []
    finally:
        alice.delete(f"/v1/sandboxes/{small}")


async def test_an_owner_at_its_exec_limit_gets_429_and_the_rest_keeps_working(
    server: HttpBay, alice: httpx.Client, sandbox: str
) -> None:
    second = alice.post("/v1/sandboxes", json={}).json()["id"]
    slow = {
        "code": "import time; open('running', 'w').close(); time.sleep(8); print('done')",
        "timeout": 60,
    }
    for sandbox_id in (sandbox, second):  # started, so the slow runs are only the sleep
        assert alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec",
                          json={"code": "1"}).status_code == 200  # fmt: skip
    results: list[int] = []

    def run_slow(sandbox_id: str) -> None:
        with server.client("alice") as own:
            results.append(own.post(f"/v1/sandboxes/{sandbox_id}/python/exec",
                                    json=slow).status_code)  # fmt: skip

    threads = [threading.Thread(target=run_slow, args=(s,)) for s in (sandbox, second)]
    for thread in threads:
        thread.start()
    try:
        for sandbox_id in (sandbox, second):  # both slow runs are running (file reads
            deadline = time.monotonic() + 30  # take no exec slot)
            while "running" not in workspace_names(alice, sandbox_id):
                assert time.monotonic() < deadline, results
                time.sleep(0.05)
        third = alice.post(f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": "true"})
        error = error_of(third, 429, "too_many_requests")
        assert third.headers["retry-after"] == "1"
        assert "retry in 1 s" in str(error["message"])
        for connect in (mcp_http, mcp_sse):
            async with connect(server, "alice") as client:
                refused = await client.call_tool("python_exec",
                                                 {"sandbox_id": second, "code": "1"})  # fmt: skip
                assert refused.is_error
                assert "retry in 1 s" in text_of(refused)
        # Meanwhile: files in the same sandboxes work, and another owner runs code.
        listed = alice.get(f"/v1/sandboxes/{sandbox}/filesystem/directories")
        assert listed.status_code == 200
        with server.client("bob") as bob:
            bobs = bob.post("/v1/sandboxes", json={}).json()["id"]
            ran = bob.post(f"/v1/sandboxes/{bobs}/python/exec", json={"code": "print(2)"})
            assert ran.json()["output"] == "2\n"
            bob.delete(f"/v1/sandboxes/{bobs}")
    finally:
        for thread in threads:
            thread.join(timeout=120)
    assert results == [200, 200]
    again = alice.post(f"/v1/sandboxes/{second}/python/exec", json={"code": "print(3)"})
    assert again.json()["output"] == "3\n"
    alice.delete(f"/v1/sandboxes/{second}")
