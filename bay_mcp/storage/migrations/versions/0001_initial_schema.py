"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cargos",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("backend", sa.String(), nullable=False),
        sa.Column("driver_ref", sa.String(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("managed_by_sandbox_id", sa.String(), nullable=True),
        sa.Column("size_limit_mb", sa.Integer(), nullable=True),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("last_accessed_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cargos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cargos_managed_by_sandbox_id"), ["managed_by_sandbox_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cargos_owner"), ["owner"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.String(), nullable=True),
        sa.Column("expires_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "sandboxes",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("cargo_id", sa.String(), nullable=False),
        sa.Column("expires_at", bay_mcp.storage.models.UTCDateTime(), nullable=True),
        sa.Column("deleted_at", bay_mcp.storage.models.UTCDateTime(), nullable=True),
        sa.Column("last_active_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sandboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandboxes_cargo_id"), ["cargo_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sandboxes_owner"), ["owner"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("sandbox_id", sa.String(), nullable=False),
        sa.Column("runtime_type", sa.String(), nullable=False),
        sa.Column("container_id", sa.String(), nullable=True),
        sa.Column("endpoint", sa.String(), nullable=True),
        sa.Column("ship_token", sa.String(), nullable=False),
        sa.Column("desired_state", sa.String(), nullable=False),
        sa.Column("observed_state", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bay_mcp.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_sandbox_id"), ["sandbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_sandbox_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("sandboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandboxes_owner"))
        batch_op.drop_index(batch_op.f("ix_sandboxes_cargo_id"))

    op.drop_table("sandboxes")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("cargos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cargos_owner"))
        batch_op.drop_index(batch_op.f("ix_cargos_managed_by_sandbox_id"))

    op.drop_table("cargos")
