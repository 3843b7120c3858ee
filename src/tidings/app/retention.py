"""The `privacy.retention` job: delete what has outlived its purpose (`registry.RETENTION`).

Set-based (one statement per rule, in batches of ids so a long backlog never holds one huge
transaction), idempotent (a second run for the same `as_of` finds nothing) and driven by
`as_of`, so a missed run catches up and a rehearsal can look ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Delete, Engine, Update, delete, select, tuple_, update

from tidings.app.privacy import registered
from tidings.config import Settings
from tidings.kit.db import retried_write
from tidings.privacy.registry import RETENTION, Retention
from tidings.risk import learning

BATCH = 1000


def cutoff(rule: Retention, settings: Settings, as_of: datetime) -> datetime:
    """Rows whose clock is before this moment have outlived their purpose."""
    if rule.days_setting is None:
        return as_of
    days = int(getattr(settings, rule.days_setting))
    return as_of - timedelta(days=days)


def apply_rule(conn: Connection, rule: Retention, before: datetime) -> int:
    """One batch of the rule; how many rows it deleted or blanked."""
    table = registered(rule.table)
    due = table.c[rule.clock] < before
    if rule.blank is not None:
        due = due & table.c[rule.blank].is_not(None)
    keys = table.primary_key.columns.values()
    batch = select(*keys).where(due).limit(BATCH)
    # a composite key (idempotency_keys: principal, key) is matched whole, as a row value
    rows = keys[0].in_(batch.scalar_subquery()) if len(keys) == 1 else tuple_(*keys).in_(batch)
    stmt: Update | Delete
    if rule.blank is not None:
        stmt = update(table).where(rows).values({rule.blank: None})
    else:
        stmt = delete(table).where(rows)
    return conn.execute(stmt).rowcount or 0


def run_retention(engine: Engine, settings: Settings, *, as_of: datetime) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for rule in RETENTION:
        before = cutoff(rule, settings, as_of)
        total = 0
        while True:
            done = retried_write(engine, partial(apply_rule, rule=rule, before=before))
            total += done
            if done < BATCH:
                break
        counts[rule.name] = total
    counts["risk_observations"] = retried_write(
        engine, lambda conn: learning.forget_old(conn, as_of=as_of)
    )
    return counts
