"""Every query on the custom kind registry (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidings.kit.db import transaction_lock
from tidings.kit.tables import AnyRow
from tidings.notify.kinds.models import custom_kind_changes, custom_kinds


def lock_type(conn: Connection, kind: str) -> None:
    """Operators changing one kind at once take turns."""
    transaction_lock(conn, f"kind.{kind}")


def get(conn: Connection, kind: str) -> AnyRow | None:
    return conn.execute(select(custom_kinds).where(custom_kinds.c.type == kind)).first()


def active(conn: Connection, kinds: Sequence[str]) -> list[AnyRow]:
    if not kinds:
        return []
    stmt = select(custom_kinds).where(
        custom_kinds.c.type.in_(sorted(set(kinds))), custom_kinds.c.status == "active"
    )
    return list(conn.execute(stmt))


def list_all(conn: Connection) -> list[AnyRow]:
    return list(conn.execute(select(custom_kinds).order_by(custom_kinds.c.type)))


def insert_kind(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(custom_kinds), values)


def update_kind(conn: Connection, kind: str, values: dict[str, Any]) -> None:
    conn.execute(update(custom_kinds).where(custom_kinds.c.type == kind).values(**values))


def insert_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(custom_kind_changes), values)


def changes(conn: Connection, kind: str) -> list[AnyRow]:
    stmt = select(custom_kind_changes).where(custom_kind_changes.c.type == kind)
    return list(conn.execute(stmt.order_by(custom_kind_changes.c.at, custom_kind_changes.c.id)))
