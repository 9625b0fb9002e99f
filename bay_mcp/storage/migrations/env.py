"""Alembic runs inside Bay: `Database.migrate` hands over an open connection."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import bay_mcp.storage.models  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
