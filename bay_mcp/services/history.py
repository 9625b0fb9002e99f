"""Execution history: every python and shell run of a sandbox, kept with what came of
it and the caller's annotations; at most `max_entries` per sandbox (the oldest go),
gone with the sandbox.

Recording never fails nor slows the call it records: `record` hands the entry to a
writer task and returns; the writer inserts what gathers over a second in one
transaction. A write that fails is logged and counted
(`bay_history_write_failures_total`). Reads in this process have the writer write at
once and wait for it, so a run is in the history as soon as its result is out; Bay's
close waits for it too. Another replica's reads see a run within the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, get_args

from bay_mcp.errors import NotFound, ValidationFailed
from bay_mcp.metrics import Metrics
from bay_mcp.services.runs import RunAnnotation
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import HistoryEntry, HistoryPage
from bay_mcp.storage.database import Database
from bay_mcp.storage.executions import ExecutionFilter, ExecutionRepository
from bay_mcp.storage.models import Execution, utcnow

log = logging.getLogger(__name__)

# A code run is recorded by its language (run_code); python_exec's runs are "python".
ExecType = Literal["python", "typescript", "javascript", "r", "shell", "browser", "browser_batch"]
EXEC_TYPES: tuple[str, ...] = get_args(ExecType)
MAX_HISTORY_PAGE = 500
_BATCH_WINDOW_S = 1.0
# A history entry keeps the first few pictures of a run, each under a size (base64).
KEPT_PICTURES = 4
KEPT_PICTURE_CHARS = 1024 * 1024


@dataclass(slots=True)
class RunRecord:
    """A run as it goes to the history: made when it starts, its outcome filled in by
    the exec service, written as an `Execution` row behind the call. A plain object,
    not the model: building the model cost a warm call 0.1 ms, and the writer inserts
    rows, not models. Its fields are Execution's columns, but the notes (a test holds
    them to the model)."""

    id: str
    sandbox_id: str
    owner: str
    session_id: str | None
    exec_type: str
    code: str
    description: str | None
    tags: str
    created_at: datetime
    success: bool = False
    exit_code: int | None = None
    timed_out: bool = False
    execution_time_ms: int = 0
    output: str = ""
    error: str | None = None
    resources: dict[str, Any] | None = None
    images: list[dict[str, str]] | None = None
    files_changed: dict[str, Any] | None = None


def _row_of(record: RunRecord) -> dict[str, object]:
    return {**{name: getattr(record, name) for name in _RECORD_FIELDS}, "notes": None}


_RECORD_FIELDS = tuple(field.name for field in fields(RunRecord))


def _entry(row: Execution) -> HistoryEntry:
    entry = HistoryEntry.model_validate(row.model_dump())
    entry.pictures = len(row.images or [])
    # Named as the run was asked for (upstream's clients read `command` of a shell run).
    if entry.exec_type == "shell":
        entry.command = entry.code
    return entry


def kept_pictures(shown: list[tuple[str, str]]) -> list[dict[str, str]] | None:
    """The pictures a history entry keeps: the first KEPT_PICTURES of those under
    KEPT_PICTURE_CHARS each (a run that drew a hundred plots keeps a few)."""
    kept = [
        {"data": data, "mime_type": mime_type}
        for data, mime_type in shown
        if len(data) <= KEPT_PICTURE_CHARS
    ][:KEPT_PICTURES]
    return kept or None


def head_and_tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters not kept …]\n{text[-half:]}"


def normalize_tags(tags: str | None) -> str:
    """`a, b,,a` → `a,b`: trimmed, empty ones dropped, first spelling kept."""
    seen: list[str] = []
    for tag in (tags or "").split(","):
        tag = tag.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return ",".join(seen)


def check_exec_type(exec_type: str | None) -> str | None:
    if exec_type is not None and exec_type not in EXEC_TYPES:
        raise ValidationFailed(
            f"exec_type must be one of {', '.join(EXEC_TYPES)}, got {exec_type!r}",
            {"fields": ["exec_type"], "field": "exec_type"},
        )
    return exec_type


class HistoryService:
    def __init__(
        self,
        db: Database,
        sandboxes: SandboxService,
        metrics: Metrics,
        *,
        max_entries: int,
        output_limit: int,
    ) -> None:
        self._rows = ExecutionRepository(db)
        self._sandboxes = sandboxes
        self._max_entries = max_entries
        self._output_limit = output_limit
        self._metrics = metrics
        self._pending: list[RunRecord] = []
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # a reader waits: write what is pending now

    def record(self, entry: RunRecord) -> None:
        """Keep one run, written in the background; never raises nor waits."""
        entry.output = head_and_tail(entry.output, self._output_limit)
        entry.tags = normalize_tags(entry.tags)
        self._pending.append(entry)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="history-writer")

    async def flush(self) -> None:
        """Wait until every entry recorded so far is written (or counted as failed)."""
        if self._writer is not None and not self._writer.done():
            self._hurry.set()
            await asyncio.shield(self._writer)

    async def _write_pending(self) -> None:
        # Gather what comes over a window into one transaction: each transaction's
        # statements (the insert, the trim's count, the commit) and its hand-offs to the
        # writer thread would otherwise be paid by every call or few.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), _BATCH_WINDOW_S)
        self._hurry.clear()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except Exception:
                self._metrics.history_write_failures.inc(len(batch))
                log.exception("could not record %d execution(s) in the history", len(batch))

    async def _write(self, batch: list[RunRecord]) -> None:
        await self._rows.write_batch([_row_of(entry) for entry in batch], self._max_entries)

    async def pictures(
        self, owner: str, sandbox_id: str, execution_id: str
    ) -> list[tuple[str, str]]:
        """(base64 data, MIME type) of the pictures the run displayed, as kept."""
        row = await self._row(owner, sandbox_id, execution_id)
        return [(image["data"], image["mime_type"]) for image in row.images or []]

    async def list(
        self,
        owner: str,
        sandbox_id: str,
        *,
        exec_type: str | None = None,
        success_only: bool = False,
        tags: str | None = None,
        has_notes: bool | None = None,
        has_description: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> HistoryPage:
        """The sandbox's runs, newest first. `tags`: entries carrying every tag given."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        await self.flush()
        check_exec_type(exec_type)
        if not 1 <= limit <= MAX_HISTORY_PAGE or offset < 0:
            raise ValidationFailed(
                f"limit must be 1–{MAX_HISTORY_PAGE} and offset ≥ 0",
                {"fields": ["limit", "offset"], "field": "limit"},
            )
        which = ExecutionFilter(
            sandbox_id=sandbox_id,
            exec_type=exec_type,
            success_only=success_only,
            tags=normalize_tags(tags).split(",") if tags else (),
            has_notes=has_notes,
            has_description=has_description,
        )
        total, rows = await self._rows.page(which, limit, offset)
        return HistoryPage(entries=[_entry(row) for row in rows], total=total)

    async def last(self, owner: str, sandbox_id: str, exec_type: str | None = None) -> HistoryEntry:
        page = await self.list(owner, sandbox_id, exec_type=exec_type, limit=1)
        if not page.entries:
            kind = f"{exec_type} " if exec_type else ""
            raise NotFound(f"sandbox {sandbox_id} has no {kind}executions in its history yet")
        return page.entries[0]

    async def _row(self, owner: str, sandbox_id: str, execution_id: str) -> Execution:
        await self._sandboxes.check_owner(owner, sandbox_id)
        await self.flush()
        row = await self._rows.get(execution_id)
        if row is None or row.sandbox_id != sandbox_id:
            raise NotFound(
                f"execution {execution_id} not found in sandbox {sandbox_id}'s history "
                "(get_execution_history lists it; old entries are dropped past the cap)"
            )
        return row

    async def get(self, owner: str, sandbox_id: str, execution_id: str) -> HistoryEntry:
        return _entry(await self._row(owner, sandbox_id, execution_id))

    async def annotate(
        self,
        owner: str,
        sandbox_id: str,
        execution_id: str,
        *,
        description: str | None = None,
        tags: str | None = None,
        notes: str | None = None,
    ) -> HistoryEntry:
        """Set what is given (an empty string clears it); the rest is kept.
        ValidationFailed when a field is over its limit (`limits.py`)."""
        edit = RunAnnotation(description=description, tags=tags, notes=notes)
        await self._row(owner, sandbox_id, execution_id)
        changes: dict[str, object] = {}
        if edit.description is not None:
            changes["description"] = edit.description or None
        if edit.tags is not None:
            changes["tags"] = normalize_tags(edit.tags)
        if edit.notes is not None:
            changes["notes"] = edit.notes or None
        return _entry(await self._rows.update(execution_id, changes))


def new_entry(
    *,
    execution_id: str,
    owner: str,
    sandbox_id: str,
    session_id: str | None,
    exec_type: ExecType,
    code: str,
    description: str | None,
    tags: str | None,
) -> RunRecord:
    """An entry for a run about to start; the exec service fills in its outcome."""
    return RunRecord(
        id=execution_id,
        sandbox_id=sandbox_id,
        owner=owner,
        session_id=session_id,
        exec_type=exec_type,
        code=code,
        description=description or None,
        tags=tags or "",
        created_at=utcnow(),
    )
