"""Stored first results of state-changing requests, per caller and key."""

from __future__ import annotations

from sqlalchemy import Column, Integer, PrimaryKeyConstraint, String, Table

from tidings.kit.tables import Json, Timestamp, metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response_status", Integer),
    Column("response_body", Json),
    Column("created_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("principal", "key"),
)
