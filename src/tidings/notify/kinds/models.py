"""Tables of the custom kind registry."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from tidings.kit.tables import Json, Timestamp, id_column, metadata, required_columns

custom_kinds = Table(
    "custom_kinds",
    metadata,
    Column("type", String(80), primary_key=True),
    Column("category", String(16), nullable=False),
    Column("channels", Json),
    *required_columns(Json, "required_fields", "templates"),
    Column("sample", Json),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_by", String(80), nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)
"""One row per registered type: `active` (events of it become notices) or `retired`."""

custom_kind_changes = Table(
    "custom_kind_changes",
    metadata,
    id_column(),
    Column("type", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("definition", Json, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_custom_kind_changes_type_at", "type", "at"),
)
"""The audit trail of the registry: every registration, update and retirement, with the
definition as it stood after the change."""
