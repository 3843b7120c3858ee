"""The one MetaData every domain's tables join, with stable constraint names for Alembic."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    Row,
    String,
    Table,
    TypeDecorator,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

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


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC in storage on both databases.

    SQLite keeps no offset: a value written with one would be read back as if it were UTC,
    hours off. Every value is converted to UTC on the way in (naive ones are taken as UTC)
    and comes back aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = UtcDateTime()
Json = JSON().with_variant(JSONB(), "postgresql")

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A result row of any shape (Core queries return these)."""


def required_columns(
    type_: TypeEngine[Any] | type[TypeEngine[Any]], *names: str
) -> list[Column[Any]]:
    """Several NOT NULL columns of one type, in order: a table's run of amounts or ids reads
    as one line."""
    return [Column(name, type_, nullable=False) for name in names]


def optional_columns(
    type_: TypeEngine[Any] | type[TypeEngine[Any]], *names: str
) -> list[Column[Any]]:
    """Several nullable columns of one type, in order (what is filled in later, or not at
    all)."""
    return [Column(name, type_) for name in names]


def zero_columns(type_: TypeEngine[Any] | type[TypeEngine[Any]], *names: str) -> list[Column[Any]]:
    """Several NOT NULL columns of one type that start at zero (running totals, flags off)."""
    return [Column(name, type_, nullable=False, server_default="0") for name in names]


def id_column() -> Column[Any]:
    """`id`: the row's own identifier, its primary key."""
    return Column("id", Id, primary_key=True)


def owner_column(*, index: bool = False, unique: bool = False) -> Column[Any]:
    """`user_id`: the user the row belongs to, whose token alone may see it."""
    return Column(
        "user_id",
        Id,
        ForeignKey("users.id"),
        nullable=False,
        index=True if index else None,
        unique=True if unique else None,
    )


def currency_column() -> Column[Any]:
    """`currency`: the ISO 4217 code of every amount in the row."""
    return Column("currency", String(3), nullable=False)


def money_columns() -> list[Column[Any]]:
    """`amount` in minor units and its `currency`, side by side: an amount is never stored
    without the currency it is in."""
    return [Column("amount", Amount, nullable=False), currency_column()]


def positive_amount_check() -> CheckConstraint:
    """The database refuses a row whose `amount` is zero or negative (which way the money
    goes is in the row's kind or accounts, never in the amount's sign)."""
    return CheckConstraint("amount > 0", name="amount_positive")


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index over only the rows that match `where`, the same on both databases: for a
    column most rows leave empty, or a rule that holds among some rows only."""
    return Index(
        name,
        *columns,
        unique=unique,
        postgresql_where=text(where),
        sqlite_where=text(where),
    )


def issued_secret_columns(hash_column: str, *, ended_column: str) -> list[Column[Any]]:
    """A bearer secret handed out once and kept only as its SHA-256 hash (unique: the
    look-up), good from `created_at` until `expires_at`, or until `ended_column` is set."""
    return [
        Column(hash_column, String(64), nullable=False, unique=True),
        *required_columns(Timestamp, "created_at", "expires_at"),
        Column(ended_column, Timestamp),
    ]


def user_secrets_table(name: str, *, ended_column: str) -> Table:
    """A table of secrets issued to users (API tokens, sign-in links): found by hash, listed
    per user."""
    return Table(
        name,
        metadata,
        id_column(),
        owner_column(index=True),
        *issued_secret_columns("token_hash", ended_column=ended_column),
    )


def one_of(column: ColumnElement[Any], values: Iterable[object]) -> ColumnElement[bool]:
    """`column IN (…)` over values fixed when a statement is built, as plain bound values.

    `column.in_(values)` binds the list as one *expanding* parameter, which SQLAlchemy
    renders again on every execution (regular expressions over the SQL): for a statement on
    the payment path, a few per cent of the payment's CPU."""
    return column.in_([literal(value) for value in values])


def rows_where(
    conn: Connection, column: Column[Any], value: object, *, order_by: ColumnElement[Any]
) -> list[AnyRow]:
    """Every row of `column`'s table whose `column` is `value`, in `order_by` order: the
    children of one parent (a ticket's messages, a drawdown's installments)."""
    stmt = select(column.table).where(column == value).order_by(order_by)
    return list(conn.execute(stmt))
