"""Column builders for the migrations: one line declares a run of columns of one type.

The migrations declared every column in full (`sa.Column("user_id", sa.String(length=32),
nullable=False)`), so each table repeated the same few types dozens of times and a wrong
length hid among them. Each builder returns the same `sa.Column` objects the long form did,
in the order given, so the DDL a migration emits is unchanged on SQLite and PostgreSQL —
which matters: these revisions have already run in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

Columns = list[sa.Column[Any]]


@dataclass(frozen=True)
class _Builder:
    """Columns of one type: NOT NULL unless told, with an optional server default."""

    make_type: Callable[[], sa.types.TypeEngine[Any]]

    def __call__(self, *names: str, nullable: bool = False, default: str | None = None) -> Columns:
        return [
            sa.Column(name, self.make_type(), nullable=nullable, server_default=default)
            for name in names
        ]


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


ids = _Builder(lambda: sa.String(length=32))
"""Identifiers (ours are 32 characters) and the references to them."""
stamps = _Builder(lambda: sa.DateTime(timezone=True))
amounts = _Builder(sa.BigInteger)
"""Money in minor units, and other counts that may outgrow 32 bits."""
integers = _Builder(sa.Integer)
texts = _Builder(sa.Text)
dates = _Builder(sa.Date)
flags = _Builder(sa.Boolean)
jsons = _Builder(_json)


def strings(
    length: int, *names: str, nullable: bool = False, default: str | None = None
) -> Columns:
    """VARCHAR columns of one length."""
    return _Builder(lambda: sa.String(length=length))(*names, nullable=nullable, default=default)


def no_schema_change() -> None:
    """The upgrade and downgrade of a revision that changes no table (it records a decision
    or reserves its number)."""


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    """`op.add_column` for each column, in order."""
    for column in columns:
        op.add_column(table, column)


def drop_columns(table: str, *names: str) -> None:
    """Drop columns in one batch (on SQLite one table rebuild, not one per column)."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)
