"""Cursor pages in the query: rows ordered by (created_at, id), from after the last row
a page held, one row more than the page (so the caller knows whether another follows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import and_, or_

Q = TypeVar("Q", bound="Query")
# The (created_at, id) of the last row of the previous page.
After = tuple[datetime, str]


class Query(Protocol):
    def where(self, *clauses: Any) -> Self: ...

    def limit(self, limit: int) -> Self: ...

    def order_by(self, *clauses: Any) -> Self: ...


def paged(query: Q, created_at: Any, row_id: Any, after: After | None, fetch: int | None) -> Q:
    """`query` ordered by (created_at, id), from after `after`, at most `fetch` rows
    (None: all)."""
    if after is not None:
        last_created, last_id = after
        query = query.where(
            or_(created_at > last_created, and_(created_at == last_created, row_id > last_id))
        )
    if fetch is not None:
        query = query.limit(fetch)
    return query.order_by(created_at, row_id)
