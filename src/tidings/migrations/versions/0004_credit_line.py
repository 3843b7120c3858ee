"""credit line: products, applications, lines, drawdowns, installments, repayments, penalties

Revision ID: 0004
Revises: 0003

Seeds one default product (`standard`); operators edit products through
`POST /v1/credit/products`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DEFAULT_PRODUCT_ID = "prd_01JF0000000000000000000000"

TABLES = (
    "credit_penalties",
    "credit_notices",
    "credit_repayments",
    "credit_installments",
    "credit_limit_changes",
    "credit_drawdowns",
    "credit_lines",
    "credit_applications",
    "credit_products",
)


def upgrade() -> None:
    op.create_table(
        "credit_products",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("annual_rate_bp", sa.Integer(), nullable=False),
        sa.Column("fee_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("penalty_bp_per_day", sa.Integer(), nullable=False),
        sa.Column("grace_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("terms", JSON, nullable=False),
        sa.Column("methods", JSON, nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("max_limit", sa.BigInteger(), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "annual_rate_bp >= 0 AND annual_rate_bp <= 3600",
            name=op.f("ck_credit_products_rate_bounds"),
        ),
        sa.CheckConstraint(
            "fee_bp >= 0 AND fee_bp < 10000", name=op.f("ck_credit_products_fee_bounds")
        ),
        sa.CheckConstraint("grace_days >= 0", name=op.f("ck_credit_products_grace_not_negative")),
        sa.CheckConstraint(
            "penalty_bp_per_day >= 0", name=op.f("ck_credit_products_penalty_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_products")),
        sa.UniqueConstraint("code", name=op.f("uq_credit_products_code")),
    )
    op.create_table(
        "credit_applications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("requested_limit", sa.BigInteger(), nullable=False),
        sa.Column("granted_limit", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("line_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["credit_products.id"],
            name=op.f("fk_credit_applications_product_id_credit_products"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_applications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_applications")),
    )
    op.create_index(
        op.f("ix_credit_applications_user_id"), "credit_applications", ["user_id"], unique=False
    )
    op.create_table(
        "credit_lines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("limit", sa.BigInteger(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto_debit", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('"limit" >= 0', name=op.f("ck_credit_lines_limit_not_negative")),
        sa.CheckConstraint(
            "outstanding >= 0", name=op.f("ck_credit_lines_outstanding_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["credit_products.id"],
            name=op.f("fk_credit_lines_product_id_credit_products"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_lines_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lines")),
        sa.UniqueConstraint("user_id", name=op.f("uq_credit_lines_user_id")),
    )
    op.create_table(
        "credit_drawdowns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("annual_rate_bp", sa.Integer(), nullable=False),
        sa.Column("penalty_bp_per_day", sa.Integer(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("interest_from", sa.Date(), nullable=False),
        sa.Column("interest_base", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_drawdowns_amount_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["credit_lines.id"], name=op.f("fk_credit_drawdowns_line_id_credit_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_drawdowns")),
    )
    op.create_index(
        "ix_credit_drawdowns_line_id_id", "credit_drawdowns", ["line_id", "id"], unique=False
    )
    op.create_table(
        "credit_limit_changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("old_limit", sa.BigInteger(), nullable=False),
        sa.Column("new_limit", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["credit_lines.id"],
            name=op.f("fk_credit_limit_changes_line_id_credit_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_limit_changes")),
    )
    op.create_index(
        op.f("ix_credit_limit_changes_line_id"), "credit_limit_changes", ["line_id"], unique=False
    )
    op.create_table(
        "credit_installments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("drawdown_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("penalty_from", sa.Date(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("principal_paid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("interest_paid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalty", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalty_paid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("overdue_as_of", sa.Date(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "interest_paid >= 0 AND interest_paid <= interest",
            name=op.f("ck_credit_installments_interest_bounds"),
        ),
        sa.CheckConstraint(
            "penalty_paid >= 0 AND penalty_paid <= penalty",
            name=op.f("ck_credit_installments_penalty_bounds"),
        ),
        sa.CheckConstraint(
            "principal_paid >= 0 AND principal_paid <= principal",
            name=op.f("ck_credit_installments_principal_paid_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["drawdown_id"],
            ["credit_drawdowns.id"],
            name=op.f("fk_credit_installments_drawdown_id_credit_drawdowns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_installments")),
        sa.UniqueConstraint("drawdown_id", "n", name="uq_credit_installments_drawdown_n"),
    )
    op.create_index(
        "ix_credit_installments_status_due_date",
        "credit_installments",
        ["status", "due_date"],
        unique=False,
    )
    op.create_table(
        "credit_repayments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("drawdown_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("wallet_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("penalty", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("automatic", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_repayments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["drawdown_id"],
            ["credit_drawdowns.id"],
            name=op.f("fk_credit_repayments_drawdown_id_credit_drawdowns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_repayments")),
    )
    op.create_index(
        "ix_credit_repayments_line_id_id", "credit_repayments", ["line_id", "id"], unique=False
    )
    op.create_table(
        "credit_notices",
        sa.Column("installment_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["credit_installments.id"],
            name=op.f("fk_credit_notices_installment_id_credit_installments"),
        ),
        sa.PrimaryKeyConstraint("installment_id", "step", name=op.f("pk_credit_notices")),
    )
    op.create_table(
        "credit_penalties",
        sa.Column("installment_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("drawdown_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["credit_installments.id"],
            name=op.f("fk_credit_penalties_installment_id_credit_installments"),
        ),
        sa.PrimaryKeyConstraint("installment_id", "day", name=op.f("pk_credit_penalties")),
    )
    op.create_index(
        "ix_credit_penalties_line_id_created_at",
        "credit_penalties",
        ["line_id", "created_at"],
        unique=False,
    )
    products = sa.table(
        "credit_products",
        sa.column("id", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("currency", sa.String),
        sa.column("annual_rate_bp", sa.Integer),
        sa.column("fee_bp", sa.Integer),
        sa.column("penalty_bp_per_day", sa.Integer),
        sa.column("grace_days", sa.Integer),
        sa.column("terms", JSON),
        sa.column("methods", JSON),
        sa.column("min_amount", sa.BigInteger),
        sa.column("max_limit", sa.BigInteger),
        sa.column("is_default", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        products,
        [
            {
                "id": DEFAULT_PRODUCT_ID,
                "code": "standard",
                "name": "Tidings信用借",
                "currency": "CNY",
                "annual_rate_bp": 1080,
                "fee_bp": 0,
                "penalty_bp_per_day": 5,
                "grace_days": 0,
                "terms": [1, 3, 6, 12],
                "methods": ["equal_installment", "equal_principal", "bullet"],
                "min_amount": 10_000,
                "max_limit": 20_000_000,
                "is_default": True,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
