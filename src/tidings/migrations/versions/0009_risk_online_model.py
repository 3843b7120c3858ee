"""the online risk model: observations of scored transfers, their outcomes, and its state

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import flags, ids, integers, jsons, stamps, strings

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "risk_model_observations",
        *ids("transfer_id", "user_id"),
        *jsons("features"),
        sa.Column("probability", sa.Float(), nullable=False),
        *stamps("created_at"),
        *flags("fraudulent", nullable=True),
        *strings(16, "outcome_source", nullable=True),
        *stamps("outcome_at", "learned_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_risk_model_observations_user_id_users"
        ),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_risk_model_observations"),
    )
    op.create_index(
        "ix_risk_model_observations_learned_at_created_at",
        "risk_model_observations",
        ["learned_at", "created_at"],
    )
    op.create_table(
        "risk_models",
        *strings(40, "name"),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        *strings(64, "signature"),
        *integers("outcomes_learned", "version"),
        *stamps("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_risk_models"),
    )


def downgrade() -> None:
    op.drop_table("risk_models")
    op.drop_index(
        "ix_risk_model_observations_learned_at_created_at", table_name="risk_model_observations"
    )
    op.drop_table("risk_model_observations")
