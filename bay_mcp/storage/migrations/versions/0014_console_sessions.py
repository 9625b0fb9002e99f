"""Console sessions (people signed in to the operator console); the pictures a run
displayed and the files it changed, kept in its history entry

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TIME = bay_mcp.storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=True),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("images", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("files_changed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("files_changed")
        batch.drop_column("images")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
