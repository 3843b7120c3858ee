"""Sign-in links and page sessions. Their secrets are kept only as SHA-256 hashes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from tidings.kit.tables import Id, Timestamp, metadata

web_links = Table(
    "web_links",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
    Index("ix_web_links_user_id", "user_id"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("kind", String(16), nullable=False),
    # None for an operator's console session.
    Column("user_id", Id, ForeignKey("users.id")),
    Column("session_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("ended_at", Timestamp),
    Index("ix_web_sessions_user_id", "user_id"),
)
