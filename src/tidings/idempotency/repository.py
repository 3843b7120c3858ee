"""Every query of idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.idempotency.models import idempotency_keys
from tidings.kit.prepared import Prepared
from tidings.kit.tables import AnyRow

# On the path of every write that sends a key: prepared (`kit.prepared`). A claim that finds
# the key taken inserts nothing and returns nothing: no error, so no savepoint to roll back
# to (a savepoint and its release cost more than the insert).
_CLAIM = {
    dialect: Prepared(
        dialect_insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.key)
    )
    for dialect, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_STORE_RESPONSE = Prepared(
    update(idempotency_keys).where(
        idempotency_keys.c.principal == bindparam("claimed_by"),
        idempotency_keys.c.key == bindparam("claimed_key"),
    )
)


def get(conn: Connection, principal: str, key: str) -> AnyRow | None:
    stmt = select(idempotency_keys).where(
        idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
    )
    return conn.execute(stmt).first()


def try_insert(conn: Connection, principal: str, key: str, request_hash: str, at: datetime) -> bool:
    """Claim the key; on PostgreSQL a concurrent claim waits here for the other to finish."""
    claimed = _CLAIM[conn.dialect.name].rows(
        conn,
        {"principal": principal, "key": key, "request_hash": request_hash, "created_at": at},
    )
    return bool(claimed)


def store_response(
    conn: Connection, principal: str, key: str, status: int, body: dict[str, Any]
) -> None:
    _STORE_RESPONSE.execute(
        conn,
        {
            "claimed_by": principal,
            "claimed_key": key,
            "response_status": status,
            "response_body": body,
        },
    )
