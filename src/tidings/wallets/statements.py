"""Monthly statements of main wallets: figures kept, and a `wallet.statement.ready` notice.

The job runs every hour for the current moment; for each time zone its users live in, the
month that has ended there is done once (a run marker per zone and month), so a late or
repeated run — or an operator's catch-up run for a past moment — sends nothing twice.
Wallets that did not move money in the month get no statement: a notice saying nothing
happened is noise. Every statement adds up: opening + in − out − moved to sub-wallets + moved
from sub-wallets = closing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.kit.money import Money, money
from tidings.kit.pagination import Page, decode_cursor, next_cursor
from tidings.wallets import events, repository
from tidings.wallets.schemas import StatementOut
from tidings.wallets.service import get_wallet


def last_complete_month(as_of: datetime, timezone: str) -> tuple[date, date]:
    """The first and last calendar day of the month before the one `as_of` falls in, there."""
    first_of_this_month = as_of.astimezone(ZoneInfo(timezone)).date().replace(day=1)
    period_end = first_of_this_month - timedelta(days=1)
    return period_end.replace(day=1), period_end


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)


def issue_statements(conn: Connection, *, as_of: datetime) -> int:
    """Statements for every month that has ended in each zone and was not done yet."""
    issued = 0
    for timezone in repository.timezones_with_main_wallets(conn):
        period_start, period_end = last_complete_month(as_of, timezone)
        if not repository.claim_statement_run(
            conn, timezone=timezone, period_start=period_start, at=as_of
        ):
            continue
        figures = repository.statement_figures(
            conn,
            timezone=timezone,
            start=local_midnight(period_start, timezone),
            end=local_midnight(period_end + timedelta(days=1), timezone),
        )
        rows = []
        for row in figures:
            closing = int(row.balance) - int(row.after)
            rows.append(
                {
                    "id": new_id("stm"),
                    "wallet_id": row.wallet_id,
                    "user_id": row.user_id,
                    "period_start": period_start,
                    "period_end": period_end,
                    "currency": row.currency,
                    "opening_balance": closing - int(row.net),
                    "total_in": int(row.total_in),
                    "total_out": int(row.total_out),
                    "moved_to_sub_wallets": int(row.moved_to),
                    "moved_from_sub_wallets": int(row.moved_from),
                    "closing_balance": closing,
                    "entries": int(row.entries),
                    "created_at": as_of,
                }
            )
        repository.insert_statements(conn, rows)
        for statement in rows:
            ready = _statement_ready(statement)
            events.record(
                conn,
                events.STATEMENT_READY,
                ready,
                user_id=statement["user_id"],
                at=as_of,
                occurred_at=None,
            )
        repository.finish_statement_run(
            conn, timezone=timezone, period_start=period_start, statements=len(rows)
        )
        issued += len(rows)
    return issued


def _statement_ready(statement: dict[str, Any]) -> events.StatementReady:
    """The owner's notice of a statement just written (its row's values)."""
    currency = statement["currency"]

    def figure(name: str) -> Money:
        return money(statement[name], currency)

    return events.StatementReady(
        wallet_id=statement["wallet_id"],
        statement_id=statement["id"],
        period_start=statement["period_start"],
        period_end=statement["period_end"],
        opening_balance=figure("opening_balance"),
        total_in=figure("total_in"),
        total_out=figure("total_out"),
        moved_to_sub_wallets=figure("moved_to_sub_wallets"),
        moved_from_sub_wallets=figure("moved_from_sub_wallets"),
        closing_balance=figure("closing_balance"),
    )


def list_statements(
    conn: Connection,
    wallet_id: str,
    *,
    acting_user_id: str | None,
    limit: int,
    cursor: str | None,
    at: datetime,
) -> Page[StatementOut]:
    """The wallet's monthly statements, newest first (404 for another user's wallet)."""
    wallet = get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)
    rows = repository.list_statements(
        conn, wallet.id, before_id=decode_cursor(cursor), limit=limit + 1
    )
    items = [
        StatementOut(
            id=row.id,
            wallet_id=row.wallet_id,
            period_start=row.period_start,
            period_end=row.period_end,
            opening_balance=money(int(row.opening_balance), row.currency),
            total_in=money(int(row.total_in), row.currency),
            total_out=money(int(row.total_out), row.currency),
            moved_to_sub_wallets=money(int(row.moved_to_sub_wallets), row.currency),
            moved_from_sub_wallets=money(int(row.moved_from_sub_wallets), row.currency),
            closing_balance=money(int(row.closing_balance), row.currency),
            entries=int(row.entries),
            created_at=as_utc(row.created_at),
        )
        for row in rows[:limit]
    ]
    return Page[StatementOut](items=items, next_cursor=next_cursor(rows, limit))
