"""Credit-line tables: products (configured data), applications, lines, drawdowns, their
installments, repayments, the penalty entries the nightly run writes, and the markers that
make every reminder and overdue notice happen once.

Interest and penalties are owed on these tables and reach the ledger when they are paid
(cash basis): the ledger holds what moved — the disbursed principal in the credit
receivable account, interest and penalties received in interest income.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.kit.tables import (
    Amount,
    Id,
    Json,
    Timestamp,
    currency_column,
    id_column,
    metadata,
    owner_column,
    positive_amount_check,
    required_columns,
    zero_columns,
)

credit_products = Table(
    "credit_products",
    metadata,
    id_column(),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    currency_column(),
    Column("annual_rate_bp", Integer, nullable=False),
    Column("fee_bp", Integer, nullable=False, server_default="0"),
    Column("penalty_bp_per_day", Integer, nullable=False),
    Column("grace_days", Integer, nullable=False, server_default="0"),
    *required_columns(Json, "terms", "methods"),
    *required_columns(Amount, "min_amount", "max_limit"),
    Column("is_default", Boolean, nullable=False, server_default="0"),
    *required_columns(Timestamp, "created_at", "updated_at"),
    CheckConstraint("annual_rate_bp >= 0 AND annual_rate_bp <= 3600", name="rate_bounds"),
    CheckConstraint("fee_bp >= 0 AND fee_bp < 10000", name="fee_bounds"),
    CheckConstraint("penalty_bp_per_day >= 0", name="penalty_not_negative"),
    CheckConstraint("grace_days >= 0", name="grace_not_negative"),
)
"""A credit product is data an operator edits, not code (the migration seeds one)."""

credit_applications = Table(
    "credit_applications",
    metadata,
    id_column(),
    owner_column(index=True),
    Column("product_id", Id, ForeignKey("credit_products.id"), nullable=False),
    currency_column(),
    Column("requested_limit", Amount, nullable=False),
    Column("granted_limit", Amount),
    Column("status", String(16), nullable=False),
    Column("score", Integer),
    Column("decided_by", String(16)),
    Column("reason", Text),
    Column("line_id", Id),
    Column("created_at", Timestamp, nullable=False),
    Column("decided_at", Timestamp),
)

credit_lines = Table(
    "credit_lines",
    metadata,
    id_column(),
    owner_column(unique=True),
    Column("product_id", Id, ForeignKey("credit_products.id"), nullable=False),
    currency_column(),
    Column("limit", Amount, nullable=False),
    Column("outstanding", Amount, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("auto_debit", Boolean, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("reviewed_at", Timestamp),
    CheckConstraint('"limit" >= 0', name="limit_not_negative"),
    CheckConstraint("outstanding >= 0", name="outstanding_not_negative"),
)
"""`outstanding` is unpaid principal; available = limit - outstanding (never below 0)."""

credit_limit_changes = Table(
    "credit_limit_changes",
    metadata,
    id_column(),
    Column("line_id", Id, ForeignKey("credit_lines.id"), nullable=False, index=True),
    *required_columns(Amount, "old_limit", "new_limit"),
    Column("changed_by", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

credit_drawdowns = Table(
    "credit_drawdowns",
    metadata,
    id_column(),
    Column("line_id", Id, ForeignKey("credit_lines.id"), nullable=False),
    Column("user_id", Id, nullable=False),
    currency_column(),
    Column("amount", Amount, nullable=False),
    Column("fee", Amount, nullable=False, server_default="0"),
    Column("term_months", Integer, nullable=False),
    Column("method", String(24), nullable=False),
    *required_columns(Integer, "annual_rate_bp", "penalty_bp_per_day", "grace_days"),
    Column("timezone", String(64), nullable=False),
    *required_columns(Date, "start_date", "interest_from"),
    Column("interest_base", Amount, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("wallet_id", Id, nullable=False),
    Column("entry_id", Id),
    Column("created_at", Timestamp, nullable=False),
    Column("settled_at", Timestamp),
    positive_amount_check(),
    Index("ix_credit_drawdowns_line_id_id", "line_id", "id"),
)
"""A drawdown keeps the product terms it was made on (a later product edit changes nothing).
`interest_from`/`interest_base`: since when interest accrues on the current period, and what
was already paid of it then (moved by an early repayment that re-computed the schedule)."""

credit_installments = Table(
    "credit_installments",
    metadata,
    id_column(),
    Column("drawdown_id", Id, ForeignKey("credit_drawdowns.id"), nullable=False),
    Column("user_id", Id, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("n", Integer, nullable=False),
    *required_columns(Date, "due_date", "penalty_from"),
    *required_columns(Amount, "principal", "interest"),
    *zero_columns(Amount, "principal_paid", "interest_paid", "penalty", "penalty_paid"),
    Column("status", String(16), nullable=False),
    Column("overdue_as_of", Date),
    Column("paid_at", Timestamp),
    UniqueConstraint("drawdown_id", "n", name="uq_credit_installments_drawdown_n"),
    CheckConstraint(
        "principal_paid >= 0 AND principal_paid <= principal", name="principal_paid_bounds"
    ),
    CheckConstraint("interest_paid >= 0 AND interest_paid <= interest", name="interest_bounds"),
    CheckConstraint("penalty_paid >= 0 AND penalty_paid <= penalty", name="penalty_bounds"),
    Index("ix_credit_installments_status_due_date", "status", "due_date"),
)
"""`timezone` and `user_id` are copied from the drawdown so the nightly run reads one table;
`penalty_from` is the first day a penalty accrues (due date + 1 + grace days)."""

credit_repayments = Table(
    "credit_repayments",
    metadata,
    id_column(),
    Column("drawdown_id", Id, ForeignKey("credit_drawdowns.id"), nullable=False),
    *required_columns(Id, "line_id", "user_id", "wallet_id"),
    currency_column(),
    *required_columns(Amount, "amount", "penalty", "interest", "principal", "remaining"),
    Column("automatic", Boolean, nullable=False, server_default="0"),
    Column("entry_id", Id, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    positive_amount_check(),
    Index("ix_credit_repayments_line_id_id", "line_id", "id"),
)

credit_penalties = Table(
    "credit_penalties",
    metadata,
    Column("installment_id", Id, ForeignKey("credit_installments.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    *required_columns(Id, "drawdown_id", "line_id"),
    Column("amount", Amount, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_credit_penalties_line_id_created_at", "line_id", "created_at"),
)
"""One entry per installment and day overdue (after grace): a re-run cannot add a second."""

credit_notices = Table(
    "credit_notices",
    metadata,
    Column("installment_id", Id, ForeignKey("credit_installments.id"), primary_key=True),
    Column("step", String(16), primary_key=True),
    Column("created_at", Timestamp, nullable=False),
)
"""Which reminder (`due_3`, `due_1`, `due_0`) or overdue step (`overdue_1` … `overdue_30`)
an installment has had: the primary key is what makes a re-run send nothing twice."""
