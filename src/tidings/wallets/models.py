"""Wallets (each backed by one ledger account) and transfers (each one ledger entry)."""

from __future__ import annotations

from sqlalchemy import (
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
    Timestamp,
    currency_column,
    id_column,
    metadata,
    money_columns,
    optional_columns,
    owner_column,
    positive_amount_check,
    required_columns,
    zero_columns,
)

wallets = Table(
    "wallets",
    metadata,
    id_column(),
    owner_column(index=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("name", String(100), nullable=False),
    Column("purpose", String(16), nullable=False),
    currency_column(),
    Column("status", String(8), nullable=False),
    Column("budget_limit", Amount),
    Column("budget_period", String(8)),
    Column("budget_alert_percent", Integer),
    Column("goal_target", Amount),
    Column("goal_by", Date),
    Column("created_at", Timestamp, nullable=False),
    *optional_columns(Timestamp, "closed_at", "frozen_at"),
)
"""`frozen_at` set: no money leaves the wallet (the owner's "not me", or an operator)."""

transfers = Table(
    "transfers",
    metadata,
    id_column(),
    Column("kind", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    owner_column(),
    Column("source_wallet_id", Id, ForeignKey("wallets.id")),
    Column("destination_wallet_id", Id, ForeignKey("wallets.id")),
    *money_columns(),
    Column("merchant_name", String(200)),
    Column("merchant_category", String(4)),
    Column("refund_of", Id, ForeignKey("transfers.id")),
    Column("refunded_amount", Amount, nullable=False, server_default="0"),
    Column("memo", Text),
    Column("entry_id", Id, ForeignKey("ledger_entries.id")),
    Column("created_at", Timestamp, nullable=False),
    positive_amount_check(),
    CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_bounds"),
    Index("ix_transfers_user_id_id", "user_id", "id"),
    Index("ix_transfers_refund_of", "refund_of"),
)

wallet_statements = Table(
    "wallet_statements",
    metadata,
    id_column(),
    Column("wallet_id", Id, ForeignKey("wallets.id"), nullable=False),
    Column("user_id", Id, nullable=False),
    *required_columns(Date, "period_start", "period_end"),
    currency_column(),
    *required_columns(Amount, "opening_balance", "total_in", "total_out", "closing_balance"),
    *zero_columns(Amount, "moved_to_sub_wallets", "moved_from_sub_wallets"),
    Column("entries", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("wallet_id", "period_start", name="uq_wallet_statements_wallet_period"),
    Index("ix_wallet_statements_wallet_id_id", "wallet_id", "id"),
)
"""One monthly statement per main wallet that moved money in the month."""

wallet_statement_runs = Table(
    "wallet_statement_runs",
    metadata,
    Column("timezone", String(64), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("statements", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)
"""Which (time zone, month) the statements job has done, so hourly runs cost nothing."""
