"""monthly wallet statements and the runs that issued them

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_statements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening_balance", sa.BigInteger(), nullable=False),
        sa.Column("total_in", sa.BigInteger(), nullable=False),
        sa.Column("total_out", sa.BigInteger(), nullable=False),
        sa.Column("closing_balance", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_wallet_statements_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_statements")),
        sa.UniqueConstraint("wallet_id", "period_start", name="uq_wallet_statements_wallet_period"),
    )
    op.create_index("ix_wallet_statements_wallet_id_id", "wallet_statements", ["wallet_id", "id"])
    op.create_table(
        "wallet_statement_runs",
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("statements", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("timezone", "period_start", name=op.f("pk_wallet_statement_runs")),
    )


def downgrade() -> None:
    op.drop_table("wallet_statement_runs")
    op.drop_index("ix_wallet_statements_wallet_id_id", table_name="wallet_statements")
    op.drop_table("wallet_statements")
