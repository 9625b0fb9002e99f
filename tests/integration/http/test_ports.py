"""Preview URLs for real: servers started in a sandbox with shell_exec, exposed with the
MCP tools, reached through Bay's proxy over HTTP and WebSocket, with the owner's key
or a signed URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect as websocket_connect

from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server

# A stdlib server (the sandbox has no WebSocket library): WebSocket echo, and for
# plain HTTP a JSON account of the request it got (to see what the proxy passes on).
ECHO_SERVER = r"""
import asyncio, base64, hashlib, json, struct, sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, data):
    n = len(data)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", n)
    return head + data


async def websocket(reader, writer, headers):
    key = headers["sec-websocket-key"] + GUID
    accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n").encode())
    while True:
        first, second = await reader.readexactly(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if second & 0x80 else bytes(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if opcode == 8:
            writer.write(frame(8, data[:2]))
            await writer.drain()
            return
        if opcode == 9:
            writer.write(frame(10, data))
        elif opcode == 1:
            writer.write(frame(1, b"echo: " + data))
        elif opcode == 2:
            writer.write(frame(2, data[::-1]))
        await writer.drain()


async def handle(reader, writer):
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() == "websocket":
            await websocket(reader, writer, headers)
            return
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        payload = json.dumps(
            {"method": method, "target": target, "headers": headers, "body": body.decode()}
        ).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload) + payload)
        await writer.drain()
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""
WAIT_FOR = (
    "for i in $(seq 100); do curl -sf localhost:{port}/{path} >/dev/null && exit 0; "
    "sleep 0.1; done; exit 1"
)
HTTP_PORT, ECHO_PORT, IDLE_PORT = 8000, 8765, 9999


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob"), BAY_ALLOW_ANONYMOUS="false") as bay:
        yield bay


def shell(client: httpx.Client, sandbox_id: str, command: str) -> None:
    ran = client.post(f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": command})
    assert ran.status_code == 200, ran.text
    assert ran.json()["exit_code"] == 0, ran.text


@pytest.fixture(scope="module")
def sandbox(server: HttpBay) -> Iterator[str]:
    """alice's sandbox running http.server on 8000 (a site) and the echo server on 8765."""
    with server.client("alice") as alice:
        created = alice.post("/v1/sandboxes", json={})
        assert created.status_code == 201, created.text
        sandbox_id: str = created.json()["id"]
        for path, content in {
            "site/index.html": "<a href='page.html'>hello from the sandbox</a>",
            "site/page.html": "a relative page",
            "site/docs/index.html": "the docs",
            "echo.py": ECHO_SERVER,
        }.items():
            written = alice.put(
                f"/v1/sandboxes/{sandbox_id}/filesystem/files",
                json={"path": path, "content": content},
            )
            assert written.status_code == 200, written.text
        shell(
            alice,
            sandbox_id,
            f"nohup python3 -m http.server {HTTP_PORT} --directory /workspace/site "
            f">/tmp/http.log 2>&1 & nohup python3 echo.py {ECHO_PORT} >/tmp/echo.log 2>&1 & "
            + WAIT_FOR.format(port=HTTP_PORT, path="index.html")
            + "; "
            + WAIT_FOR.format(port=ECHO_PORT, path="ready"),
        )
        yield sandbox_id
        alice.delete(f"/v1/sandboxes/{sandbox_id}")


async def expose(server: HttpBay, sandbox_id: str, port: int, owner: str = "alice") -> Any:
    async with mcp_http(server, owner) as client:
        result = await client.call_tool("expose_port", {"sandbox_id": sandbox_id, "port": port})
        assert not result.is_error, result.content
        return result.structured_content


def proxy(sandbox_id: str, port: int) -> str:
    return f"/v1/sandboxes/{sandbox_id}/ports/{port}"


async def test_the_owner_opens_the_server_with_the_key(server: HttpBay, sandbox: str) -> None:
    exposed = await expose(server, sandbox, HTTP_PORT)
    assert exposed["url"].startswith(f"{server.url}{proxy(sandbox, HTTP_PORT)}/?bay_token=")
    assert exposed["local_url"] == f"http://localhost:{HTTP_PORT}/"
    with server.client("alice") as alice:
        page = alice.get(proxy(sandbox, HTTP_PORT) + "/")
        assert page.status_code == 200, page.text
        assert "hello from the sandbox" in page.text
        # Without the slash, relative links would miss the port: redirected to it.
        bare = alice.get(proxy(sandbox, HTTP_PORT) + "?x=1")
        assert bare.status_code == 307
        assert bare.headers["location"] == proxy(sandbox, HTTP_PORT) + "/?x=1"
        # http.server redirects /docs to /docs/ for itself: pointed back through Bay.
        docs = alice.get(proxy(sandbox, HTTP_PORT) + "/docs")
        assert docs.status_code == 301
        assert docs.headers["location"] == proxy(sandbox, HTTP_PORT) + "/docs/"
        assert alice.get(docs.headers["location"]).text == "the docs"


async def test_a_signed_url_opens_it_in_a_browser_without_a_key(
    server: HttpBay, sandbox: str
) -> None:
    exposed = await expose(server, sandbox, HTTP_PORT)
    with httpx.Client(timeout=60) as browser:
        page = browser.get(exposed["url"])
        assert page.status_code == 200, page.text
        assert "hello from the sandbox" in page.text
        cookie = page.headers["set-cookie"]
        assert f"Path={proxy(sandbox, HTTP_PORT)}/" in cookie
        assert "HttpOnly" in cookie
        # The cookie opens the page's relative links: no token in their URL.
        linked = browser.get(f"{server.url}{proxy(sandbox, HTTP_PORT)}/page.html")
        assert linked.status_code == 200, linked.text
        assert linked.text == "a relative page"
    with httpx.Client(base_url=server.url, timeout=60) as stranger:
        error_of(stranger.get(proxy(sandbox, HTTP_PORT) + "/page.html"), 401, "unauthorized")


async def test_the_proxy_passes_methods_and_bodies_but_never_bay_credentials(
    server: HttpBay, sandbox: str
) -> None:
    exposed = await expose(server, sandbox, ECHO_PORT)
    with server.client("alice") as alice:
        sent = alice.post(
            proxy(sandbox, ECHO_PORT) + "/api/items?limit=2",
            content=b"x" * 300_000,
            headers={"Cookie": "app=1", "X-Custom": "yes"},
        )
        assert sent.status_code == 200, sent.text
        seen = sent.json()
        assert (seen["method"], seen["target"]) == ("POST", "/api/items?limit=2")
        assert len(seen["body"]) == 300_000
        assert seen["headers"]["x-custom"] == "yes"
        assert seen["headers"]["cookie"] == "app=1"
        assert "authorization" not in seen["headers"]  # alice's key stays with Bay
        assert seen["headers"]["host"] == f"localhost:{ECHO_PORT}"
    token = urlsplit(exposed["url"]).query
    with httpx.Client(timeout=60) as browser:
        seen = browser.get(f"{server.url}{proxy(sandbox, ECHO_PORT)}/q?a=b&{token}").json()
        assert seen["target"] == "/q?a=b"  # the token is Bay's, not the app's
        seen = browser.get(f"{server.url}{proxy(sandbox, ECHO_PORT)}/again").json()
        assert "bay_preview" not in seen["headers"].get("cookie", "")


async def test_a_wrong_token_another_port_or_another_owner_is_refused(
    server: HttpBay, sandbox: str
) -> None:
    exposed = await expose(server, sandbox, HTTP_PORT)
    token = urlsplit(exposed["url"]).query.partition("=")[2]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with httpx.Client(base_url=server.url, timeout=60) as browser:
        error_of(
            browser.get(f"{proxy(sandbox, HTTP_PORT)}/?bay_token={forged}"), 401, "unauthorized"
        )
        error_of(
            browser.get(f"{proxy(sandbox, HTTP_PORT)}/?bay_token=garbage"), 401, "unauthorized"
        )
        other_port = browser.get(f"{proxy(sandbox, ECHO_PORT)}/?bay_token={token}")
        assert "port 8000" in str(error_of(other_port, 403, "forbidden")["message"])
    with server.client("bob") as bob:
        error_of(bob.get(proxy(sandbox, HTTP_PORT) + "/"), 404, "not_found")
        async with mcp_http(server, "bob") as client:
            refused = await client.call_tool(
                "expose_port", {"sandbox_id": sandbox, "port": HTTP_PORT}
            )
            assert refused.is_error
    with server.client("alice") as alice:
        never = alice.get(proxy(sandbox, 7000) + "/")
        assert "expose_port" in str(error_of(never, 404, "not_found")["message"])


async def test_a_port_nothing_listens_on_is_a_clear_502(server: HttpBay, sandbox: str) -> None:
    await expose(server, sandbox, IDLE_PORT)
    with server.client("alice") as alice:
        error = error_of(alice.get(proxy(sandbox, IDLE_PORT) + "/"), 502, "ship_error")
        message = str(error["message"])
        assert f"port {IDLE_PORT}" in message
        assert "0.0.0.0" in message
        assert error["details"] == {"port": IDLE_PORT}


async def test_a_websocket_echoes_through_the_proxy(server: HttpBay, sandbox: str) -> None:
    exposed = await expose(server, sandbox, ECHO_PORT)
    ws_base = server.url.replace("http://", "ws://") + proxy(sandbox, ECHO_PORT)
    token = urlsplit(exposed["url"]).query
    with websocket_connect(f"{ws_base}/socket?{token}", proxy=None) as socket:
        socket.send("hello")
        assert socket.recv(timeout=30) == "echo: hello"
        socket.send(b"\x01\x02\x03")
        assert socket.recv(timeout=30) == b"\x03\x02\x01"
    key = {"Authorization": f"Bearer {server.keys['alice']}"}
    big = "y" * 200_000
    with websocket_connect(f"{ws_base}/socket", additional_headers=key, proxy=None) as socket:
        socket.send(big)
        assert socket.recv(timeout=30) == "echo: " + big
    with pytest.raises(Exception, match="401"):
        websocket_connect(f"{ws_base}/socket?bay_token=garbage", proxy=None, open_timeout=30)


async def test_stopping_the_sandbox_closes_its_ports(server: HttpBay) -> None:
    with server.client("alice") as alice:
        created = alice.post("/v1/sandboxes", json={})
        assert created.status_code == 201, created.text
        sandbox_id = created.json()["id"]
        try:
            shell(
                alice,
                sandbox_id,
                f"nohup python3 -m http.server {HTTP_PORT} >/dev/null 2>&1 & "
                + WAIT_FOR.format(port=HTTP_PORT, path=""),
            )
            exposed = await expose(server, sandbox_id, HTTP_PORT)
            assert alice.get(proxy(sandbox_id, HTTP_PORT) + "/").status_code == 200
            async with mcp_http(server, "alice") as client:
                listed = await client.call_tool("list_ports", {"sandbox_id": sandbox_id})
                assert [p["port"] for p in (listed.structured_content or {})["ports"]] == [
                    HTTP_PORT
                ]
                stopped = await client.call_tool("stop_sandbox", {"sandbox_id": sandbox_id})
                assert not stopped.is_error
                gone = alice.get(proxy(sandbox_id, HTTP_PORT) + "/")
                assert "stopped" in str(error_of(gone, 404, "not_found")["message"])
                with httpx.Client(timeout=60) as browser:
                    error_of(browser.get(exposed["url"]), 404, "not_found")
                listed = await client.call_tool("list_ports", {"sandbox_id": sandbox_id})
                assert (listed.structured_content or {})["ports"] == []
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox_id}")


async def test_unexpose_closes_the_url(server: HttpBay, sandbox: str) -> None:
    await expose(server, sandbox, IDLE_PORT)
    async with mcp_http(server, "alice") as client:
        closed = await client.call_tool("unexpose_port", {"sandbox_id": sandbox, "port": IDLE_PORT})
        assert (closed.structured_content or {})["status"] == "closed"
        again = await client.call_tool("unexpose_port", {"sandbox_id": sandbox, "port": IDLE_PORT})
        assert (again.structured_content or {})["status"] == "not_exposed"
    with server.client("alice") as alice:
        error_of(alice.get(proxy(sandbox, IDLE_PORT) + "/"), 404, "not_found")


async def test_an_expired_signed_url_is_refused() -> None:
    with (
        running_server(("alice",), BAY_PREVIEW_TOKEN_TTL_SECONDS="1") as server,
        server.client("alice") as alice,
    ):
        created = alice.post("/v1/sandboxes", json={})
        assert created.status_code == 201, created.text
        sandbox_id = created.json()["id"]
        shell(
            alice,
            sandbox_id,
            f"nohup python3 -m http.server {HTTP_PORT} >/dev/null 2>&1 & "
            + WAIT_FOR.format(port=HTTP_PORT, path=""),
        )
        exposed = await expose(server, sandbox_id, HTTP_PORT)
        assert exposed["expires_at"] is not None
        time.sleep(2.1)
        with httpx.Client(timeout=60) as browser:
            expired = error_of(browser.get(exposed["url"]), 401, "unauthorized")
            assert "expired" in str(expired["message"])
        # The key still opens it: only the link is stale.
        assert alice.get(proxy(sandbox_id, HTTP_PORT) + "/").status_code == 200


def test_ports_over_rest_expose_list_and_close(server: HttpBay, sandbox: str) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        ports = f"/v1/sandboxes/{sandbox}/ports"
        exposed = alice.post(ports, json={"port": HTTP_PORT})
        assert exposed.status_code == 201, exposed.text
        assert exposed.json()["url"].startswith(f"{server.url}{proxy(sandbox, HTTP_PORT)}/")
        signed = httpx.get(exposed.json()["url"])
        assert "hello from the sandbox" in signed.text
        listed = alice.get(ports).json()["ports"]
        assert HTTP_PORT in [entry["port"] for entry in listed]
        assert bob.get(ports).status_code == 404
        error_of(alice.post(ports, json={"port": 70000}), 400, "validation_error")
        error_of(alice.post(ports, json={"port": HTTP_PORT, "tls": True}), 400, "validation_error")
        assert alice.delete(f"{ports}/{HTTP_PORT}").status_code == 204
        assert alice.get(proxy(sandbox, HTTP_PORT) + "/").status_code == 404
        error_of(alice.delete(f"{ports}/{HTTP_PORT}"), 404, "not_found")
