"""A credit line's statement: its history merged from drawdowns, repayments, daily penalty
entries and limit changes, newest first, a page at a time."""

from __future__ import annotations

from sqlalchemy import Connection

from tidings.credit import repository
from tidings.credit.schemas import StatementItem
from tidings.credit.service.lines import visible_line
from tidings.kit.clock import as_utc
from tidings.kit.money import money
from tidings.kit.pagination import Page, decode_moment_cursor, encode_moment_cursor


def statement(
    conn: Connection,
    line_id: str,
    *,
    acting_user_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[StatementItem]:
    """A line's history — drawdowns, repayments, daily penalty entries, limit changes —
    newest first."""
    line = visible_line(conn, line_id, acting_user_id)
    rows = repository.statement_page(
        conn, line.id, before=decode_moment_cursor(cursor), limit=limit + 1
    )
    items = [
        StatementItem(
            id=row.id,
            kind=row.kind,
            drawdown_id=row.drawdown_id,
            amount=money(int(row.amount), row.currency),
            day=row.day,
            previous_limit=(
                None if row.previous_limit is None else money(int(row.previous_limit), row.currency)
            ),
            at=as_utc(row.at),
        )
        for row in rows[:limit]
    ]
    next_cursor = (
        encode_moment_cursor(rows[limit - 1].at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return Page[StatementItem](items=items, next_cursor=next_cursor)
