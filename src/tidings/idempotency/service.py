"""The same key with the same body returns the first result; with another body, 409.

The key is claimed inside the request's own transaction, so the stored result commits with
the work it describes, and two racing requests with one key execute once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.idempotency import repository
from tidings.idempotency.exceptions import IdempotencyKeyReused


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def claim(
    conn: Connection, *, principal: str, key: str, request_hash: str, at: datetime
) -> StoredResponse | None:
    """None when this request owns the key now; the first result when it was used before."""
    if repository.try_insert(conn, principal, key, request_hash, at):
        return None
    stored = answered(conn, principal=principal, key=key, request_hash=request_hash)
    if stored is None:
        raise IdempotencyKeyReused("a request with this key is still in progress")
    return stored


def answered(
    conn: Connection, *, principal: str, key: str, request_hash: str
) -> StoredResponse | None:
    """The first result of a key already answered, without claiming the key (None: no answer
    yet). For work that owns its transactions and is harmless run twice (a job's moment)."""
    row = repository.get(conn, principal, key)
    if row is None or row.response_status is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request", field="Idempotency-Key"
        )
    return StoredResponse(status=int(row.response_status), body=dict(row.response_body))


def complete(
    conn: Connection, *, principal: str, key: str, status: int, body: dict[str, Any]
) -> None:
    repository.store_response(conn, principal, key, status, body)
