"""Ledger tables. The database itself refuses an unbalanced entry and a forbidden overdraft.

* System accounts (the outside world) have fixed ids in shards: `sys_merchant_settlement_CNY_07`.

* `accounts.balance` is the sum of the account's postings; `held` is money reserved by holds.
* A CHECK refuses `balance - held < 0` unless the account allows a negative balance.
* Postings are written before their entry (the foreign key is deferred); inserting the
  entry runs the balance check (SQLite trigger), and on PostgreSQL a deferred constraint
  trigger checks every touched entry at commit. Postings are append-only.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, Text

from tidings.kit.tables import (
    Amount,
    Id,
    Timestamp,
    currency_column,
    id_column,
    metadata,
    money_columns,
    positive_amount_check,
    zero_columns,
)

accounts = Table(
    "accounts",
    metadata,
    id_column(),
    Column("user_id", Id, index=True),
    Column("kind", String(32), nullable=False),
    currency_column(),
    *zero_columns(Amount, "balance", "held"),
    Column("allow_negative", Boolean, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint("held >= 0", name="held_not_negative"),
    CheckConstraint("allow_negative OR balance - held >= 0", name="no_overdraft"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    id_column(),
    Column("kind", String(32), nullable=False),
    Column("reference", Id),
    Column("created_at", Timestamp, nullable=False),
)

postings = Table(
    "postings",
    metadata,
    id_column(),
    Column(
        "entry_id",
        Id,
        ForeignKey("ledger_entries.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    *money_columns(),
    Column("balance_after", Amount, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    Index("ix_postings_account_id_id", "account_id", "id"),
    Index("ix_postings_entry_id", "entry_id"),
)

holds = Table(
    "holds",
    metadata,
    id_column(),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    *money_columns(),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("expires_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("settled_at", Timestamp),
    positive_amount_check(),
)
