"""Leases (one reaper among Bay replicas, live processes); the process that
started a session; secrets and exposed ports shared by replicas; snapshot sizes as
BIGINT

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "exposures",
        sa.Column("sandbox_id", sa.String(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("session_id", sa.String(), nullable=False),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sandbox_id", "port"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("starter", sa.String(), nullable=True))
    # PostgreSQL's INTEGER stops at 2 GiB; SQLite's is 64-bit already (a no-op there).
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.alter_column(
            "size_bytes", existing_type=sa.Integer(), type_=sa.BigInteger(), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.alter_column(
            "size_bytes", existing_type=sa.BigInteger(), type_=sa.Integer(), nullable=False
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("starter")
    op.drop_table("exposures")
    op.drop_table("secrets")
    op.drop_table("leases")
