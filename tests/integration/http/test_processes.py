"""Processes and terminals over REST and WebSocket against real containers: output
long-polled to the end, a Python REPL driven through a terminal's screen, a kill, and
another owner refused; a terminal typed in and resized over a WebSocket, a signed link
opening a new shell, and the handshakes that must be refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.integration.http.conftest import (
    HttpBay,
    key_headers,
    mcp_http,
    running_server,
    text_of,
)


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    # Signed links expire fast here, so that one test sees a link expire.
    with running_server(("alice", "bob"), BAY_PREVIEW_TOKEN_TTL_SECONDS="5") as bay:
        yield bay


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_process_is_followed_to_its_end_and_listed(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        base = f"/v1/sandboxes/{sandbox}/processes"
        try:
            command = "for i in 1 2 3; do echo line$i; sleep 0.3; done"
            started = ok(alice.post(base, json={"command": command, "name": "count"}), 201)
            assert started["state"] == "running"
            text, since = "", 0
            deadline = time.monotonic() + 30
            while True:
                read = ok(alice.get(f"{base}/{started['id']}/output",
                                    params={"since": since, "wait": 5}))  # fmt: skip
                text += read["text"]
                since = read["next_offset"]
                if read["process"]["state"] != "running" and not read["more"]:
                    break
                assert time.monotonic() < deadline, text
            assert text.split() == ["line1", "line2", "line3"]
            listed = ok(alice.get(base))["processes"]
            ended = next(p for p in listed if p["id"] == started["id"])
            assert (ended["name"], ended["state"], ended["exit_code"]) == ("count", "exited", 0)
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")


def test_a_repl_is_driven_on_a_terminal_and_killed(server: HttpBay) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        base = f"/v1/sandboxes/{sandbox}/processes"
        try:
            repl = ok(alice.post(base, json={"command": "python3 -i", "pty": True}), 201)
            path = f"{base}/{repl['id']}"
            ok(alice.post(f"{path}/input", json={"text": "print(6*7)", "keys": ["Enter"]}))
            deadline = time.monotonic() + 30
            while "42" not in (screen := ok(alice.get(f"{path}/screen")))["lines"]:
                assert time.monotonic() < deadline, screen["rendered"]
                time.sleep(0.2)
            # Another owner's sandbox is not theirs to see.
            assert bob.get(path).status_code == 404
            killed = ok(alice.delete(path))
            assert (killed["state"], killed["signal"]) == ("killed", "SIGTERM")
            assert alice.get(f"{base}/proc-missing").status_code == 404
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")


# -- terminals over WebSocket ---------------------------------------------------------


def ws_url(server: HttpBay, path: str) -> str:
    return "ws://" + server.url.removeprefix("http://") + path


def read_until(terminal: ClientConnection, needle: str, timeout: float = 30) -> str:
    """The frames received until their text holds `needle`."""
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        try:
            frame = terminal.recv(timeout=max(left, 0))
        except TimeoutError:
            raise AssertionError(f"{needle!r} never came; got {seen!r}") from None
        seen += frame if isinstance(frame, str) else frame.decode()
    return seen


def refusal(url: str, **headers: str) -> tuple[int, str]:
    """The status and body a WebSocket handshake is refused with."""
    with pytest.raises(InvalidStatus) as refused, connect(url, additional_headers=headers):
        pass
    return refused.value.response.status_code, refused.value.response.body.decode()


def link_refused(url: str) -> bool:
    try:
        with connect(url):
            pass
    except InvalidStatus:
        return True
    return False


def test_a_terminal_is_typed_in_resized_and_closes_with_its_process(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        base = f"/v1/sandboxes/{sandbox}/processes"
        try:
            shell = ok(alice.post(base, json={"command": "bash", "pty": True}), 201)
            url = ws_url(server, f"{base}/{shell['id']}/terminal")
            with connect(url, additional_headers=key_headers(server, "alice")) as terminal:
                terminal.send("echo hi\r")
                read_until(terminal, "\rhi\r\n")
                terminal.send(json.dumps({"type": "resize", "rows": 30, "cols": 100}))
                terminal.send("stty size\r")
                read_until(terminal, "\r30 100\r\n")
                terminal.send("exit 3\r")
                with pytest.raises(ConnectionClosedOK):
                    read_until(terminal, "never printed")
                assert terminal.close_code == 1000
                assert terminal.close_reason == f"process {shell['id']} exited with code 3"
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")


def test_a_signed_link_opens_a_new_shell_that_ends_with_the_connection(
    server: HttpBay,
) -> None:
    with server.client("alice") as alice:
        sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        try:
            link = ok(alice.post(f"/v1/sandboxes/{sandbox}/terminal-link", json={}))
            assert link["process_id"] is None
            assert link["url"].startswith(ws_url(server, f"/v1/sandboxes/{sandbox}/terminal?"))
            # No key: the link's token is enough.
            with connect(link["url"] + "&rows=20&cols=90") as terminal:
                terminal.send("echo $((6*7)) $COLUMNS\r")
                read_until(terminal, "\r42 90\r\n")
                [shell] = ok(alice.get(f"/v1/sandboxes/{sandbox}/processes"))["processes"]
                assert (shell["name"], shell["state"], shell["pty"]) == (
                    "terminal",
                    "running",
                    True,
                )
            # Closing the connection hangs the shell up, as closing a window does.
            path = f"/v1/sandboxes/{sandbox}/processes/{shell['id']}"
            ended = ok(alice.post(f"{path}/wait", json={"timeout": 30}))
            assert (ended["state"], ended["signal"]) == ("killed", "SIGHUP"), ended
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")


def test_a_terminal_refuses_wrong_keys_other_owners_and_stale_links(server: HttpBay) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        base = f"/v1/sandboxes/{sandbox}/processes"
        try:
            sleeper = ok(alice.post(base, json={"command": "sleep 300", "pty": True}), 201)
            other = ok(alice.post(base, json={"command": "sleep 300", "pty": True}), 201)
            url = ws_url(server, f"{base}/{sleeper['id']}/terminal")
            status, body = refusal(url, Authorization="Bearer not-a-key")
            assert status == 401, body
            status, body = refusal(url, **key_headers(server, "bob"))
            assert (status, json.loads(body)["error"]["code"]) == (404, "not_found")
            assert bob.post(f"/v1/sandboxes/{sandbox}/terminal-link", json={}).status_code == 404
            link = ok(alice.post(f"/v1/sandboxes/{sandbox}/terminal-link",
                                 json={"process_id": sleeper["id"]}))["url"]  # fmt: skip
            token = link.partition("?")[2]
            # The link opens its own terminal, not another process's nor a new shell.
            status, _ = refusal(ws_url(server, f"{base}/{other['id']}/terminal?{token}"))
            assert status == 403
            status, _ = refusal(ws_url(server, f"/v1/sandboxes/{sandbox}/terminal?{token}"))
            assert status == 403
            with connect(link) as terminal:
                terminal.recv(timeout=30)  # the screen, painted on attach
            # This module's links live 5 s (BAY_PREVIEW_TOKEN_TTL_SECONDS): then refused.
            deadline = time.monotonic() + 30
            while not link_refused(link):
                assert time.monotonic() < deadline, "the link never expired"
                time.sleep(0.5)
            status, body = refusal(link)
            assert (status, "expired" in body) == (401, True), body
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")


async def test_an_agent_shares_its_terminal_with_a_person_over_mcp(server: HttpBay) -> None:
    async with mcp_http(server, "alice") as client:
        created = await client.call_tool("create_sandbox", {})
        assert created.structured_content is not None
        sandbox_id = created.structured_content["id"]
        try:
            started = await client.call_tool(
                "process_start", {"sandbox_id": sandbox_id, "command": "python3 -i", "pty": True}
            )
            assert started.structured_content is not None, text_of(started)
            ids = {"sandbox_id": sandbox_id, "process_id": started.structured_content["id"]}
            shared = await client.call_tool("terminal_link", ids)
            assert shared.structured_content is not None, text_of(shared)
            async with aconnect(shared.structured_content["url"]) as terminal:
                await terminal.send("print(6*7)\r")
                seen = ""
                while "\r\n42\r\n" not in seen:
                    frame = await asyncio.wait_for(terminal.recv(), 30)
                    seen += frame if isinstance(frame, str) else frame.decode()
            # What the person typed is on the agent's screen too.
            screen = await client.call_tool("terminal_screen", ids)
            assert "42" in text_of(screen)
        finally:
            await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
