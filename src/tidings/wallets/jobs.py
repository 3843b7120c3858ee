"""Periodic work on held transfers: the `risk.expire_holds` job (every 30 s in the worker)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine

from tidings.kit.db import retried_write
from tidings.risk import contact_changes
from tidings.risk import service as risk
from tidings.wallets import holds

BATCH: Final = 500


def run_expire_holds(engine: Engine, *, as_of: datetime) -> dict[str, Any]:
    """Cancel held transfers whose hold ran out, releasing the money, in batches of `BATCH`;
    then have risk end the contact-change codes nobody confirmed and forget old rate windows.

    Each batch is one transaction; on PostgreSQL several workers skip each other's rows.
    """
    expired = 0
    while True:
        done = retried_write(engine, lambda conn: holds.expire_holds(conn, at=as_of, limit=BATCH))
        expired += done
        if done < BATCH:
            break
    return {
        "expired": expired,
        "contact_changes_expired": retried_write(
            engine, lambda conn: contact_changes.expire_changes(conn, at=as_of, limit=BATCH)
        ),
        "rate_windows_forgotten": retried_write(
            engine, lambda conn: risk.forget_old_rate_windows(conn, at=as_of)
        ),
    }
