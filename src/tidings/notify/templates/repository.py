"""Every query on operator template versions (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tidings.kit.db import transaction_lock
from tidings.kit.tables import AnyRow
from tidings.notify.models import templates


def _triple(kind: str, channel: str, locale: str) -> Any:
    return (
        (templates.c.kind == kind)
        & (templates.c.channel == channel)
        & (templates.c.locale == locale)
    )


def lock_group(conn: Connection, kind: str, channel: str, locale: str) -> None:
    """Operators writing versions of one (kind, channel, locale) at once take turns."""
    transaction_lock(conn, f"template.{kind}.{channel}.{locale}")


def list_versions(
    conn: Connection, *, kind: str | None, channel: str | None, locale: str | None
) -> list[AnyRow]:
    stmt = select(templates)
    if kind is not None:
        stmt = stmt.where(templates.c.kind == kind)
    if channel is not None:
        stmt = stmt.where(templates.c.channel == channel)
    if locale is not None:
        stmt = stmt.where(templates.c.locale == locale)
    order = (templates.c.kind, templates.c.channel, templates.c.locale, templates.c.version.desc())
    return list(conn.execute(stmt.order_by(*order)))


def get_version(conn: Connection, template_id: str) -> AnyRow | None:
    return conn.execute(select(templates).where(templates.c.id == template_id)).first()


def latest_version_number(conn: Connection, kind: str, channel: str, locale: str) -> int:
    stmt = select(func.coalesce(func.max(templates.c.version), 0)).where(
        _triple(kind, channel, locale)
    )
    return int(conn.execute(stmt).scalar_one())


def active_version(conn: Connection, kind: str, channel: str, locale: str) -> AnyRow | None:
    stmt = (
        select(templates)
        .where(_triple(kind, channel, locale) & templates.c.active.is_(True))
        .order_by(templates.c.version.desc())
        .limit(1)
    )
    return conn.execute(stmt).first()


def active_versions(conn: Connection) -> list[AnyRow]:
    stmt = select(templates).where(templates.c.active.is_(True)).order_by(templates.c.version)
    return list(conn.execute(stmt))


def deactivate_all(conn: Connection, kind: str, channel: str, locale: str) -> None:
    stmt = update(templates).where(_triple(kind, channel, locale) & templates.c.active.is_(True))
    conn.execute(stmt.values(active=False))


def activate(conn: Connection, template_id: str, *, operator: str, at: datetime) -> None:
    conn.execute(
        update(templates)
        .where(templates.c.id == template_id)
        .values(active=True, activated_by=operator, activated_at=at)
    )


def approve(conn: Connection, template_id: str, *, operator: str, at: datetime) -> None:
    conn.execute(
        update(templates)
        .where(templates.c.id == template_id)
        .values(approved_by=operator, approved_at=at)
    )


def insert_version(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(templates), values)
