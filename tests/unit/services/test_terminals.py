"""Terminals a person holds open, over the fakes: signed links (HTTP only, scoped, for
terminals that exist and are the caller's), an attach, a new shell, typing as use."""

from __future__ import annotations

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import CapabilityNotSupported, NotFound
from bay_mcp.services.process_inputs import ProcessStart, TerminalSize
from bay_mcp.services.processes import SHELL_COMMAND, SHELL_NAME
from bay_mcp.storage.models import utcnow
from tests.fakes import FakeShip


async def test_a_link_needs_the_http_server(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    with pytest.raises(CapabilityNotSupported, match="bay-mcp serve"):
        await bay.terminals.link("alice", sandbox.id, None)


async def test_a_link_opens_its_terminal_over_wss_behind_https(bay: Bay) -> None:
    bay.ports.serve_through("https://bay.example.com/")
    sandbox = await bay.sandboxes.create("alice")
    started = await bay.processes.start(
        "alice", sandbox.id, ProcessStart(command="python3 -i", pty=True)
    )
    link = await bay.terminals.link("alice", sandbox.id, started.id)
    prefix = f"wss://bay.example.com/v1/sandboxes/{sandbox.id}/processes/{started.id}/terminal"
    assert link.url.startswith(prefix + "?bay_token=")
    token = link.url.partition("bay_token=")[2]
    assert bay.terminals.owner_by_link(token, sandbox.id, started.id) == "alice"
    shells = await bay.terminals.link("alice", sandbox.id, None)
    assert shells.url.startswith(f"wss://bay.example.com/v1/sandboxes/{sandbox.id}/terminal?")
    assert shells.process_id is None


async def test_no_link_for_a_missing_process_or_another_owners_sandbox(bay: Bay) -> None:
    bay.ports.serve_through("http://127.0.0.1:8000")
    sandbox = await bay.sandboxes.create("alice")
    await bay.processes.start("alice", sandbox.id, ProcessStart(command="sleep 100"))
    with pytest.raises(NotFound, match="proc-00000000"):
        await bay.terminals.link("alice", sandbox.id, "proc-00000000")
    with pytest.raises(NotFound):
        await bay.terminals.link("bob", sandbox.id, None)


async def test_a_new_shell_is_a_login_shell_on_a_terminal_hung_up_at_the_end(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    terminal = await bay.terminals.open_shell("alice", sandbox.id, TerminalSize(rows=30, cols=90))
    info = terminal.process
    assert (info.command, info.name, info.pty, info.rows, info.cols) == (
        SHELL_COMMAND, SHELL_NAME, True, 30, 90
    )  # fmt: skip
    await terminal.hang_up()
    [ended] = (await bay.processes.list("alice", sandbox.id)).processes
    assert ended.signal == "SIGHUP"


async def test_typing_is_use_and_an_attach_never_hangs_up(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    started = await bay.processes.start(
        "alice", sandbox.id, ProcessStart(command="python3 -i", pty=True)
    )
    terminal = await bay.terminals.attach("alice", sandbox.id, started.id)
    before = utcnow()
    await terminal.write("x = 1\r")
    assert bay.activity.last_active(sandbox.id, before) > before
    screen = await terminal.screen()
    assert "x = 1" in screen.rendered
    await terminal.hang_up()  # attached, not opened here: the process lives on
    assert (await bay.processes.get("alice", sandbox.id, started.id)).state == "running"
    with pytest.raises(NotFound):
        await bay.terminals.attach("bob", sandbox.id, started.id)
