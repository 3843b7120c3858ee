"""monthly wallet statements and the runs that issued them

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import amounts, dates, ids, integers, stamps, strings

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "wallet_statements",
        *ids("id", "wallet_id", "user_id"),
        *dates("period_start", "period_end"),
        *strings(3, "currency"),
        *amounts("opening_balance", "total_in", "total_out", "closing_balance"),
        *integers("entries"),
        *stamps("created_at"),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_wallet_statements_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_statements")),
        sa.UniqueConstraint("wallet_id", "period_start", name="uq_wallet_statements_wallet_period"),
    )
    op.create_index("ix_wallet_statements_wallet_id_id", "wallet_statements", ["wallet_id", "id"])
    op.create_table(
        "wallet_statement_runs",
        *strings(64, "timezone"),
        *dates("period_start"),
        *integers("statements"),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("timezone", "period_start", name=op.f("pk_wallet_statement_runs")),
    )


def downgrade() -> None:
    op.drop_table("wallet_statement_runs")
    op.drop_index("ix_wallet_statements_wallet_id_id", table_name="wallet_statements")
    op.drop_table("wallet_statements")
