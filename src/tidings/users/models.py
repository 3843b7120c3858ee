"""Users and their access tokens. Personal fields are ciphertext plus a keyed look-up hash."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from tidings.kit.tables import Amount, Id, Timestamp, metadata

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("main_wallet_id", Id, nullable=False, unique=True),
    Column("external_id_enc", Text, nullable=False),
    Column("external_id_hash", String(64), nullable=False, unique=True),
    Column("name_enc", Text, nullable=False),
    Column("phone_enc", Text),
    Column("phone_hash", String(64), index=True),
    Column("email_enc", Text),
    Column("email_hash", String(64), index=True),
    # When the phone or email last changed after sign-up (None: the one given at sign-up).
    Column("phone_changed_at", Timestamp),
    Column("email_changed_at", Timestamp),
    Column("locale", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("low_balance_threshold", Amount, nullable=False),
    Column("step_up_amount", Amount),  # the user's own, lower step-up amount (minor units)
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # "active", or "erased" (PIPL erasure: the row stays for the ledger, naming no one).
    Column("status", String(8), nullable=False, server_default="active"),
    Column("erased_at", Timestamp),
)

user_tokens = Table(
    "user_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Index("ix_user_tokens_user_id", "user_id"),
)
