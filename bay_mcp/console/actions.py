"""The console's actions (POST, each behind the CSRF check) and its sign-in and
sign-out. Each action calls the same service as the REST endpoint that does it, then
sends the browser back to the page it acted on (post/redirect/get) with a notice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bay_mcp.console.access import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Console,
    ConsoleRequest,
    login_csrf,
    secure,
    set_login_csrf,
    set_session_cookie,
)
from bay_mcp.console.render import render_page
from bay_mcp.errors import BayError, ValidationFailed
from bay_mcp.managers import no_progress
from bay_mcp.services.keys import check_owner
from bay_mcp.storage.models import utcnow

log = logging.getLogger(__name__)

UPLOAD_CHUNK_BYTES = 1024 * 1024


def back(to: str, notice: str | None = None, **query: str) -> Response:
    """To the page `to` (303, so the browser GETs it), with a notice to show there."""
    if notice:
        query["notice"] = notice
    return RedirectResponse(to + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _field(form: FormData, name: str, *, required: bool = True) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise ValidationFailed(f"the form's {name} is missing", {"field": name})
    return text


def _sandbox_path(sandbox_id: str, tab: str = "") -> str:
    return f"/ui/sandboxes/{sandbox_id}" + (f"/{tab}" if tab else "")


# -- sign-in and sign-out --------------------------------------------------------------


async def login_page(console: Console, request: Request, error: str | None = None) -> Response:
    if error is None and await console.caller(request) is not None:
        return secure(back("/ui/sandboxes"))
    token = login_csrf(request)
    anonymous = await console.bay.console_sessions.anonymous_allowed(console.loopback_bind)
    response = render_page(
        request,
        "login.html",
        http_status=401 if error else 200,
        csrf=token,
        error=error,
        anonymous=anonymous,
    )
    set_login_csrf(response, request, token)
    return secure(response)


async def login(console: Console, request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = form.get("csrf")
    if not cookie or not isinstance(given, str) or given != cookie:
        log.warning("console: a sign-in without its CSRF token")
        return await login_page(
            console, request, "the sign-in form was stale: it has been reloaded, try again"
        )
    key = form.get("key")
    try:
        token, _ = await console.bay.console_sessions.sign_in(
            key if isinstance(key, str) else None, loopback_bind=console.loopback_bind
        )
    except BayError as error:
        return await login_page(console, request, error.message)
    response = back("/ui/sandboxes")
    set_session_cookie(response, request, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return secure(response)


async def logout(call: ConsoleRequest) -> Response:
    await call.bay.console_sessions.sign_out(call.request.cookies.get(SESSION_COOKIE))
    response = back("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- sandboxes -------------------------------------------------------------------------


async def stop_sandbox(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    await call.bay.sandboxes.stop(await call.owner_of(sandbox_id), sandbox_id)
    return back(_sandbox_path(sandbox_id), f"sandbox {sandbox_id} stopped; its files are kept")


async def delete_sandbox(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    await call.bay.sandboxes.delete(await call.owner_of(sandbox_id), sandbox_id)
    return back("/ui/sandboxes", f"sandbox {sandbox_id} deleted")


# -- files -----------------------------------------------------------------------------


class _FormUpload:
    """A file from the upload form, as the file service takes an upload
    (`services.files.UploadBody`)."""

    def __init__(self, file: UploadFile, directory: str) -> None:
        self._file = file
        name = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if not name or name in (".", ".."):
            raise ValidationFailed("choose a file to upload", {"field": "file"})
        self._path = name if directory in ("", ".") else f"{directory.rstrip('/')}/{name}"

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def declared_size(self) -> int | None:
        return self._file.size

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self._file.read(UPLOAD_CHUNK_BYTES):
            yield chunk

    async def path_after(self) -> str:
        return self._path


async def upload(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    form = await call.request.form()
    directory = _field(form, "dir", required=False) or "."
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise ValidationFailed("choose a file to upload", {"field": "file"})
    written = await call.bay.files.upload(
        owner, sandbox_id, _FormUpload(file, directory), no_progress
    )
    return back(
        _sandbox_path(sandbox_id, "files"),
        f"uploaded {written.path} ({written.size} bytes)",
        path=directory,
    )


async def delete_file(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    form = await call.request.form()
    path = _field(form, "path")
    deleted = await call.bay.files.delete(owner, sandbox_id, path, no_progress)
    parent = deleted.rsplit("/", 1)[0] if "/" in deleted else "."
    return back(_sandbox_path(sandbox_id, "files"), f"deleted {deleted}", path=parent)


# -- snapshots -------------------------------------------------------------------------


async def take_snapshot(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    form = await call.request.form()
    name = _field(form, "name", required=False) or None
    taken = await call.bay.snapshots.create(owner, sandbox_id, name, no_progress)
    return back(_sandbox_path(sandbox_id), taken.message)


async def restore_snapshot(call: ConsoleRequest) -> Response:
    params = call.request.path_params
    sandbox_id, snapshot_id = params["sandbox_id"], params["snapshot_id"]
    owner = await call.owner_of(sandbox_id)
    restored = await call.bay.snapshots.restore(owner, sandbox_id, snapshot_id, no_progress)
    return back(
        _sandbox_path(sandbox_id),
        f"restored {snapshot_id}: /workspace holds {restored.size_bytes} bytes; "
        "the next run starts a fresh session",
    )


async def fork_snapshot(call: ConsoleRequest) -> Response:
    params = call.request.path_params
    sandbox_id, snapshot_id = params["sandbox_id"], params["snapshot_id"]
    owner = await call.owner_of(sandbox_id)
    forked = await call.bay.snapshots.fork(owner, sandbox_id, snapshot_id, no_progress)
    return back(_sandbox_path(forked.id), f"forked from {sandbox_id} at {snapshot_id}")


async def delete_snapshot(call: ConsoleRequest) -> Response:
    params = call.request.path_params
    sandbox_id, snapshot_id = params["sandbox_id"], params["snapshot_id"]
    owner = await call.owner_of(sandbox_id)
    await call.bay.snapshots.delete(owner, sandbox_id, snapshot_id)
    return back(_sandbox_path(sandbox_id), f"snapshot {snapshot_id} deleted")


# -- keys (admins) ---------------------------------------------------------------------


async def create_key(call: ConsoleRequest) -> Response:
    call.require_admin()
    form = await call.request.form()
    owner = check_owner(_field(form, "owner"))
    days = _field(form, "expires_in_days", required=False)
    expires_in: timedelta | None = None
    if days:
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            raise ValidationFailed(
                "expires in: a whole number of days from 1 to 3650, or empty for never",
                {"field": "expires_in_days"},
            )
        expires_in = timedelta(days=int(days))
    view, key = await call.bay.keys.create(owner, expires_in)
    listed = await call.bay.keys.list()
    now = utcnow()
    # Shown once, in this answer's body only: never in a URL, a redirect or a log.
    extra: dict[str, Any] = {"new_key": key, "new_key_view": view}
    return render_page(
        call.request,
        "keys.html",
        caller=call.caller,
        section="keys",
        keys=[(k, k.state(now)) for k in listed],
        notice=f"key {view.id} created for {owner}: copy it now, it is not shown again",
        **extra,
    )


async def revoke_key(call: ConsoleRequest) -> Response:
    call.require_admin()
    key_id = call.request.path_params["key_id"]
    revoked = await call.bay.keys.revoke(key_id)
    return back("/ui/keys", f"key {revoked.id} of {revoked.owner} revoked")
