"""insights: budget spending per period, budget alerts, goal milestones, suggestions sent

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("budget_alert_percent", sa.Integer(), nullable=True))
    op.create_table(
        "budget_spending",
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_budget_spending_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("wallet_id", "period_start", name=op.f("pk_budget_spending")),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_budget_alerts_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint(
            "wallet_id", "period_start", "level", name=op.f("pk_budget_alerts")
        ),
    )
    op.create_table(
        "goal_milestones",
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("reward", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_goal_milestones_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("wallet_id", "target", "level", name=op.f("pk_goal_milestones")),
    )
    op.create_index(
        "ix_goal_milestones_user_id_created_at", "goal_milestones", ["user_id", "created_at"]
    )
    op.create_table(
        "suggestions_sent",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "purpose", name=op.f("pk_suggestions_sent")),
    )


def downgrade() -> None:
    op.drop_table("suggestions_sent")
    op.drop_index("ix_goal_milestones_user_id_created_at", table_name="goal_milestones")
    op.drop_table("goal_milestones")
    op.drop_table("budget_alerts")
    op.drop_table("budget_spending")
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("budget_alert_percent")
