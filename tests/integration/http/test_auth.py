"""Who a caller is, on REST, MCP streamable HTTP and SSE alike: keys, anonymous
access, act-as for admins, expiry and revocation. Every refusal creates and reads
nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http.conftest import (
    BAY_MCP,
    HttpBay,
    create_key,
    environment,
    error_of,
    key_headers,
    mcp_http_as,
    mcp_sse_as,
    running_server,
)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "auth-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    """Keys for alice and admin; anonymous access not configured (the default)."""
    with running_server(("alice", "admin")) as bay:
        env = environment(bay.data_dir, bay.instance_id)
        bay.keys["revoked"] = create_key(env, "mallory")
        key_id = _key_id(env, "mallory")
        subprocess.run([BAY_MCP, "keys", "revoke", key_id], env=env, check=True,
                       capture_output=True)  # fmt: skip
        bay.keys["expired"] = create_key(env, "trudy", "--expires-in", "1s")
        yield bay


def _key_id(env: dict[str, str], owner: str) -> str:
    listed = subprocess.run(
        [BAY_MCP, "keys", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    return next(line.split()[0] for line in listed.splitlines() if f"  {owner}  " in line)


def _refused_everywhere(server: HttpBay, headers: dict[str, str], status: int, code: str) -> str:
    """The same refusal from REST, streamable HTTP and SSE; returns REST's message."""
    with server.client(**headers) as client:
        error = error_of(client.post("/v1/sandboxes", json={}), status, code)
        error_of(client.get("/v1/sandboxes"), status, code)
        error_of(client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS), status, code)
        error_of(client.get("/sse"), status, code)
        error_of(client.post("/messages/?session_id=0", json=INITIALIZE), status, code)
    return str(error["message"])


def _nothing_made(server: HttpBay) -> None:
    for owner in ("alice", "default", "bob", "mallory", "trudy"):
        with server.client("admin", **{"X-Owner": owner}) as admin:
            assert admin.get("/v1/sandboxes").json()["items"] == [], owner
    assert server.volumes() == []
    assert server.containers() == []


@pytest.mark.parametrize(
    ("case", "headers", "status", "code", "says"),
    [
        ("no key", {}, 401, "unauthorized", "API key is required"),
        ("basic auth", {"Authorization": "Basic YWxpY2U6eA=="}, 401, "unauthorized", "Bearer"),
        ("empty bearer", {"Authorization": "Bearer"}, 401, "unauthorized", "Bearer"),
        ("unknown key", {"Authorization": "Bearer bay_not-a-key"}, 401, "unauthorized",
         "unknown"),
        ("proxy headers", {"Host": "bay.example.com", "X-Forwarded-For": "203.0.113.9",
                           "X-Forwarded-Proto": "https"}, 401, "unauthorized", "API key"),
        ("anonymous X-Owner", {"X-Owner": "admin"}, 401, "unauthorized", "API key"),
    ],
)  # fmt: skip
def test_requests_without_a_valid_key_are_refused_on_every_surface(
    server: HttpBay, case: str, headers: dict[str, str], status: int, code: str, says: str
) -> None:
    message = _refused_everywhere(server, headers, status, code)
    assert says in message, (case, message)
    _nothing_made(server)


def test_a_revoked_key_is_401_and_says_so(server: HttpBay) -> None:
    message = _refused_everywhere(server, key_headers(server, "revoked"), 401, "unauthorized")
    assert "revoked" in message
    _nothing_made(server)


def test_an_expired_key_is_401_and_says_so(server: HttpBay) -> None:
    headers = key_headers(server, "expired")
    deadline = time.monotonic() + 30
    with server.client(**headers) as client:
        while client.get("/v1/profiles").status_code == 200:  # works until it expires
            assert time.monotonic() < deadline, "the 1 s key never expired"
            time.sleep(0.1)
    message = _refused_everywhere(server, headers, 401, "unauthorized")
    assert "expired" in message
    assert "keys create" in message
    listed = subprocess.run(
        [BAY_MCP, "keys", "list"], env=environment(server.data_dir, server.instance_id),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    trudy = next(line for line in listed.splitlines() if "  trudy  " in line)
    assert "expired" in trudy
    _nothing_made(server)


def test_x_owner_from_a_non_admin_key_is_403(server: HttpBay) -> None:
    headers = {**key_headers(server, "alice"), "X-Owner": "bob"}
    message = _refused_everywhere(server, headers, 403, "forbidden")
    assert "admin" in message
    _nothing_made(server)


async def test_an_admin_key_acts_as_the_owner_it_names(server: HttpBay) -> None:
    as_bob = {**key_headers(server, "admin"), "X-Owner": "bob"}
    with server.client(**as_bob) as bob, server.client("alice") as alice:
        made = bob.post("/v1/sandboxes", json={}).json()["id"]
        error_of(alice.get(f"/v1/sandboxes/{made}"), 404, "not_found")
        with server.client("admin") as admin:  # the admin itself is another owner
            error_of(admin.get(f"/v1/sandboxes/{made}"), 404, "not_found")
        async with mcp_http_as(server, as_bob) as client:
            listed = await client.call_tool("list_sandboxes", {})
            assert listed.structured_content is not None
            assert [s["id"] for s in listed.structured_content["sandboxes"]] == [made]
        async with mcp_sse_as(server, as_bob) as client:
            listed = await client.call_tool("list_sandboxes", {})
            assert listed.structured_content is not None
            assert [s["id"] for s in listed.structured_content["sandboxes"]] == [made]
        with server.client("admin", **{"X-Owner": "not valid!"}) as odd:
            error_of(odd.get("/v1/sandboxes"), 400, "validation_error")
        assert bob.delete(f"/v1/sandboxes/{made}").status_code == 204


def test_keys_list_shows_last_use(server: HttpBay) -> None:
    with server.client("alice") as alice:
        assert alice.get("/v1/profiles").status_code == 200
    listed = subprocess.run(
        [BAY_MCP, "keys", "list"], env=environment(server.data_dir, server.instance_id),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    alice_line = next(line for line in listed.splitlines() if "  alice  " in line)
    assert "active" in alice_line
    assert "last used 20" in alice_line


async def test_explicit_anonymous_mode_is_one_owner_that_cannot_choose() -> None:
    with running_server(("alice",), BAY_ALLOW_ANONYMOUS="true") as server:
        with server.client() as anonymous:
            made = anonymous.post("/v1/sandboxes", json={})
            assert made.status_code == 201, made.text
            error_of(anonymous.get("/v1/sandboxes", headers={"X-Owner": "alice"}),
                     403, "forbidden")  # fmt: skip
        async with mcp_http_as(server, {}) as client:
            listed = await client.call_tool("list_sandboxes", {})
            assert listed.structured_content is not None
            assert [s["id"] for s in listed.structured_content["sandboxes"]] == [made.json()["id"]]
        with server.client("alice") as alice:  # keys still name their owner
            assert alice.get("/v1/sandboxes").json()["items"] == []
            error_of(alice.get("/v1/sandboxes", headers={"Authorization": "Bearer bay_x"}),
                     401, "unauthorized")  # fmt: skip
        log = (server.data_dir / "server.log").read_text()
        assert "WARNING" in log
        assert "anonymous access ON (BAY_ALLOW_ANONYMOUS=true)" in log


def test_loopback_without_keys_is_anonymous_until_a_key_exists() -> None:
    with running_server(()) as server:
        log = (server.data_dir / "server.log").read_text()
        assert "anonymous access ON while no API key exists" in log
        with server.client() as anonymous:
            made = anonymous.post("/v1/sandboxes", json={}).json()["id"]
            error_of(anonymous.get("/v1/sandboxes", headers={"X-Owner": "dave"}),
                     403, "forbidden")  # fmt: skip
            # A key made while the server runs switches anonymous access off at once.
            server.keys["erin"] = create_key(
                environment(server.data_dir, server.instance_id), "erin"
            )
            error_of(anonymous.get(f"/v1/sandboxes/{made}"), 401, "unauthorized")
            error_of(anonymous.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS),
                     401, "unauthorized")  # fmt: skip
        with server.client("erin") as erin:
            error_of(erin.get(f"/v1/sandboxes/{made}"), 404, "not_found")


def test_a_large_declared_json_body_is_413_before_it_is_read(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
    # 64 MiB is the default limit: declare more, send none of it, and get the answer.
    url = httpx.URL(server.url)
    head = (
        f"PUT /v1/sandboxes/{sandbox}/filesystem/files HTTP/1.1\r\n"
        f"Host: {url.host}:{url.port}\r\nAuthorization: Bearer {server.keys['alice']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {65 * 2**20}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port or 80), timeout=30) as connection:
        connection.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "payload_too_large"
    assert "67108864" in body["error"]["message"]
    assert body["error"]["details"] == {"limit_bytes": 67108864}
    with server.client("alice") as alice:
        assert alice.delete(f"/v1/sandboxes/{sandbox}").status_code == 204
