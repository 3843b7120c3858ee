"""Every query of the insights domain. The notices' claims are written here; spending and
behaviour are read from the wallets' and the ledger's tables in set-based joins, never written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.insights.models import budget_alerts, goal_milestones
from tidings.ledger.models import ledger_entries, postings

SPENDING_KINDS = ("payment", "refund")
"""Ledger entry kinds that make a budget's spending: payments out, their refunds back."""


def _claim(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows that are not there yet, in one statement; the levels newly claimed.
    The primary key decides under concurrent writers: a row another transaction inserted
    first (committed, or waited for) is skipped, never claimed twice."""
    if not rows:
        return set()
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table).values(list(rows)).on_conflict_do_nothing()
    return set(conn.execute(stmt.returning(table.c.level)).scalars())


def spent_since(conn: Connection, account_id: str, since: datetime) -> int:
    """Payments out minus refunds back in, on one account since a moment (a budget period's
    start)."""
    stmt = (
        select(func.coalesce(func.sum(postings.c.amount), 0))
        .join(ledger_entries, ledger_entries.c.id == postings.c.entry_id)
        .where(
            postings.c.account_id == account_id,
            postings.c.created_at >= since,
            ledger_entries.c.kind.in_(SPENDING_KINDS),
        )
    )
    return -int(conn.execute(stmt).scalar_one())


def claim_budget_levels(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    return _claim(conn, budget_alerts, rows)


def claim_goal_levels(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    return _claim(conn, goal_milestones, rows)


def rewards_paid_since(conn: Connection, user_id: str, since: datetime) -> int:
    """How many goal rewards the user was paid since a moment (their year's start)."""
    g = goal_milestones.c
    stmt = select(func.count()).where(g.user_id == user_id, g.created_at >= since, g.reward > 0)
    return int(conn.execute(stmt).scalar_one())
