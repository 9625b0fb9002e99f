"""Cursor pages: what a caller asks for and gets back. The rows are cut in the database
query (storage/paging.py), ordered by (created_at, id); the cursor names the last row
a page held, so the next page starts after it (no offset scan, and rows made meanwhile
do not shift pages)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bay_mcp.errors import ValidationFailed
from bay_mcp.storage.paging import After

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
BAD_CURSOR = "cursor is not one this server gave out: pass next_cursor from the last page"

Item = TypeVar("Item")


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
        created_at, row_id = raw.split("|", 1)
        return datetime.fromisoformat(created_at), row_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(BAD_CURSOR, {"fields": ["cursor"], "field": "cursor"}) from exc


def window(page: PageRequest | None) -> tuple[After | None, int | None]:
    """Where the page starts (after its cursor's row) and how many rows to fetch: one
    more than the page holds, so `cut` knows whether another page follows."""
    if page is None:
        return None, None
    after = _decode_cursor(page.cursor) if page.cursor is not None else None
    return after, page.limit + 1


def cut(rows: list[Item], page: PageRequest | None, key: Any) -> tuple[list[Item], str | None]:
    """Rows fetched with limit + 1: the page, and the cursor when more follow.
    `key(row)` gives the row's (created_at, id)."""
    if page is None or len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    return kept, encode_cursor(*key(kept[-1]))
