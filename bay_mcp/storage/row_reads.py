"""A warm call's one read, made cheap.

Measured inside a running Bay, where a call's path runs with cold caches between calls,
reading a sandbox with its cargo and latest session cost 0.66 ms through the ORM,
0.5 ms through Core plus 0.26 ms to build the three models, and 0.05 ms as the same SQL
on a plain sqlite3 connection. So:

- On SQLite the SQL runs on sqlite3 directly, on the event loop (a read in WAL mode
  does not wait for writers). The connection never waits for a lock either: when SQLite
  asks a reader to (another process recovering the file), `first` raises `Locked` and
  the caller reads through aiosqlite, which waits off the loop.
- What a caller builds from a row is kept, and given again while the row reads the same
  (the same column values are the same row), so a warm call builds nothing. Callers
  read what they are given and never change it.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Dialect, Select
from sqlmodel import SQLModel

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
# Rows kept (one per sandbox in use, in practice: a few KiB each); the least recently
# read goes first, and is built again when read again.
KEPT_ROWS = 1024


def columns_of(model: type[SQLModel]) -> tuple[Column[Any], ...]:
    """The model's table columns, in order: select them, then `model_from` the values."""
    return tuple(model.__table__.columns)  # type: ignore[attr-defined]


def model_from(model: type[M], columns: Sequence[Column[Any]], values: Sequence[Any]) -> M:
    """A model of `columns`' typed values (as `Database.first` gives them)."""
    return model(**{column.key: value for column, value in zip(columns, values, strict=True)})


class Locked(Exception):
    """SQLite asked this reader to wait: read through a connection that may."""


@dataclass(frozen=True)
class _Prepared:
    """A select compiled once for SQLite: its SQL, its parameters in order (with the
    values compiled into it, such as a LIMIT's), and each column's result processor."""

    sql: str
    names: tuple[str, ...]
    compiled_values: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            params[name] if name in params else self.compiled_values[name] for name in self.names
        )

    def typed(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """The row as SQLAlchemy would give it (datetimes, JSON, booleans)."""
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self.processors, raw, strict=True)
        )


def _prepare(query: Select[Any], dialect: Dialect) -> _Prepared:
    compiled = query.compile(dialect=dialect)
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in query.selected_columns
    )
    return _Prepared(str(compiled), tuple(compiled.positiontup or ()), compiled.params, processors)


class SqliteReads:
    """Selects on one SQLite file through a read-only sqlite3 connection of their own."""

    def __init__(self, path: Path, dialect: Dialect) -> None:
        self._path = path
        self._dialect = dialect
        self._connection: sqlite3.Connection | None = None
        self._prepared: dict[int, _Prepared] = {}

    def first(self, query: Select[Any], params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row's values as SQLite holds them, or None. Locked when SQLite
        asks to wait. Use `typed` for the values SQLAlchemy would give."""
        prepared = self._prepared_for(query)
        try:
            row = self._connect().execute(prepared.sql, prepared.values(params)).fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise Locked(str(exc)) from exc
            raise
        return None if row is None else tuple(row)

    def typed(self, query: Select[Any], raw: Sequence[Any]) -> tuple[Any, ...]:
        return self._prepared_for(query).typed(raw)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _prepared_for(self, query: Select[Any]) -> _Prepared:
        # Queries are module constants, built once: their identity is their key.
        prepared = self._prepared.get(id(query))
        if prepared is None:
            prepared = self._prepared[id(query)] = _prepare(query, self._dialect)
        return prepared

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # timeout 0: never wait for a lock (see the module's docstring); autocommit:
            # each select is its own read; check_same_thread off: made on first use,
            # wherever the Database was built, and used on the loop alone.
            connection = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA query_only=1")
            self._connection = connection
        return self._connection


class KeptRows(Generic[T]):
    """What was built from each key's last row, while that row reads the same."""

    def __init__(self, size: int = KEPT_ROWS) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, tuple[tuple[Any, ...], T]] = OrderedDict()

    def get(self, key: Hashable, row: tuple[Any, ...], build: Callable[[], T]) -> T:
        kept = self._kept.get(key)
        if kept is not None and kept[0] == row:
            self._kept.move_to_end(key)
            return kept[1]
        built = build()
        self._kept[key] = (row, built)
        self._kept.move_to_end(key)
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return built

    def forget(self, key: Hashable) -> None:
        self._kept.pop(key, None)
