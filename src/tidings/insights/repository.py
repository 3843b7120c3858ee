"""Every query of the insights domain. The notices' claims are written here; spending and
behaviour are read from the wallets' and the ledger's tables in set-based joins, never written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Table,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.types import Boolean

from tidings.insights.budgets import GoalLevel
from tidings.insights.categories import category_sql
from tidings.insights.models import (
    budget_alerts,
    budget_spending,
    goal_milestones,
    suggestions_sent,
)
from tidings.kit.tables import AnyRow, Timestamp
from tidings.ledger.models import accounts, ledger_entries, postings
from tidings.users.models import users
from tidings.wallets.models import transfers, wallets


def _claim(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows that are not there yet, in one statement; the levels newly claimed.
    The primary key decides under concurrent writers: a row another transaction inserted
    first (committed, or waited for) is skipped, never claimed twice."""
    if not rows:
        return set()
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table).values(list(rows)).on_conflict_do_nothing()
    return set(conn.execute(stmt.returning(table.c.level)).scalars())


def period_spent(conn: Connection, wallet_id: str, period_start: date) -> int:
    """What a budget period has spent so far (0 before its first payment)."""
    b = budget_spending.c
    stmt = select(b.spent).where(b.wallet_id == wallet_id, b.period_start == period_start)
    return int(conn.execute(stmt).scalar_one_or_none() or 0)


def _spending_upsert(dialect_insert: Any) -> Any:
    stmt = dialect_insert(budget_spending)
    return stmt.on_conflict_do_update(
        index_elements=["wallet_id", "period_start"],
        set_={"spent": budget_spending.c.spent + stmt.excluded.spent},
    ).returning(budget_spending.c.spent)


_ADD_SPENDING = {
    "postgresql": _spending_upsert(pg_insert),
    "sqlite": _spending_upsert(sqlite_insert),
}
"""Built once: this upsert runs on the posting path of every budgeted payment."""


def add_spending(conn: Connection, *, wallet_id: str, period_start: date, change: int) -> int:
    """Count a payment (or, negative, a refund) in its budget period; the period's total.
    The row's lock orders concurrent writers: each sees the total with its own change."""
    stmt = _ADD_SPENDING[conn.dialect.name]
    values = {"wallet_id": wallet_id, "period_start": period_start, "spent": change}
    return int(conn.execute(stmt, values).scalar_one())


def claim_budget_levels(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    return _claim(conn, budget_alerts, rows)


def claim_goal_levels(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    return _claim(conn, goal_milestones, rows)


def set_goal_reward(conn: Connection, *, wallet_id: str, target: int, reward: int) -> None:
    """Keep the reward paid for a goal on its `reached` row (the yearly cap counts these)."""
    g = goal_milestones.c
    conn.execute(
        goal_milestones.update()
        .where(g.wallet_id == wallet_id, g.target == target, g.level == GoalLevel.REACHED.value)
        .values(reward=reward)
    )


def rewards_paid_since(conn: Connection, user_id: str, since: datetime) -> int:
    """How many goal rewards the user was paid since a moment (their year's start)."""
    g = goal_milestones.c
    stmt = select(func.count()).where(g.user_id == user_id, g.created_at >= since, g.reward > 0)
    return int(conn.execute(stmt).scalar_one())


# -- spending views --------------------------------------------------------------------


def user_profile(conn: Connection, user_id: str) -> AnyRow | None:
    """What a view needs of its user: language, calendar and currency."""
    u = users.c
    stmt = select(u.locale, u.timezone, u.currency).where(u.id == user_id)
    return conn.execute(stmt).first()


def spending_groups(
    conn: Connection,
    *,
    user_id: str,
    key: ColumnElement[Any],
    regroup: Callable[[ColumnElement[Any]], ColumnElement[Any]] | None = None,
    start: datetime,
    end: datetime,
    wallet_id: str | None = None,
) -> list[AnyRow]:
    """One query: the user's succeeded payments in [start, end), each net of its refunds
    whenever they came (fully refunded ones left out), grouped by `key` (an expression over
    `transfers`), then those groups by `regroup(key)` (merchant codes into categories: the
    mapping runs once per code, not once per payment): (key, name, amount, payments), `name`
    being the wallet's when the key is a wallet id."""
    t = transfers.c
    net = t.amount - t.refunded_amount
    inner_key = key.label("key")
    inner = (
        select(inner_key, func.sum(net).label("amount"), func.count().label("payments"))
        .where(
            t.user_id == user_id,
            t.kind == "payment",
            t.status == "succeeded",
            t.created_at >= start,
            t.created_at < end,
            net > 0,
        )
        .group_by(inner_key)
    )
    if wallet_id is not None:
        inner = inner.where(t.source_wallet_id == wallet_id)
    grouped = inner.subquery()
    outer_key = (regroup(grouped.c.key) if regroup else grouped.c.key).label("key")
    stmt = (
        select(
            outer_key,
            func.min(wallets.c.name).label("name"),
            func.sum(grouped.c.amount).label("amount"),
            func.sum(grouped.c.payments).label("payments"),
        )
        .select_from(grouped.outerjoin(wallets, wallets.c.id == grouped.c.key))
        .group_by(outer_key)
    )
    return list(conn.execute(stmt))


def month_key(
    column: ColumnElement[datetime], starts: Sequence[tuple[str, datetime]]
) -> ColumnElement[str]:
    """The calendar month (`2026-11`) holding each moment, from the months' first moments in
    UTC, in order: CASEs nested as a binary search (a handful of comparisons per payment
    however long the view; no time zone arithmetic in SQL, the same on both databases)."""
    if len(starts) == 1:
        return literal(starts[0][0], String())
    middle = len(starts) // 2
    return case(
        (column >= starts[middle][1], month_key(column, starts[middle:])),
        else_=month_key(column, starts[:middle]),
    )


# -- suggestions -----------------------------------------------------------------------

PERSONALISATION = "personalisation"
"""The consent ledger's purpose for `personalised_marketing` (channel `all`; no row: on)."""

consent_events = table(
    "consent_events",
    column("id", String()),
    column("user_id", String()),
    column("channel", String()),
    column("purpose", String()),
    column("granted", Boolean()),
    column("at", Timestamp),
)
"""The consent ledger (notify's table), as far as this domain reads it: a domain never calls
the notification engine, it reads the ledger's rows in SQL."""


def _in_force(purpose: str, *, granted: bool) -> ColumnElement[bool]:
    """For `users`: their latest consent row of `purpose` (any channel) says `granted`."""
    c, later = consent_events.alias("c"), consent_events.alias("later")
    return exists().where(
        c.c.user_id == users.c.id,
        c.c.purpose == purpose,
        c.c.granted.is_(granted),
        ~exists().where(
            later.c.user_id == c.c.user_id,
            later.c.channel == c.c.channel,
            later.c.purpose == c.c.purpose,
            or_(later.c.at > c.c.at, and_(later.c.at == c.c.at, later.c.id > c.c.id)),
        ),
    )


def personalisation_on(conn: Connection, user_id: str) -> bool:
    stmt = select(~_in_force(PERSONALISATION, granted=False)).where(users.c.id == user_id)
    return bool(conn.execute(stmt).scalar_one())


def marketable_users() -> Select[tuple[str]]:
    """Users who may get marketing chosen by their behaviour: marketing consent on some
    channel, and personalised marketing not turned off."""
    return select(users.c.id).where(
        _in_force("marketing", granted=True), ~_in_force(PERSONALISATION, granted=False)
    )


def _users_filter(column: ColumnElement[str], user_ids: Select[tuple[str]] | str) -> Any:
    return column == user_ids if isinstance(user_ids, str) else column.in_(user_ids)


def frequent_categories(
    conn: Connection,
    *,
    user_ids: Select[tuple[str]] | str,
    categories: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[AnyRow]:
    """(user_id, category, payments, amount) of these categories' succeeded payments in
    [start, end), each net of its refunds: one GROUP BY."""
    t = transfers.c
    net = t.amount - t.refunded_amount
    category = category_sql(t.merchant_category).label("category")
    stmt = (
        select(
            t.user_id,
            category,
            func.count().label("payments"),
            func.sum(net).label("amount"),
        )
        .where(
            _users_filter(t.user_id, user_ids),
            t.kind == "payment",
            t.status == "succeeded",
            t.created_at >= start,
            t.created_at < end,
            net > 0,
        )
        .group_by(t.user_id, category)
        .having(category.in_(list(categories)))
    )
    return list(conn.execute(stmt))


NOT_INCOME_OR_SPENDING = ("allocation", "reward")
"""Entry kinds that neither bring money in nor take it out (moves between own wallets, a
reward)."""


def surpluses(
    conn: Connection,
    *,
    user_ids: Select[tuple[str]] | str,
    stretch_starts: Sequence[datetime],
    end: datetime,
    min_surplus: int,
) -> list[AnyRow]:
    """(user_id, stretches, surplus, payments) of users with more money in than out in every
    one of the consecutive stretches starting at `stretch_starts` and ending at `end` (on all
    their wallets), and at least `min_surplus` over all: the stretches, the net, the payments
    made."""
    p, e = postings.c, ledger_entries.c
    stretch = case(
        *[
            (p.created_at >= moment, index)
            for index, moment in reversed(list(enumerate(stretch_starts)))
        ],
        else_=-1,
    ).label("stretch")
    per_stretch = (
        select(
            accounts.c.user_id,
            stretch,
            func.sum(p.amount).label("net"),
            func.sum(case((e.kind == "payment", 1), else_=0)).label("payments"),
        )
        .join(accounts, accounts.c.id == p.account_id)
        .join(ledger_entries, ledger_entries.c.id == p.entry_id)
        .where(
            _users_filter(accounts.c.user_id, user_ids),
            accounts.c.kind == "wallet",
            p.created_at >= stretch_starts[0],
            p.created_at < end,
            e.kind.not_in(NOT_INCOME_OR_SPENDING),
        )
        .group_by(accounts.c.user_id, stretch)
        .subquery()
    )
    s = per_stretch.c
    positive = func.sum(case((s.net > 0, 1), else_=0))
    stmt = (
        select(
            s.user_id,
            positive.label("stretches"),
            func.sum(s.net).label("surplus"),
            func.sum(s.payments).label("payments"),
        )
        .group_by(s.user_id)
        .having(positive >= len(stretch_starts), func.sum(s.net) >= min_surplus)
    )
    return list(conn.execute(stmt))


def open_purposes(conn: Connection, *, user_ids: Select[tuple[str]] | str) -> list[AnyRow]:
    """(user_id, purpose) of open sub-wallets."""
    w = wallets.c
    stmt = select(w.user_id, w.purpose).where(
        _users_filter(w.user_id, user_ids), w.kind == "sub", w.status == "open"
    )
    return list(conn.execute(stmt.distinct()))


def profiles(conn: Connection, user_ids: Sequence[str]) -> dict[str, AnyRow]:
    """user → (locale, currency), for the users named."""
    u = users.c
    found: dict[str, AnyRow] = {}
    for chunk in range(0, len(user_ids), 1000):
        stmt = select(u.id, u.locale, u.currency).where(u.id.in_(user_ids[chunk : chunk + 1000]))
        found.update({row.id: row for row in conn.execute(stmt)})
    return found


def recently_suggested(conn: Connection, *, since: datetime) -> set[tuple[str, str]]:
    """(user_id, purpose) suggested after `since`."""
    s = suggestions_sent.c
    stmt = select(s.user_id, s.purpose).where(s.sent_at > since)
    return {(row.user_id, row.purpose) for row in conn.execute(stmt)}


def mark_suggested(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Remember when each (user, purpose) was suggested (the latest time wins)."""
    if not rows:
        return
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(suggestions_sent)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "purpose"], set_={"sent_at": stmt.excluded.sent_at}
        ),
        list(rows),
    )
