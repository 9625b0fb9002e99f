"""The console's pages (GET): what a person reads. Each reads through the same services
as REST and MCP; the owner is the signed-in caller, or for an admin the sandbox's own.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, get_args

from starlette.responses import Response

from bay_mcp.console.access import ConsoleRequest
from bay_mcp.console.render import render
from bay_mcp.errors import ValidationFailed
from bay_mcp.limits import POOL_OWNER
from bay_mcp.managers import no_progress
from bay_mcp.services.keys import check_owner
from bay_mcp.services.paging import PageRequest
from bay_mcp.services.views import SandboxStatus
from bay_mcp.storage.models import utcnow
from rest.handlers.files import attachment

# Sandboxes on one page of the list (a cursor gives the next).
SANDBOXES_PER_PAGE = 100
RUNS_ON_OVERVIEW = 10
RUNS_PER_PAGE = 50


SANDBOX_STATUSES: tuple[str, ...] = get_args(SandboxStatus)


def _status(value: str | None) -> SandboxStatus | None:
    if not value:
        return None
    if value not in SANDBOX_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(SANDBOX_STATUSES)}", {"field": "status"}
        )
    return value  # type: ignore[return-value]  # checked against the literal's values


async def sandboxes(call: ConsoleRequest) -> Response:
    """Live sandboxes: the caller's, or for an admin everyone's (or one owner's)."""
    query = call.request.query_params
    owner_filter = query.get("owner") or None
    if owner_filter is not None:
        check_owner(owner_filter, "owner")
    status = _status(query.get("status"))
    listed_owner = owner_filter if call.caller.is_admin else call.owner
    page = await call.bay.sandboxes.list_owned(
        listed_owner,
        status,
        PageRequest(limit=SANDBOXES_PER_PAGE, cursor=query.get("cursor") or None),
    )
    pool: list[dict[str, Any]] = []
    if call.caller.is_admin:
        for sandbox, session in await call.bay.sandboxes.pool_members():
            pool.append(
                {
                    "id": sandbox.id,
                    "profile": sandbox.profile,
                    "state": session.observed_state if session else "no session",
                    "created_at": sandbox.created_at,
                }
            )
    return render(
        call,
        "sandboxes.html",
        section="sandboxes",
        rows=page.items,
        next_cursor=page.next_cursor,
        owner_filter=owner_filter or "",
        status=status or "",
        statuses=SANDBOX_STATUSES,
        pool=pool,
        now=utcnow(),
        usage_available=call.bay.usage.available,
    )


async def usage(call: ConsoleRequest) -> Response:
    """CPU and memory of the listed sandboxes, as cells htmx swaps in by id."""
    ids = [i for i in call.request.query_params.get("ids", "").split(",") if i][:SANDBOXES_PER_PAGE]
    # One query for all: an owner reads its own; an admin anyone's.
    mine = await call.bay.sandboxes.live_among(ids, None if call.caller.is_admin else call.owner)
    readings = await call.bay.usage.of(mine)
    return render(call, "_usage.html", ids=mine, readings=readings)


async def sandbox(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    bay = call.bay
    view = await bay.sandboxes.get(owner, sandbox_id)
    history = await bay.history.list(owner, sandbox_id, limit=RUNS_ON_OVERVIEW)
    snapshots = await bay.snapshots.list(owner, sandbox_id)
    ports = await bay.ports.list(owner, sandbox_id)
    processes = await bay.processes.list(owner, sandbox_id)
    return render(
        call,
        "sandbox.html",
        section="sandboxes",
        tab="overview",
        sandbox=view,
        owner=owner,
        runs=history.entries,
        total_runs=history.total,
        live=bay.execution.live.in_sandbox(sandbox_id),
        now=utcnow(),
        snapshots=snapshots.snapshots,
        ports=ports,
        processes=processes,
    )


async def live_runs(call: ConsoleRequest) -> Response:
    """The runs in progress in a sandbox with their output so far (htmx polls it)."""
    sandbox_id = call.request.path_params["sandbox_id"]
    await call.owner_of(sandbox_id)
    return render(
        call,
        "_live.html",
        sandbox_id=sandbox_id,
        live=call.bay.execution.live.in_sandbox(sandbox_id),
        now=utcnow(),
    )


async def files(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    path = call.request.query_params.get("path") or "."
    view = await call.bay.sandboxes.get(owner, sandbox_id)
    # Looking starts nothing where the cargo can be read at rest (Docker); elsewhere the
    # person asked for the files, so the sandbox starts to list them.
    listing = await call.bay.files.listing_without_starting(
        owner, sandbox_id, path
    ) or await call.bay.files.list_directory(owner, sandbox_id, path, no_progress)
    entries = sorted(listing.entries, key=lambda e: (not e.is_dir, e.name.lower()))
    return render(
        call,
        "files.html",
        section="sandboxes",
        tab="files",
        sandbox=view,
        owner=owner,
        path=listing.path,
        crumbs=_crumbs(listing.path),
        entries=entries,
    )


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) of each directory from /workspace down to `path`."""
    crumbs = [("workspace", ".")]
    parts = [p for p in path.strip("/").split("/") if p and p != "."]
    for i, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: i + 1])))
    return crumbs


async def download(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    path = call.request.query_params.get("path", "")
    return await attachment(call.bay.files.download(owner, sandbox_id, path, no_progress), path)


async def runs(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    try:
        offset = max(0, int(call.request.query_params.get("offset", "0")))
    except ValueError as exc:
        raise ValidationFailed("offset must be a whole number", {"field": "offset"}) from exc
    view = await call.bay.sandboxes.get(owner, sandbox_id)
    page = await call.bay.history.list(owner, sandbox_id, limit=RUNS_PER_PAGE, offset=offset)
    return render(
        call,
        "runs.html",
        section="sandboxes",
        tab="runs",
        sandbox=view,
        owner=owner,
        runs=page.entries,
        total=page.total,
        offset=offset,
        per_page=RUNS_PER_PAGE,
        live=call.bay.execution.live.in_sandbox(sandbox_id),
        now=utcnow(),
    )


async def run(call: ConsoleRequest) -> Response:
    params = call.request.path_params
    sandbox_id, execution_id = params["sandbox_id"], params["execution_id"]
    owner = await call.owner_of(sandbox_id)
    view = await call.bay.sandboxes.get(owner, sandbox_id)
    entry = await call.bay.history.get(owner, sandbox_id, execution_id)
    pictures = await call.bay.history.pictures(owner, sandbox_id, execution_id)
    return render(
        call,
        "run.html",
        section="sandboxes",
        tab="runs",
        sandbox=view,
        owner=owner,
        run=entry,
        pictures=[_data_url(data, mime) for data, mime in pictures],
    )


def _data_url(data: str, mime_type: str) -> str:
    """A picture as a data: URL (the CSP allows data: images, nothing else inline)."""
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return f"data:{mime_type};base64,{data}"


async def terminal(call: ConsoleRequest) -> Response:
    sandbox_id = call.request.path_params["sandbox_id"]
    owner = await call.owner_of(sandbox_id)
    view = await call.bay.sandboxes.get(owner, sandbox_id)
    process_id = call.request.query_params.get("process") or None
    return render(
        call,
        "terminal.html",
        section="sandboxes",
        tab="terminal",
        sandbox=view,
        owner=owner,
        process_id=process_id,
        capable="shell" in view.capabilities,
    )


async def health(call: ConsoleRequest) -> Response:
    report = await call.bay.health.check()
    counts = await call.bay.sandboxes.count_by_status()
    return render(
        call,
        "health.html",
        section="health",
        report=report,
        counts=counts,
        pool_owner=POOL_OWNER,
    )


async def keys(call: ConsoleRequest) -> Response:
    call.require_admin()
    listed = await call.bay.keys.list()
    now: datetime = utcnow()
    return render(
        call,
        "keys.html",
        section="keys",
        keys=[(key, key.state(now)) for key in listed],
        new_key=None,
    )
