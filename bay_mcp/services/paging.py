"""Cursor pages, cut in the database query: rows ordered by (created_at, id), and the
cursor names the last row a page held, so the next page starts after it (no offset
scan, and rows made meanwhile do not shift pages)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel
from sqlalchemy import and_, or_

from bay_mcp.errors import ValidationFailed

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
BAD_CURSOR = "cursor is not one this server gave out: pass next_cursor from the last page"

Item = TypeVar("Item")
Q = TypeVar("Q", bound="Query")


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


class Query(Protocol):
    def where(self, *clauses: Any) -> Self: ...

    def limit(self, limit: int) -> Self: ...

    def order_by(self, *clauses: Any) -> Self: ...


def paged(query: Q, created_at: Any, row_id: Any, page: PageRequest | None) -> Q:
    """`query` ordered by (created_at, id), from after the page's cursor, fetching one
    row more than the page holds (so `cut` knows whether another page follows)."""
    if page is not None:
        if page.cursor is not None:
            last_created, last_id = _decode_cursor(page.cursor)
            query = query.where(
                or_(created_at > last_created, and_(created_at == last_created, row_id > last_id))
            )
        query = query.limit(page.limit + 1)
    return query.order_by(created_at, row_id)


def cut(rows: list[Item], page: PageRequest | None, key: Any) -> tuple[list[Item], str | None]:
    """Rows fetched with limit + 1: the page, and the cursor when more follow.
    `key(row)` gives the row's (created_at, id)."""
    if page is None or len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    return kept, encode_cursor(*key(kept[-1]))
