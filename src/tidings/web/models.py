"""Sign-in links and page sessions. Their secrets are kept only as SHA-256 hashes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from tidings.kit.tables import Id, Timestamp, id_column, metadata, owner_column, required_columns

web_links = Table(
    "web_links",
    metadata,
    id_column(),
    owner_column(),
    Column("token_hash", String(64), nullable=False, unique=True),
    *required_columns(Timestamp, "created_at", "expires_at"),
    Column("used_at", Timestamp),
    Index("ix_web_links_user_id", "user_id"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    id_column(),
    Column("kind", String(16), nullable=False),
    # None for an operator's console session.
    Column("user_id", Id, ForeignKey("users.id")),
    Column("session_hash", String(64), nullable=False, unique=True),
    *required_columns(Timestamp, "created_at", "expires_at"),
    Column("ended_at", Timestamp),
    Index("ix_web_sessions_user_id", "user_id"),
)
