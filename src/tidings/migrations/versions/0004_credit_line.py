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

from tidings.migrations.columns import (
    amounts,
    dates,
    flags,
    ids,
    integers,
    jsons,
    stamps,
    strings,
    texts,
)

revision = "0004"
down_revision = "0003"

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
        *ids("id", "code"),
        *strings(100, "name"),
        *strings(3, "currency"),
        *integers("annual_rate_bp"),
        *integers("fee_bp", default="0"),
        *integers("penalty_bp_per_day"),
        *integers("grace_days", default="0"),
        *jsons("terms", "methods"),
        *amounts("min_amount", "max_limit"),
        *flags("is_default", default="0"),
        *stamps("created_at", "updated_at"),
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
        *ids("id", "user_id", "product_id"),
        *strings(3, "currency"),
        *amounts("requested_limit"),
        *amounts("granted_limit", nullable=True),
        *strings(16, "status"),
        *integers("score", nullable=True),
        *strings(16, "decided_by", nullable=True),
        *texts("reason", nullable=True),
        *ids("line_id", nullable=True),
        *stamps("created_at"),
        *stamps("decided_at", nullable=True),
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
        *ids("id", "user_id", "product_id"),
        *strings(3, "currency"),
        *amounts("limit"),
        *amounts("outstanding", default="0"),
        *strings(16, "status"),
        *flags("auto_debit", default="0"),
        *stamps("created_at"),
        *stamps("reviewed_at", nullable=True),
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
        *ids("id", "line_id", "user_id"),
        *strings(3, "currency"),
        *amounts("amount"),
        *amounts("fee", default="0"),
        *integers("term_months"),
        *strings(24, "method"),
        *integers("annual_rate_bp", "penalty_bp_per_day", "grace_days"),
        *strings(64, "timezone"),
        *dates("start_date", "interest_from"),
        *amounts("interest_base", default="0"),
        *strings(16, "status"),
        *ids("wallet_id"),
        *ids("entry_id", nullable=True),
        *stamps("created_at"),
        *stamps("settled_at", nullable=True),
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
        *ids("id", "line_id"),
        *amounts("old_limit", "new_limit"),
        *strings(16, "changed_by"),
        *texts("reason"),
        *stamps("created_at"),
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
        *ids("id", "drawdown_id", "user_id"),
        *strings(64, "timezone"),
        *integers("n"),
        *dates("due_date", "penalty_from"),
        *amounts("principal", "interest"),
        *amounts("principal_paid", "interest_paid", "penalty", "penalty_paid", default="0"),
        *strings(16, "status"),
        *dates("overdue_as_of", nullable=True),
        *stamps("paid_at", nullable=True),
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
        *ids("id", "drawdown_id", "line_id", "user_id", "wallet_id"),
        *strings(3, "currency"),
        *amounts("amount", "penalty", "interest", "principal", "remaining"),
        *flags("automatic", default="0"),
        *ids("entry_id"),
        *stamps("created_at"),
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
        *ids("installment_id"),
        *strings(16, "step"),
        *stamps("created_at"),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["credit_installments.id"],
            name=op.f("fk_credit_notices_installment_id_credit_installments"),
        ),
        sa.PrimaryKeyConstraint("installment_id", "step", name=op.f("pk_credit_notices")),
    )
    op.create_table(
        "credit_penalties",
        *ids("installment_id"),
        *dates("day"),
        *ids("drawdown_id", "line_id"),
        *amounts("amount"),
        *stamps("created_at"),
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
