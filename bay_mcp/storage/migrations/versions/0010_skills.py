"""Skills: payloads, candidates made from runs of the history, their evaluations and
releases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bay_mcp.storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TIME = bay_mcp.storage.models.UTCDateTime


def _deletion() -> list[sa.Column[object]]:
    return [
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", _TIME(), nullable=True),
        sa.Column("deleted_by", sa.String(), nullable=True),
        sa.Column("delete_reason", sa.String(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "skill_payloads",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "skill_candidates",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("skill_key", sa.String(), nullable=False),
        sa.Column("scenario_key", sa.String(), nullable=True),
        sa.Column("payload_ref", sa.String(), nullable=True),
        sa.Column("summary", sa.String(), nullable=True),
        sa.Column("usage_notes", sa.String(), nullable=True),
        sa.Column("preconditions", sa.JSON(), nullable=True),
        sa.Column("postconditions", sa.JSON(), nullable=True),
        sa.Column("source_execution_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("latest_score", sa.Float(), nullable=True),
        sa.Column("latest_pass", sa.Boolean(), nullable=True),
        sa.Column("last_evaluated_at", _TIME(), nullable=True),
        sa.Column("promotion_release_id", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        *_deletion(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "skill_evaluations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("benchmark_id", sa.String(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.String(), nullable=True),
        sa.Column("evaluated_by", sa.String(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "skill_releases",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("skill_key", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("release_mode", sa.String(), nullable=False),
        sa.Column("promoted_by", sa.String(), nullable=True),
        sa.Column("promoted_at", _TIME(), nullable=False),
        sa.Column("rollback_of", sa.String(), nullable=True),
        sa.Column("auto_promoted_from", sa.String(), nullable=True),
        sa.Column("health_window_end_at", _TIME(), nullable=True),
        sa.Column("upgrade_of_release_id", sa.String(), nullable=True),
        sa.Column("upgrade_reason", sa.String(), nullable=True),
        sa.Column("change_summary", sa.String(), nullable=True),
        *_deletion(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "skill_key", "version"),
    )
    with op.batch_alter_table("skill_payloads", schema=None) as batch_op:
        batch_op.create_index("ix_skill_payloads_owner", ["owner"], unique=False)
    with op.batch_alter_table("skill_candidates", schema=None) as batch_op:
        batch_op.create_index("ix_skill_candidates_owner", ["owner"], unique=False)
        batch_op.create_index("ix_skill_candidates_skill_key", ["skill_key"], unique=False)
        batch_op.create_index("ix_skill_candidates_created_at", ["created_at"], unique=False)
    with op.batch_alter_table("skill_evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_skill_evaluations_candidate_id", ["candidate_id"], unique=False)
    with op.batch_alter_table("skill_releases", schema=None) as batch_op:
        batch_op.create_index("ix_skill_releases_owner", ["owner"], unique=False)
        batch_op.create_index("ix_skill_releases_skill_key", ["skill_key"], unique=False)
        batch_op.create_index("ix_skill_releases_promoted_at", ["promoted_at"], unique=False)


def downgrade() -> None:
    op.drop_table("skill_releases")
    op.drop_table("skill_evaluations")
    op.drop_table("skill_candidates")
    op.drop_table("skill_payloads")
