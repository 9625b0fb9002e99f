"""Terminals over WebSocket, as xterm.js speaks it: `/v1/sandboxes/{id}/processes/{pid}/terminal`
attaches to a running process, `/v1/sandboxes/{id}/terminal` opens a new login shell
(`?rows=&cols=`, default 24×80) that ends (SIGHUP) when the connection closes.

The frames: text out is the terminal's output, as the program wrote it; text (or
binary) in is typed as is, except a text frame that is a JSON object with `"type":
"resize"` and integer `rows` and `cols`, which resizes the terminal. On attach a pty's
current screen is painted first, then its output follows from there; a process without
a pty gets the output it still keeps, with bare newlines made CRLF (and Enter made a
newline on its way in). When the process ends, its last output is sent and the socket
closes with 1000 and the end as the reason; when the sandbox's session ends, with 1011.

Who may: the owner's API key (`Authorization: Bearer …`, for programs), the signed
URL of `terminal_link` (`?bay_token=…`, for a browser, which cannot set headers on a
WebSocket), or the console's session cookie from a page of this server. Each is checked
at the handshake only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send

from bay_mcp.errors import BayError, NotFound, ValidationFailed
from bay_mcp.services.keys import AccessPolicy
from bay_mcp.services.process_inputs import TerminalSize
from bay_mcp.services.terminals import Terminal, TerminalService, terminal_path
from bay_mcp.web.handshake import deny_websocket, headers_of, query_parts, query_token
from ship import protocol

log = logging.getLogger(__name__)

TERMINAL_PATH = re.compile(r"^/v1/sandboxes/[^/]+/(processes/[^/]+/)?terminal$")
# Output sent in one frame at most; the rest follows in the next.
FRAME_BYTES = 64 * 1024
CLOSE_ENDED = 1000
CLOSE_SESSION_GONE = 1011


# The owner a browser's console session acts as on a sandbox (from the handshake's
# headers: its cookie, its Origin); None when it has no session.
SessionOwner = Callable[[dict[str, str], str], Awaitable[str | None]]


def is_terminal(path: str) -> bool:
    return TERMINAL_PATH.match(path) is not None


def _size_of(scope: Scope) -> TerminalSize:
    """The new shell's size from `?rows=&cols=` (24×80 when not given)."""
    query = dict(part.partition("=")[::2] for part in query_parts(scope))
    try:
        return TerminalSize(rows=int(query.get("rows", 24)), cols=int(query.get("cols", 80)))
    except ValueError as exc:
        raise ValidationFailed(
            "rows and cols must be whole numbers", {"fields": ["rows", "cols"]}
        ) from exc


def _resize_of(text: str) -> TerminalSize | None:
    """The size a resize message asks for; None when the frame is typing."""
    if not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "resize":
        return None
    return TerminalSize(rows=message.get("rows"), cols=message.get("cols"))


def _repaint(screen: protocol.TerminalScreen) -> str:
    """The screen as one write for a terminal that has just attached: cleared, the
    lines, the cursor put back (its text only: colours come with the next redraw)."""
    cursor = f"\x1b[{screen.cursor_row + 1};{screen.cursor_col + 1}H"
    return (
        "\x1b[H\x1b[2J"
        + "\r\n".join(screen.lines)
        + cursor
        + ("\x1b[?25h" if screen.cursor_visible else "\x1b[?25l")
    )


def _end_of(process: protocol.ProcessInfo) -> str:
    if process.signal is not None:
        return f"process {process.id} ended by {process.signal}"
    return f"process {process.id} exited with code {process.exit_code}"


class TerminalSocket:
    """An ASGI app for the terminal routes (WebSocket scopes)."""

    def __init__(
        self,
        terminals: TerminalService,
        policy: AccessPolicy,
        *,
        loopback_bind: bool,
        session_owner: SessionOwner | None = None,
    ) -> None:
        self._terminals = terminals
        self._policy = policy
        self._loopback_bind = loopback_bind
        self._session_owner = session_owner

    def routes(self) -> list[BaseRoute]:
        return [
            WebSocketRoute(terminal_path("{sandbox_id}", "{process_id}"), self, name="terminal"),
            WebSocketRoute(terminal_path("{sandbox_id}", None), self, name="new_terminal"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = f"req-{secrets.token_hex(8)}"
        if (await receive())["type"] != "websocket.connect":
            return
        params = scope["path_params"]
        sandbox_id, process_id = str(params["sandbox_id"]), params.get("process_id")
        try:
            owner = await self._owner(scope, sandbox_id, process_id)
            if process_id is None:
                terminal = await self._terminals.open_shell(owner, sandbox_id, _size_of(scope))
            else:
                terminal = await self._terminals.attach(owner, sandbox_id, str(process_id))
        except BayError as error:
            await deny_websocket(scope, send, error, request_id)
            return
        try:
            await send({"type": "websocket.accept"})
            async with self._terminals.held(terminal):
                await _relay(terminal, receive, send)
        finally:
            with contextlib.suppress(BayError):
                await terminal.hang_up()

    async def _owner(self, scope: Scope, sandbox_id: str, process_id: str | None) -> str:
        token = query_token(scope)
        if token is not None:
            return self._terminals.owner_by_link(token, sandbox_id, process_id)
        headers = headers_of(scope)
        if "authorization" not in headers and self._session_owner is not None:
            # The console's terminal: its session cookie, from a page of this server.
            owner = await self._session_owner(headers, sandbox_id)
            if owner is not None:
                return owner
        return await self._policy.caller(
            headers.get("authorization"), headers.get("x-owner"), loopback_bind=self._loopback_bind
        )


async def _relay(terminal: Terminal, receive: Receive, send: Send) -> None:
    """Output out and typing in, until the process ends, the session goes, or the
    client leaves; then the socket closed with why."""
    closing: dict[str, Any] = {}
    out = asyncio.create_task(_output(terminal, send, closing))
    typing = asyncio.create_task(_typing(terminal, receive))
    tasks = [out, typing]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("terminal %s ended: %r", terminal.process_id, task.exception())
                closing.setdefault("code", CLOSE_SESSION_GONE)
                closing.setdefault("reason", "the terminal failed: see Bay's log")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if closing:
        with contextlib.suppress(OSError, RuntimeError):  # the client may be gone already
            await send({"type": "websocket.close", **closing})


async def _output(terminal: Terminal, send: Send, closing: dict[str, Any]) -> None:
    """Send the output as it comes; on the process's end, say so in `closing`."""
    pty = terminal.process.pty
    since: int | None = None
    try:
        if pty:
            screen = await terminal.screen()
            await send({"type": "websocket.send", "text": _repaint(screen)})
            since = screen.offset
        while True:
            chunk = await terminal.read(since, FRAME_BYTES)
            text = chunk.text
            if chunk.dropped_bytes and since is not None:
                text = f"\r\n[{chunk.dropped_bytes} bytes of output skipped]\r\n" + text
            if text:
                if not pty:
                    text = re.sub(r"\r?\n", "\r\n", text)
                await send({"type": "websocket.send", "text": text})
            since = chunk.next_offset
            if chunk.process.state != "running" and not chunk.more:
                closing.update(code=CLOSE_ENDED, reason=_end_of(chunk.process))
                return
    except NotFound:  # forgotten by Ship meanwhile: it had ended
        closing.update(code=CLOSE_ENDED, reason=f"process {terminal.process_id} ended")
    except BayError as exc:
        log.info("terminal %s: %s", terminal.process_id, exc.message)
        closing.update(code=CLOSE_SESSION_GONE, reason="the sandbox's session ended")


async def _typing(terminal: Terminal, receive: Receive) -> None:
    """Pass what the client types (and its resizes) on, until it leaves."""
    pty = terminal.process.pty
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            text = data.decode("utf-8", errors="replace")
        try:
            size = _resize_of(text)
        except (ValidationError, ValidationFailed) as exc:
            log.info("terminal %s: a bad resize ignored: %s", terminal.process_id, exc)
            continue
        try:
            if size is not None:
                await terminal.resize(size)
            elif text:
                await terminal.write(text if pty else text.replace("\r", "\n"))
        except ValidationFailed as exc:  # it ended, or does not read: the output says so
            log.info("terminal %s: input not taken: %s", terminal.process_id, exc.message)
