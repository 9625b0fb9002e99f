"""Processes and terminals over REST against real containers: output long-polled to
the end, a Python REPL driven through a terminal's screen, a kill, and another owner
refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob")) as bay:
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
