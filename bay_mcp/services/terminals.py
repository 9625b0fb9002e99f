"""Terminals a person holds open: a process's terminal (or a new login shell) attached
over a WebSocket through Bay's HTTP server, e.g. from xterm.js in a browser.

Opening one passes the runtime gate once (owner, expiry, capability, the session), as
the preview proxy resolves its target once; the connection then talks to that session's
Ship directly, so a keystroke costs one call to Ship and no database read. A keystroke
counts as use of the sandbox (its idle timer restarts); a terminal held open that
nobody types in does not keep the sandbox up by itself (its output counts as any
process's does: `ProcessService.printed_since`). When the session ends (a stop, an idle
stop, a restore) its Ship goes, and every terminal on it ends.

Who may open one: the owner's API key, or a signed URL from `link` (a token scoped to
that terminal, or to new shells of that sandbox) for a person's browser.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.errors import CapabilityNotSupported
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.services.ports import TOKEN_PARAMETER, PortService
from bay_mcp.services.process_inputs import TerminalSize
from bay_mcp.services.processes import ProcessService
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import TerminalLink
from ship import protocol

log = logging.getLogger(__name__)

# A read waits this long at most for output before it is asked again (Ship's bound is
# MAX_OUTPUT_WAIT_S; shorter keeps a dead connection from being noticed late).
READ_WAIT_S = 20.0


def terminal_path(sandbox_id: str, process_id: str | None) -> str:
    """The WebSocket's path: a process's terminal, or (None) a new shell."""
    base = f"/v1/sandboxes/{sandbox_id}"
    return f"{base}/processes/{process_id}/terminal" if process_id else f"{base}/terminal"


class Terminal:
    """One open terminal: a process of a session, reached on that session's Ship."""

    def __init__(
        self,
        ship: ShipClient,
        endpoint: ShipEndpoint,
        sandbox_id: str,
        process: protocol.ProcessInfo,
        activity: ActivityClock,
        *,
        opened_here: bool,
    ) -> None:
        self._ship = ship
        self._endpoint = endpoint
        self._activity = activity
        self.sandbox_id = sandbox_id
        self.process = process
        # A shell the connection started ends with it (as closing a terminal window does).
        self.opened_here = opened_here

    @property
    def process_id(self) -> str:
        return self.process.id

    async def screen(self) -> protocol.TerminalScreen:
        return await self._ship.terminal_screen(self._endpoint, self.process_id)

    async def read(self, since: int | None, max_bytes: int) -> protocol.ProcessOutput:
        """Output from `since`, waiting up to READ_WAIT_S for some (or for the end)."""
        return await self._ship.process_output(
            self._endpoint, self.process_id, since, READ_WAIT_S, max_bytes
        )

    async def write(self, text: str) -> None:
        """Keystrokes (or pasted text), as the terminal client sent them."""
        self._activity.touch(self.sandbox_id)
        await self._ship.process_input(
            self._endpoint, self.process_id, protocol.ProcessInputRequest(text=text)
        )

    async def resize(self, size: TerminalSize) -> None:
        await self._ship.terminal_resize(self._endpoint, self.process_id, size.rows, size.cols)

    async def hang_up(self) -> None:
        """SIGHUP to a shell this connection started (what closing its window sends)."""
        if self.opened_here:
            await self._ship.process_signal(self._endpoint, self.process_id, "HUP")


class TerminalService:
    def __init__(
        self,
        sandboxes: SandboxService,
        processes: ProcessService,
        ship: ShipClient,
        activity: ActivityClock,
        ports: PortService,
        sessions: SessionManager,
    ) -> None:
        self._sessions = sessions
        self._sandboxes = sandboxes
        self._processes = processes
        self._ship = ship
        self._activity = activity
        self._ports = ports  # its public URL (HTTP only) and its URL signer

    def held(self, terminal: Terminal) -> AbstractAsyncContextManager[None]:
        """While a person's terminal is open its sandbox is in use: never paused under
        them (a frozen shell would not answer their keys) nor stopped for idleness."""
        return self._sessions.using(terminal.sandbox_id)

    def owner_by_link(self, token: str, sandbox_id: str, process_id: str | None) -> str:
        """Whose terminal a signed URL's token opens: Unauthorized (not valid, expired) or
        Forbidden (another terminal's, or a port's)."""
        return self._ports.tokens.verify_terminal(token, sandbox_id, process_id).owner

    async def attach(self, owner: str, sandbox_id: str, process_id: str) -> Terminal:
        """A running process's terminal (or its output and input, without a pty).
        NotFound naming it."""
        endpoint, process = await self._processes.attach(owner, sandbox_id, process_id)
        return Terminal(
            self._ship, endpoint, sandbox_id, process, self._activity, opened_here=False
        )

    async def open_shell(self, owner: str, sandbox_id: str, size: TerminalSize) -> Terminal:
        """A new login shell of `size` (the sandbox started if need be)."""
        endpoint, process = await self._processes.start_shell(owner, sandbox_id, size)
        log.info("sandbox %s: terminal %s opened", sandbox_id, process.id)
        return Terminal(self._ship, endpoint, sandbox_id, process, self._activity, opened_here=True)

    async def link(self, owner: str, sandbox_id: str, process_id: str | None) -> TerminalLink:
        """A signed URL opening the terminal of `process_id` (None: new login shells)
        for BAY_PREVIEW_TOKEN_TTL_SECONDS, checked to exist now. Over stdio there is no
        HTTP server to open it on: CapabilityNotSupported."""
        base = self._ports.public_url
        if base is None:
            raise CapabilityNotSupported(
                "terminal links need Bay's HTTP server (bay-mcp serve): over stdio, drive "
                "the terminal with process_input and terminal_screen",
                {"capability": "terminal_link"},
            )
        if process_id is None:
            await self._sandboxes.check_owner(owner, sandbox_id)
        else:
            await self._processes.get(owner, sandbox_id, process_id)
        token, expires_at = self._ports.tokens.sign_terminal(sandbox_id, process_id, owner)
        scheme, _, rest = base.partition("://")
        ws_base = ("wss" if scheme == "https" else "ws") + "://" + rest
        url = f"{ws_base}{terminal_path(sandbox_id, process_id)}?{TOKEN_PARAMETER}={token}"
        return TerminalLink(
            sandbox_id=sandbox_id, process_id=process_id, url=url, expires_at=expires_at
        )
