"""Periodic work of the risk domain: release holds nobody verified in time (and blank the
codes of contact changes nobody confirmed), and train the online model on the outcomes
confirmed since its last run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tidings.kit.db import with_retry, write_transaction
from tidings.privacy.crypto import Keyring
from tidings.risk import contact_changes, learning, service

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

    def expire_contact_changes() -> int:
        with write_transaction(engine) as conn:
            return contact_changes.expire_changes(conn, at=as_of, limit=BATCH)

    def forget() -> int:
        with write_transaction(engine) as conn:
            return service.forget_old_rate_windows(conn, at=as_of)

    return {
        "expired": expired,
        "contact_changes_expired": with_retry(expire_contact_changes),
        "rate_windows_forgotten": with_retry(forget),
    }


def run_learn_model(
    engine: Engine, keyring: Keyring, *, as_of: datetime, settle_after: timedelta
) -> dict[str, Any]:
    """Learn every outcome known by `as_of`, a batch per transaction and per saved version."""
    learned = 0
    while True:

        def batch() -> int:
            with write_transaction(engine) as conn:
                return learning.learn_batch(conn, keyring, as_of=as_of, settle_after=settle_after)

        done = with_retry(batch)
        learned += done
        if done < learning.LEARN_BATCH:
            break

    def forget() -> int:
        with write_transaction(engine) as conn:
            return learning.forget_old(conn, as_of=as_of)

    return {"outcomes_learned": learned, "observations_forgotten": with_retry(forget)}
