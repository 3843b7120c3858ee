"""insights: budget spending per period, budget alerts, goal milestones, suggestions sent

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import amounts, dates, drop_columns, ids, stamps, strings

revision = "0020"
down_revision = "0019"


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("budget_alert_percent", sa.Integer(), nullable=True))
    op.create_table(
        "budget_spending",
        *ids("wallet_id"),
        *dates("period_start"),
        *amounts("spent"),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_budget_spending_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("wallet_id", "period_start", name=op.f("pk_budget_spending")),
    )
    op.create_table(
        "budget_alerts",
        *ids("wallet_id"),
        *dates("period_start"),
        *strings(16, "level"),
        *ids("user_id"),
        *stamps("created_at"),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_budget_alerts_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint(
            "wallet_id", "period_start", "level", name=op.f("pk_budget_alerts")
        ),
    )
    op.create_table(
        "goal_milestones",
        *ids("wallet_id"),
        *amounts("target"),
        *strings(16, "level"),
        *ids("user_id"),
        *amounts("reward", default="0"),
        *stamps("created_at"),
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
        *ids("user_id"),
        *strings(16, "purpose"),
        *stamps("sent_at"),
        sa.PrimaryKeyConstraint("user_id", "purpose", name=op.f("pk_suggestions_sent")),
    )


def downgrade() -> None:
    op.drop_table("suggestions_sent")
    op.drop_index("ix_goal_milestones_user_id_created_at", table_name="goal_milestones")
    op.drop_table("goal_milestones")
    op.drop_table("budget_alerts")
    op.drop_table("budget_spending")
    drop_columns("wallets", "budget_alert_percent")
