"""Owner secrets: named values sealed with a key that is not in the database

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TIME = bay_mcp.storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "owner_secrets",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "name"),
    )


def downgrade() -> None:
    op.drop_table("owner_secrets")
