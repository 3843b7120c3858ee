"""The credit line's periodic work, run by the scheduler (hourly) or by an operator for a
chosen moment (`POST /v1/jobs/{name}/runs`, `tidings jobs run NAME --as-of`).

Each job works per time zone on the borrowers' own calendar day, and is idempotent:
markers with unique keys (installment + reminder step, installment + penalty day) make a
re-run add nothing, and a run for a later day after downtime catches up — every missed
penalty day is written, and only the notice step due *now* is sent, never twice.

* `credit.auto_debit` — on the due day (and after, while money is due), repay from the main
  wallet of borrowers who enabled it: what is due, or what the wallet holds if less. One
  transaction per drawdown, so one borrower's refusal never holds up another.
* `credit.overdue` — mark unpaid installments overdue, write one penalty entry per day
  overdue after the product's grace days, and send overdue notices on days 1, 3, 7 and 30
  (the planner keeps collection notices to 08:00-21:00 local and one a day).
* `credit.reminders` — T-3, T-1 and due-day reminders, from 09:00 local time.
* `credit.limit_review` — the periodic limit review (each line at most every 30 days).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Connection, Engine

from tidings.credit import events, repository
from tidings.credit.decision import reviewed_limit
from tidings.credit.service import lines, notices, repayments
from tidings.events import SOURCE, EventData
from tidings.kit.db import is_sqlite, read_transaction, retried_write
from tidings.kit.errors import AppError
from tidings.kit.ids import new_id
from tidings.kit.money import money
from tidings.kit.tables import AnyRow
from tidings.users import service as users

log = structlog.get_logger(__name__)

REMINDER_LOCAL_HOUR = 9
"""Repayment reminders go out from this local hour (nobody wants one at midnight)."""
MAX_CATCH_UP_DAYS = 3_660
REVIEW_EVERY = timedelta(days=30)
DAYS_BEFORE = {"due_3": 3, "due_1": 1, "due_0": 0}
AUTO_DEBIT_THREADS = 4
"""Auto-debits in flight at once on PostgreSQL (SQLite has one writer)."""


def _outbox_row(*, type: str, user_id: str, data: EventData, at: datetime) -> dict[str, Any]:
    """The row `tidings.events.record_event` writes, for a batch insert."""
    return {
        "id": new_id("evt"),
        "source": SOURCE,
        "type": type,
        "subject": user_id,
        "user_id": user_id,
        "time": at,
        "data": notices.payload(data),
    }


def _record_notices(
    conn: Connection,
    claimed: Iterable[tuple[str, str]],
    *,
    type: str,
    at: datetime,
    data: Callable[[AnyRow, str], EventData],
) -> int:
    """One event per claimed (installment, step), made by `data` from the installment's
    figures and written in one batch; how many."""
    steps = dict(claimed)
    rows = [
        _outbox_row(
            type=type, user_id=figures.user_id, at=at, data=data(figures, steps[figures.id])
        )
        for figures in repository.notice_figures(conn, list(steps))
    ]
    repository.insert_events(conn, rows)
    return len(rows)


def _repayment_due(figures: AnyRow, step: str) -> EventData:
    """A reminder `step` (`due_3`, `due_1`, `due_0`) days before an installment is due."""
    return events.RepaymentDue.model_construct(
        drawdown_id=figures.drawdown_id,
        principal=money(int(figures.amount), figures.currency),
        amount_due=money(int(figures.owed + figures.penalty), figures.currency),
        due_date=figures.due_date,
        days_before=DAYS_BEFORE[step],
    )


def _overdue(figures: AnyRow, step: str, *, today: date) -> EventData:
    """An overdue notice at `step`, counting days on the borrower's own calendar (`today`)."""
    return events.Overdue.model_construct(
        drawdown_id=figures.drawdown_id,
        amount_due=money(int(figures.owed), figures.currency),
        due_date=figures.due_date,
        days_overdue=(today - figures.due_date).days,
        penalty=money(int(figures.penalty), figures.currency),
        step=step,
    )


def send_reminders(conn: Connection, *, as_of: datetime) -> int:
    """Repayment reminders due at `as_of` in every borrower time zone; how many were sent."""
    sent = 0
    for timezone in repository.open_timezones(conn):
        local = as_of.astimezone(ZoneInfo(timezone))
        if local.hour < REMINDER_LOCAL_HOUR:
            continue
        claimed = repository.claim_reminders(conn, timezone=timezone, today=local.date(), at=as_of)
        sent += _record_notices(
            conn, claimed, type=events.REPAYMENT_DUE, at=as_of, data=_repayment_due
        )
    return sent


def record_overdue(conn: Connection, *, as_of: datetime) -> dict[str, int]:
    """Overdue marking, penalty accrual and overdue notices for `as_of`."""
    totals = {"overdue_marked": 0, "penalty_entries": 0, "overdue_notices": 0}
    for timezone in repository.open_timezones(conn):
        today = as_of.astimezone(ZoneInfo(timezone)).date()
        totals["overdue_marked"] += repository.mark_overdue(conn, timezone=timezone, today=today)
        first = repository.first_penalty_day(conn, timezone=timezone, today=today)
        if first is not None:
            first = max(first, today - timedelta(days=MAX_CATCH_UP_DAYS))
            days = [first + timedelta(days=k) for k in range((today - first).days + 1)]
            totals["penalty_entries"] += repository.accrue_penalties(
                conn, timezone=timezone, days=days, today=today, at=as_of
            )
            repository.refresh_penalty_totals(conn, timezone=timezone)
        claimed = repository.claim_overdue_notices(conn, timezone=timezone, today=today, at=as_of)
        totals["overdue_notices"] += _record_notices(
            conn, claimed, type=events.OVERDUE, at=as_of, data=partial(_overdue, today=today)
        )
    return totals


def run_reminders(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    return {"reminders": retried_write(engine, lambda conn: send_reminders(conn, as_of=as_of))}


def run_overdue(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    return retried_write(engine, lambda conn: record_overdue(conn, as_of=as_of))


def run_auto_debit(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    """Repay what is due from the main wallet for borrowers who enabled auto-debit.

    On PostgreSQL several drawdowns are debited at once (each in its own transaction, their
    rows locked): a debit is a dozen round trips, so one at a time leaves the server idle."""
    with read_transaction(engine) as conn:
        candidates = [
            row.id
            for timezone in repository.open_timezones(conn)
            for row in repository.auto_debit_candidates(
                conn, timezone=timezone, today=as_of.astimezone(ZoneInfo(timezone)).date()
            )
        ]

    def debit(drawdown_id: str) -> int | None:
        try:
            return retried_write(
                engine, lambda conn: repayments.auto_debit(conn, drawdown_id, at=as_of)
            )
        except AppError as exc:
            log.info("credit.auto_debit.refused", drawdown_id=drawdown_id, error=exc.detail)
            return None

    threads = 1 if is_sqlite(engine) else AUTO_DEBIT_THREADS
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="auto-debit") as pool:
        outcomes = list(pool.map(debit, candidates))
    paid = [amount for amount in outcomes if amount]
    return {
        "auto_debits": len(paid),
        "auto_debit_minor_units": sum(paid),
        "auto_debit_refused": outcomes.count(None),
    }


def review_limits(conn: Connection, *, as_of: datetime) -> dict[str, int]:
    """Raise or lower limits by the review rule; each line at most every 30 days."""
    raised = lowered = 0
    for line in repository.lines_due_for_review(conn, reviewed_before=as_of - REVIEW_EVERY):
        record = repository.repayment_record(
            conn,
            line.id,
            today=as_of.astimezone(ZoneInfo(users.timezone_of(conn, line.user_id))).date(),
        )
        limit = int(line.limit)
        review = reviewed_limit(
            limit=limit,
            outstanding=int(line.outstanding),
            max_limit=int(line.max_limit),
            paid=int(record.paid),
            ever_overdue=int(record.ever_overdue),
            overdue_now=int(record.overdue_now),
        )
        if review.limit != limit:
            lines.set_limit(
                conn,
                line.id,
                limit=review.limit,
                reason="periodic review",
                reason_code=review.reason,
                by="review",
                at=as_of,
            )
            raised += review.limit > limit
            lowered += review.limit < limit
        repository.update_line(conn, line.id, {"reviewed_at": as_of})
    return {"limits_raised": raised, "limits_lowered": lowered}


def run_limit_review(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    return retried_write(engine, lambda conn: review_limits(conn, as_of=as_of))
