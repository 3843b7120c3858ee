"""the online risk model: observations of scored transfers, their outcomes, and its state

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(length=32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "risk_model_observations",
        sa.Column("transfer_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("fraudulent", sa.Boolean()),
        sa.Column("outcome_source", sa.String(length=16)),
        sa.Column("outcome_at", TS),
        sa.Column("learned_at", TS),
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
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("outcomes_learned", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_risk_models"),
    )


def downgrade() -> None:
    op.drop_table("risk_models")
    op.drop_index(
        "ix_risk_model_observations_learned_at_created_at", table_name="risk_model_observations"
    )
    op.drop_table("risk_model_observations")
