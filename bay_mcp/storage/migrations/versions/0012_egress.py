"""Egress: a sandbox's own policy and secret bindings, and the egress log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TIME = bay_mcp.storage.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("sandboxes") as batch:
        batch.add_column(sa.Column("egress", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("secret_bindings", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "egress_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sandbox_id", sa.String(), nullable=False),
        sa.Column("time", _TIME(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_egress_log_sandbox_id", "egress_log", ["sandbox_id"])


def downgrade() -> None:
    op.drop_index("ix_egress_log_sandbox_id", table_name="egress_log")
    op.drop_table("egress_log")
    with op.batch_alter_table("sandboxes") as batch:
        batch.drop_column("secret_bindings")
        batch.drop_column("egress")
