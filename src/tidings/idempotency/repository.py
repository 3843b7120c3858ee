"""Every query of idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from tidings.idempotency.models import idempotency_keys
from tidings.kit.tables import AnyRow


def get(conn: Connection, principal: str, key: str) -> AnyRow | None:
    stmt = select(idempotency_keys).where(
        idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
    )
    return conn.execute(stmt).first()


def try_insert(conn: Connection, principal: str, key: str, request_hash: str, at: datetime) -> bool:
    """Claim the key; on PostgreSQL a concurrent claim waits here for the other to finish."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(idempotency_keys),
                {
                    "principal": principal,
                    "key": key,
                    "request_hash": request_hash,
                    "created_at": at,
                },
            )
    except IntegrityError:
        return False
    return True


def store_response(
    conn: Connection, principal: str, key: str, status: int, body: dict[str, Any]
) -> None:
    stmt = (
        update(idempotency_keys)
        .where(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
        .values(response_status=status, response_body=body)
    )
    conn.execute(stmt)
