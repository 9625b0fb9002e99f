"""Processes and terminals over the real `bay-mcp` (stdio) and Docker: a server started,
exposed, its access log read and killed; output long-polled and followed as progress;
a Python REPL and Ctrl+C driven through a terminal; a stop ending every process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.integration.mcp.conftest import call, new_sandbox, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def structured(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await call(client, tool, **arguments)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def screen_showing(client: Client, ids: dict[str, str], text: str) -> str:
    """The terminal's screen once it shows `text` (polled for up to 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        screen = (await structured(client, "terminal_screen", **ids))["rendered"]
        if text in screen or time.monotonic() > deadline:
            assert text in screen, screen
            return str(screen)
        await asyncio.sleep(0.2)


async def test_a_server_is_started_exposed_read_and_killed(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    try:
        await call(client, "write_file", sandbox_id=sandbox_id, path="site/index.html",
                   content="served by a process")  # fmt: skip
        started = await structured(
            client, "process_start", sandbox_id=sandbox_id, name="web",
            command="python3 -u -m http.server 8000 --directory site",
        )  # fmt: skip
        ids = {"sandbox_id": sandbox_id, "process_id": started["id"]}
        exposed = await structured(client, "expose_port", sandbox_id=sandbox_id, port=8000)
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            page = await http.get(exposed["url"])
            assert (page.status_code, page.text) == (200, "served by a process")
            log = ""
            for _ in range(10):  # the access log line may come a moment after the page
                read = await call(client, "process_output", **ids, wait_seconds=2)
                log += text_of(read)
                if '"GET / HTTP/1.1" 200' in log:
                    break
            assert '"GET / HTTP/1.1" 200' in log
            listed = await structured(client, "process_list", sandbox_id=sandbox_id)
            [web] = listed["processes"]
            assert 8000 in web["ports"]
            assert [url["port"] for url in web["urls"]] == [8000]
            signalled = await structured(client, "process_signal", **ids, signal="SIGTERM")
            assert signalled["sent"] is True
            ended = await structured(client, "process_wait", **ids, timeout=10)
            assert (ended["state"], ended["signal"]) == ("killed", "SIGTERM")
            [gone] = (await structured(client, "process_list", sandbox_id=sandbox_id))["processes"]
            assert gone["state"] == "killed"
            refused = await http.get(exposed["url"])
            assert refused.status_code == 502
    finally:
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_output_long_polls_and_follows_as_progress(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    loop = "for i in 1 2 3; do echo $i; sleep 1; done"
    try:
        first = await structured(client, "process_start", sandbox_id=sandbox_id, command=loop)
        ids = {"sandbox_id": sandbox_id, "process_id": first["id"]}
        began = time.monotonic()
        read = await structured(client, "process_output", **ids, wait_seconds=5)
        assert read["text"].startswith("1")
        assert time.monotonic() - began < 2.5  # as soon as a line came, not after the wait
        text, since = read["text"], read["next_offset"]
        while read["process"]["state"] == "running":
            read = await structured(client, "process_output", **ids, since=since, wait_seconds=5)
            text, since = text + read["text"], read["next_offset"]
        assert text == "1\n2\n3\n"
        assert (read["process"]["state"], read["process"]["exit_code"]) == ("exited", 0)

        heard: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            heard.append(message or "")

        second = await structured(client, "process_start", sandbox_id=sandbox_id, command=loop)
        followed = await client.call_tool(
            "process_output",
            {"sandbox_id": sandbox_id, "process_id": second["id"], "wait_seconds": 10},
            progress_callback=on_progress,
        )
        assert not followed.is_error, text_of(followed)
        assert text_of(followed).startswith("1\n2\n3\n")
        assert "exited with code 0" in text_of(followed)
        assert "1\n" in "".join(heard)
    finally:
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_a_repl_and_ctrl_c_are_driven_through_the_terminal(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    try:
        repl = await structured(
            client, "process_start", sandbox_id=sandbox_id, command="python3 -i", pty=True
        )
        ids = {"sandbox_id": sandbox_id, "process_id": repl["id"]}
        await screen_showing(client, ids, ">>>")
        await call(client, "process_input", **ids, text="x = 6*7", keys=["Enter"])
        await call(client, "process_input", **ids, text="print(x)", keys=["Enter"])
        assert "█" in await screen_showing(client, ids, "42")
        await call(client, "process_input", **ids, keys=["Ctrl+D"])
        ended = await structured(client, "process_wait", **ids, timeout=10)
        assert (ended["state"], ended["exit_code"]) == ("exited", 0)

        sleeper = await structured(
            client, "process_start", sandbox_id=sandbox_id, command="sleep 100", pty=True
        )
        ids = {"sandbox_id": sandbox_id, "process_id": sleeper["id"]}
        await call(client, "process_input", **ids, keys=["Ctrl+C"])
        interrupted = await structured(client, "process_wait", **ids, timeout=10)
        assert interrupted["state"] != "running"
    finally:
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_a_stop_ends_every_process(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    try:
        sleeper = await structured(
            client, "process_start", sandbox_id=sandbox_id, command="sleep 1000"
        )
        # Over stdio there is no HTTP server for a person's terminal to attach through.
        shared = await client.call_tool("terminal_link", {"sandbox_id": sandbox_id})
        assert shared.is_error
        assert "bay-mcp serve" in text_of(shared)
        await call(client, "stop_sandbox", sandbox_id=sandbox_id)
        listed = await structured(client, "process_list", sandbox_id=sandbox_id)
        assert listed["processes"] == []
        assert "ended when its session stopped" in listed["note"]
        missing = await client.call_tool(
            "process_output", {"sandbox_id": sandbox_id, "process_id": sleeper["id"]}
        )
        assert missing.is_error
        assert "ended with the sandbox's session" in text_of(missing)
    finally:
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
