"""Sign-in links and page sessions. Their secrets are kept only as SHA-256 hashes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from tidings.kit.tables import (
    Id,
    id_column,
    issued_secret_columns,
    metadata,
    user_secrets_table,
)

web_links = user_secrets_table("web_links", ended_column="used_at")
"""Sign-in links sent to a user; `used_at` set: spent (a link signs in once)."""

web_sessions = Table(
    "web_sessions",
    metadata,
    id_column(),
    Column("kind", String(16), nullable=False),
    # None for an operator's console session.
    Column("user_id", Id, ForeignKey("users.id")),
    *issued_secret_columns("session_hash", ended_column="ended_at"),
    Index("ix_web_sessions_user_id", "user_id"),
)
