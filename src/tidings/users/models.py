"""Users and their access tokens. Personal fields are ciphertext plus a keyed look-up hash."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from tidings.kit.tables import (
    Amount,
    Id,
    Timestamp,
    currency_column,
    id_column,
    metadata,
    optional_columns,
    required_columns,
    user_secrets_table,
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
    currency_column(),
    Column("low_balance_threshold", Amount, nullable=False),
    Column("step_up_amount", Amount),  # the user's own, lower step-up amount (minor units)
    *required_columns(Timestamp, "created_at", "updated_at"),
    # "active", or "erased" (PIPL erasure: the row stays for the ledger, naming no one).
    Column("status", String(8), nullable=False, server_default="active"),
    Column("erased_at", Timestamp),
)

user_tokens = user_secrets_table("user_tokens", ended_column="revoked_at")
"""API access tokens; `revoked_at` set: refused before it expires."""
