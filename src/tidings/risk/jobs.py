"""Periodic work of the risk domain: train the online model on the outcomes confirmed since
its last run. (Held transfers, and the codes of contact changes nobody confirmed, are ended by
the wallets' `risk.expire_holds` job, `tidings.wallets.jobs`.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tidings.kit.db import retried_write
from tidings.privacy.crypto import Keyring
from tidings.risk import learning


def run_learn_model(
    engine: Engine, keyring: Keyring, *, as_of: datetime, settle_after: timedelta
) -> dict[str, Any]:
    """Learn every outcome known by `as_of`, a batch per transaction and per saved version."""
    learned = 0
    while True:
        done = retried_write(
            engine,
            lambda conn: learning.learn_batch(
                conn, keyring, as_of=as_of, settle_after=settle_after
            ),
        )
        learned += done
        if done < learning.LEARN_BATCH:
            break
    forgotten = retried_write(engine, lambda conn: learning.forget_old(conn, as_of=as_of))
    return {"outcomes_learned": learned, "observations_forgotten": forgotten}
