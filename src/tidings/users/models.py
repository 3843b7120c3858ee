"""Users and their access tokens. Personal fields are ciphertext plus a keyed look-up hash."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from tidings.kit.tables import (
    Amount,
    Id,
    Timestamp,
    id_column,
    metadata,
    optional_columns,
    owner_column,
    required_columns,
)

users = Table(
    "users",
    metadata,
    id_column(),
    Column("main_wallet_id", Id, nullable=False, unique=True),
    Column("external_id_enc", Text, nullable=False),
    Column("external_id_hash", String(64), nullable=False, unique=True),
    Column("name_enc", Text, nullable=False),
    Column("phone_enc", Text),
    Column("phone_hash", String(64), index=True),
    Column("email_enc", Text),
    Column("email_hash", String(64), index=True),
    # When the phone or email last changed after sign-up (None: the one given at sign-up).
    *optional_columns(Timestamp, "phone_changed_at", "email_changed_at"),
    Column("locale", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("low_balance_threshold", Amount, nullable=False),
    Column("step_up_amount", Amount),  # the user's own, lower step-up amount (minor units)
    *required_columns(Timestamp, "created_at", "updated_at"),
    # "active", or "erased" (PIPL erasure: the row stays for the ledger, naming no one).
    Column("status", String(8), nullable=False, server_default="active"),
    Column("erased_at", Timestamp),
)

user_tokens = Table(
    "user_tokens",
    metadata,
    id_column(),
    owner_column(),
    Column("token_hash", String(64), nullable=False, unique=True),
    *required_columns(Timestamp, "created_at", "expires_at"),
    Column("revoked_at", Timestamp),
    Index("ix_user_tokens_user_id", "user_id"),
)
