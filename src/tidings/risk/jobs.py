"""Periodic work of the risk domain: release holds nobody verified in time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tidings.kit.db import with_retry, write_transaction
from tidings.risk import service

BATCH = 500


def run_expire_holds(engine: Engine, *, as_of: datetime) -> dict[str, Any]:
    """Cancel held transfers whose hold ran out, releasing the money, in batches of `BATCH`.

    Each batch is one transaction; on PostgreSQL several workers skip each other's rows.
    """
    expired = 0
    while True:

        def batch() -> int:
            with write_transaction(engine) as conn:
                return service.expire_holds(conn, at=as_of, limit=BATCH)

        done = with_retry(batch)
        expired += done
        if done < BATCH:
            break

    def forget() -> int:
        with write_transaction(engine) as conn:
            return service.forget_old_rate_windows(conn, at=as_of)

    return {"expired": expired, "rate_windows_forgotten": with_retry(forget)}
