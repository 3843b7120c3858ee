"""Credit lines: what a borrower may draw, its limit (raised or lowered, with a notice) and
the borrower's choice of automatic repayment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.credit import events, repository
from tidings.credit.exceptions import LineNotFound
from tidings.credit.schemas import LineOut
from tidings.credit.service import notices
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.users import directory


def _line_out(row: AnyRow) -> LineOut:
    limit, outstanding = int(row.limit), int(row.outstanding)
    return LineOut(
        id=row.id,
        user_id=row.user_id,
        product=row.product_code,
        currency=row.currency,
        limit=money(limit, row.currency),
        available=money(max(0, limit - outstanding), row.currency),
        outstanding=money(outstanding, row.currency),
        status=row.status,
        auto_debit=bool(row.auto_debit),
        created_at=as_utc(row.created_at),
    )


def visible_line(
    conn: Connection, line_id: str, acting_user_id: str | None, *, lock: bool = False
) -> AnyRow:
    """The line, when the caller may see it (its borrower or an operator); else not found."""
    row = repository.get_line(conn, line_id, lock=lock) if is_id(line_id, "cln") else None
    return visible_or_raise(
        row, acting_user_id, LineNotFound(f"credit line {line_id} not found", field="line_id")
    )


def get_line(conn: Connection, line_id: str, *, acting_user_id: str | None) -> LineOut:
    return _line_out(visible_line(conn, line_id, acting_user_id))


def line_of_user(conn: Connection, user_id: str) -> LineOut:
    directory.require_user(conn, user_id)
    line_id = repository.line_of_user(conn, user_id)
    if line_id is None:
        raise LineNotFound(f"user {user_id} has no credit line")
    return get_line(conn, line_id, acting_user_id=None)


def set_limit(
    conn: Connection,
    line_id: str,
    *,
    limit: int,
    reason: str,
    by: str,
    at: datetime,
    reason_code: events.LimitChangeReason = events.LimitChangeReason.ACCOUNT_REVIEW,
    currency: str | None = None,
) -> LineOut:
    """Raise or lower a line's limit; the borrower is told the old and the new limit and,
    in one plain phrase, why (`reason_code`; `reason` is the internal record). A limit below
    what is outstanding leaves nothing available; nothing is called in."""
    row = visible_line(conn, line_id, None, lock=True)
    if currency is not None and currency != row.currency:
        raise CurrencyMismatch(f"the line lends {row.currency}", field="limit.currency")
    old = int(row.limit)
    if limit != old:
        repository.update_line(conn, line_id, {"limit": limit})
        repository.insert_limit_change(
            conn,
            {
                "id": new_id("clc"),
                "line_id": line_id,
                "old_limit": old,
                "new_limit": limit,
                "changed_by": by,
                "reason": reason,
                "created_at": at,
            },
        )
        changed = events.LimitChanged.model_construct(
            line_id=line_id,
            old_limit=money(old, row.currency),
            new_limit=money(limit, row.currency),
            reason_code=reason_code,
        )
        event_type = events.LIMIT_RAISED if limit > old else events.LIMIT_LOWERED
        notices.record(conn, event_type, changed, user_id=row.user_id, at=at)
    return get_line(conn, line_id, acting_user_id=None)


def set_auto_debit(
    conn: Connection, line_id: str, *, enabled: bool, acting_user_id: str | None
) -> LineOut:
    """Turn automatic repayment on the due day on or off (the borrower's own choice)."""
    visible_line(conn, line_id, acting_user_id, lock=True)
    repository.update_line(conn, line_id, {"auto_debit": enabled})
    return get_line(conn, line_id, acting_user_id=acting_user_id)
