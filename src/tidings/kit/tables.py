"""The one MetaData every domain's tables join, with stable constraint names for Alembic."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Row, String
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Column types used across domains, so both databases store the same thing.
Id = String(32)
Amount = BigInteger
Timestamp = DateTime(timezone=True)
Json = JSON().with_variant(JSONB(), "postgresql")

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A result row of any shape (Core queries return these)."""
