"""Every query of the credit domain (SQLAlchemy Core, the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.credit.models import (
    credit_applications,
    credit_drawdowns,
    credit_installments,
    credit_limit_changes,
    credit_lines,
    credit_notices,
    credit_penalties,
    credit_products,
    credit_repayments,
)
from tidings.credit.schemas import (
    ApplicationStatus,
    DrawdownStatus,
    InstallmentStatus,
    LineStatus,
)
from tidings.events import outbox
from tidings.kit.tables import AnyRow, Timestamp, rows_where
from tidings.kit.wakeups import Channel, ring_after_commit
from tidings.ledger.models import accounts
from tidings.users.models import users
from tidings.wallets.models import transfers, wallets

# -- products ------------------------------------------------------------------------------


def list_products(conn: Connection) -> list[AnyRow]:
    return list(conn.execute(select(credit_products).order_by(credit_products.c.code)))


def get_product(conn: Connection, product_id: str) -> AnyRow | None:
    return conn.execute(select(credit_products).where(credit_products.c.id == product_id)).first()


def get_product_by_code(conn: Connection, code: str) -> AnyRow | None:
    return conn.execute(select(credit_products).where(credit_products.c.code == code)).first()


def get_default_product(conn: Connection) -> AnyRow | None:
    stmt = (
        select(credit_products).where(credit_products.c.is_default).order_by(credit_products.c.id)
    )
    return conn.execute(stmt).first()


def insert_product(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_products), values)


def update_product(conn: Connection, product_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(credit_products).where(credit_products.c.id == product_id).values(values))


def clear_default_products(conn: Connection) -> None:
    conn.execute(update(credit_products).values(is_default=False))


# -- applications --------------------------------------------------------------------------


def insert_application(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_applications), values)


def get_application(conn: Connection, application_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = select(credit_applications).where(credit_applications.c.id == application_id)
    return conn.execute(stmt.with_for_update() if lock else stmt).first()


def lock_user(conn: Connection, user_id: str) -> None:
    """Serialise a user's credit applications (one decision, one line at a time)."""
    conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())


def open_application_of(conn: Connection, user_id: str) -> AnyRow | None:
    stmt = select(credit_applications.c.id).where(
        credit_applications.c.user_id == user_id,
        credit_applications.c.status.in_(
            (ApplicationStatus.RECEIVED, ApplicationStatus.UNDER_REVIEW)
        ),
    )
    return conn.execute(stmt).first()


def update_application(conn: Connection, application_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(credit_applications).where(credit_applications.c.id == application_id).values(values)
    )


def wallet_history(conn: Connection, user_id: str, *, since: datetime) -> AnyRow:
    """Figures for a credit decision: the user's age, money in, payments and main balance."""
    main = (
        select(accounts.c.balance, users.c.created_at)
        .select_from(users)
        .join(wallets, and_(wallets.c.user_id == users.c.id, wallets.c.kind == "main"))
        .join(accounts, accounts.c.id == wallets.c.account_id)
        .where(users.c.id == user_id)
    ).subquery()
    incoming = transfers.c.kind.in_(("top_up", "refund")) | (
        (transfers.c.kind == "p2p") & (transfers.c.user_id != user_id)
    )
    moves = (
        select(
            func.coalesce(func.sum(case((incoming, transfers.c.amount), else_=0)), 0).label(
                "money_in"
            ),
            func.count(case((transfers.c.kind == "payment", 1))).label("payments"),
        )
        .select_from(transfers)
        .outerjoin(wallets, wallets.c.id == transfers.c.destination_wallet_id)
        .where(
            or_(transfers.c.user_id == user_id, wallets.c.user_id == user_id),
            transfers.c.created_at >= since,
            transfers.c.status == "succeeded",
        )
    ).subquery()
    stmt = select(main.c.balance, main.c.created_at, moves.c.money_in, moves.c.payments)
    row = conn.execute(stmt.select_from(main).join(moves, literal(True))).first()
    assert row is not None
    return row


# -- lines ---------------------------------------------------------------------------------


def insert_line(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_lines), values)


def get_line(conn: Connection, line_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = (
        select(credit_lines, credit_products.c.code.label("product_code"))
        .join(credit_products, credit_products.c.id == credit_lines.c.product_id)
        .where(credit_lines.c.id == line_id)
    )
    return conn.execute(stmt.with_for_update(of=credit_lines) if lock else stmt).first()


def line_of_user(conn: Connection, user_id: str) -> str | None:
    stmt = select(credit_lines.c.id).where(credit_lines.c.user_id == user_id)
    return conn.execute(stmt).scalar_one_or_none()


def update_line(conn: Connection, line_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(credit_lines).where(credit_lines.c.id == line_id).values(values))


def add_outstanding(conn: Connection, line_id: str, delta: int) -> None:
    conn.execute(
        update(credit_lines)
        .where(credit_lines.c.id == line_id)
        .values(outstanding=credit_lines.c.outstanding + delta)
    )


def insert_limit_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_limit_changes), values)


def lines_due_for_review(conn: Connection, *, reviewed_before: datetime) -> list[AnyRow]:
    stmt = (
        select(credit_lines, credit_products.c.max_limit)
        .join(credit_products, credit_products.c.id == credit_lines.c.product_id)
        .where(
            credit_lines.c.status == LineStatus.ACTIVE,
            or_(
                credit_lines.c.reviewed_at.is_(None),
                credit_lines.c.reviewed_at < reviewed_before,
            ),
            credit_lines.c.created_at < reviewed_before,
        )
        .order_by(credit_lines.c.id)
    )
    return list(conn.execute(stmt))


def repayment_record(conn: Connection, line_id: str, *, today: date) -> AnyRow:
    """How a line has repaid: installments paid, and installments ever overdue or overdue now."""
    stmt = (
        select(
            func.count(case((credit_installments.c.status == InstallmentStatus.PAID, 1))).label(
                "paid"
            ),
            func.count(case((credit_installments.c.overdue_as_of.is_not(None), 1))).label(
                "ever_overdue"
            ),
            func.count(
                case(
                    (
                        and_(
                            credit_installments.c.status != InstallmentStatus.PAID,
                            credit_installments.c.due_date < today,
                        ),
                        1,
                    )
                )
            ).label("overdue_now"),
        )
        .select_from(credit_installments)
        .join(credit_drawdowns, credit_drawdowns.c.id == credit_installments.c.drawdown_id)
        .where(credit_drawdowns.c.line_id == line_id)
    )
    row = conn.execute(stmt).first()
    assert row is not None
    return row


# -- drawdowns and installments ------------------------------------------------------------


def insert_drawdown(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_drawdowns), values)


def get_drawdown(conn: Connection, drawdown_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = select(credit_drawdowns).where(credit_drawdowns.c.id == drawdown_id)
    return conn.execute(stmt.with_for_update() if lock else stmt).first()


def update_drawdown(conn: Connection, drawdown_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(credit_drawdowns).where(credit_drawdowns.c.id == drawdown_id).values(values)
    )


def insert_installments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(insert(credit_installments), list(rows))


def installments_of(conn: Connection, drawdown_id: str) -> list[AnyRow]:
    return rows_where(
        conn, credit_installments.c.drawdown_id, drawdown_id, order_by=credit_installments.c.n
    )


_UPDATE_INSTALLMENT = (
    update(credit_installments)
    .where(credit_installments.c.id == bindparam("b_id"))
    .values(
        principal=bindparam("principal"),
        interest=bindparam("interest"),
        principal_paid=bindparam("principal_paid"),
        interest_paid=bindparam("interest_paid"),
        penalty_paid=bindparam("penalty_paid"),
        status=bindparam("status"),
        paid_at=bindparam("paid_at"),
    )
)


def update_installments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_UPDATE_INSTALLMENT, list(rows))


def insert_repayment(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(credit_repayments), values)


def statement_page(
    conn: Connection, line_id: str, *, before: tuple[datetime, str] | None, limit: int
) -> list[AnyRow]:
    """Drawdowns, repayments, penalty entries and limit changes of a line, newest first."""
    no_day = literal(None, type_=credit_penalties.c.day.type)
    no_amount = literal(None, type_=credit_limit_changes.c.old_limit.type)
    drawdowns = select(
        credit_drawdowns.c.id.label("id"),
        literal("drawdown").label("kind"),
        credit_drawdowns.c.id.label("drawdown_id"),
        credit_drawdowns.c.amount.label("amount"),
        credit_drawdowns.c.currency.label("currency"),
        no_day.label("day"),
        no_amount.label("previous_limit"),
        credit_drawdowns.c.created_at.label("at"),
    ).where(credit_drawdowns.c.line_id == line_id)
    repayments = select(
        credit_repayments.c.id,
        literal("repayment"),
        credit_repayments.c.drawdown_id,
        credit_repayments.c.amount,
        credit_repayments.c.currency,
        no_day,
        no_amount,
        credit_repayments.c.created_at,
    ).where(credit_repayments.c.line_id == line_id)
    penalties = (
        select(
            (
                literal("pen:")
                + credit_penalties.c.installment_id
                + literal(":")
                + cast(credit_penalties.c.day, String)
            ),
            literal("penalty"),
            credit_penalties.c.drawdown_id,
            credit_penalties.c.amount,
            credit_drawdowns.c.currency,
            credit_penalties.c.day,
            no_amount,
            credit_penalties.c.created_at,
        )
        .join(credit_drawdowns, credit_drawdowns.c.id == credit_penalties.c.drawdown_id)
        .where(credit_penalties.c.line_id == line_id)
    )
    limit_changes = (
        select(
            credit_limit_changes.c.id,
            literal("limit_change"),
            literal(None, type_=credit_drawdowns.c.id.type),
            credit_limit_changes.c.new_limit,
            credit_lines.c.currency,
            no_day,
            credit_limit_changes.c.old_limit,
            credit_limit_changes.c.created_at,
        )
        .join(credit_lines, credit_lines.c.id == credit_limit_changes.c.line_id)
        .where(credit_limit_changes.c.line_id == line_id)
    )
    history = union_all(drawdowns, repayments, penalties, limit_changes).subquery()
    stmt = select(history)
    if before is not None:
        at, item_id = before
        stmt = stmt.where(or_(history.c.at < at, and_(history.c.at == at, history.c.id < item_id)))
    stmt = stmt.order_by(history.c.at.desc(), history.c.id.desc()).limit(limit)
    return list(conn.execute(stmt))


# -- the nightly run (set-based: one statement per step and time zone) ---------------------


def _dialect_insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def open_timezones(conn: Connection) -> list[str]:
    """Time zones of borrowers with an active drawdown (each has its own calendar day)."""
    stmt = (
        select(credit_drawdowns.c.timezone)
        .where(credit_drawdowns.c.status == DrawdownStatus.ACTIVE)
        .distinct()
    )
    return sorted(conn.execute(stmt).scalars())


_i = credit_installments
_d = credit_drawdowns


def claim_reminders(
    conn: Connection, *, timezone: str, today: date, at: datetime
) -> list[tuple[str, str]]:
    """Mark the reminder step now due (T-3, T-1, due day) of every unpaid installment due in
    the next three days; only markers not there before come back. After downtime the step
    for today is the one sent (a missed T-3 is not sent on T-1)."""
    step = case(
        (_i.c.due_date == today, literal("due_0")),
        (_i.c.due_date == today + timedelta(days=1), literal("due_1")),
        else_=literal("due_3"),
    )
    candidates = select(_i.c.id, step, literal(at, Timestamp)).where(
        _i.c.timezone == timezone,
        _i.c.status == InstallmentStatus.PENDING,
        _i.c.due_date >= today,
        _i.c.due_date <= today + timedelta(days=3),
    )
    return _claim_notices(conn, candidates)


def mark_overdue(conn: Connection, *, timezone: str, today: date) -> int:
    """Installments unpaid after their due day become overdue, as of `today`."""
    stmt = (
        update(_i)
        .where(
            _i.c.timezone == timezone,
            _i.c.status.in_((InstallmentStatus.PENDING, InstallmentStatus.OVERDUE)),
            _i.c.due_date < today,
            or_(_i.c.overdue_as_of.is_(None), _i.c.overdue_as_of < today),
        )
        .values(status=InstallmentStatus.OVERDUE, overdue_as_of=today)
    )
    return conn.execute(stmt).rowcount


def first_penalty_day(conn: Connection, *, timezone: str, today: date) -> date | None:
    stmt = select(func.min(_i.c.penalty_from)).where(
        _i.c.timezone == timezone,
        _i.c.status == InstallmentStatus.OVERDUE,
        _i.c.penalty_from <= today,
    )
    return conn.execute(stmt).scalar_one_or_none()


def accrue_penalties(
    conn: Connection, *, timezone: str, days: Sequence[date], today: date, at: datetime
) -> int:
    """One penalty entry per overdue installment and day from its first penalty day to
    `today` (catching up every missed day); days already recorded are left alone. The
    penalty is the day's rate on what the installment still owes (principal and interest),
    rounded half up to the fen."""
    calendar = values(column("day", Date), name="calendar").data([(d,) for d in days]).cte()
    base = _i.c.principal - _i.c.principal_paid + _i.c.interest - _i.c.interest_paid
    amount = (base * _d.c.penalty_bp_per_day * 2 + 10_000) // 20_000
    candidates = (
        select(
            _i.c.id,
            calendar.c.day,
            _i.c.drawdown_id,
            _d.c.line_id,
            amount,
            literal(at, Timestamp),
        )
        .select_from(
            _i.join(_d, _d.c.id == _i.c.drawdown_id).join(
                calendar, and_(calendar.c.day >= _i.c.penalty_from, calendar.c.day <= today)
            )
        )
        .where(
            _i.c.timezone == timezone,
            _i.c.status == InstallmentStatus.OVERDUE,
            base > 0,
            _d.c.penalty_bp_per_day > 0,
        )
    )
    stmt = (
        _dialect_insert(conn, credit_penalties)
        .from_select(
            ["installment_id", "day", "drawdown_id", "line_id", "amount", "created_at"],
            candidates,
        )
        .on_conflict_do_nothing()
        .returning(credit_penalties.c.day)
    )
    # Counted from RETURNING: SQLite reports no rowcount for an INSERT with a CTE.
    return len(conn.execute(stmt).all())


def refresh_penalty_totals(conn: Connection, *, timezone: str) -> None:
    """Each overdue installment's penalty is the sum of its entries (what reads show)."""
    total = (
        select(func.coalesce(func.sum(credit_penalties.c.amount), 0))
        .where(credit_penalties.c.installment_id == _i.c.id)
        .scalar_subquery()
    )
    conn.execute(
        update(_i)
        .where(_i.c.timezone == timezone, _i.c.status == InstallmentStatus.OVERDUE)
        .values(penalty=total)
    )


def claim_overdue_notices(
    conn: Connection, *, timezone: str, today: date, at: datetime
) -> list[tuple[str, str]]:
    """Mark the overdue step reached (day 1, 3, 7, 30) of every overdue installment; only
    new markers come back, so a re-run or a late run sends each step at most once."""

    def day(n: int) -> date:
        return today - timedelta(days=n)

    step = case(
        (_i.c.due_date <= day(30), literal("overdue_30")),
        (_i.c.due_date <= day(7), literal("overdue_7")),
        (_i.c.due_date <= day(3), literal("overdue_3")),
        else_=literal("overdue_1"),
    )
    candidates = select(_i.c.id, step, literal(at, Timestamp)).where(
        _i.c.timezone == timezone, _i.c.status == InstallmentStatus.OVERDUE, _i.c.due_date < today
    )
    return _claim_notices(conn, candidates)


def notice_figures(conn: Connection, installment_ids: Sequence[str]) -> list[AnyRow]:
    """What a reminder or an overdue notice says, for a batch of installments."""
    stmt = select(
        _i.c.id,
        _i.c.drawdown_id,
        _i.c.user_id,
        _i.c.due_date,
        (_i.c.principal - _i.c.principal_paid + _i.c.interest - _i.c.interest_paid).label("owed"),
        (_i.c.penalty - _i.c.penalty_paid).label("penalty"),
        _d.c.amount,
        _d.c.currency,
    ).join(_d, _d.c.id == _i.c.drawdown_id)
    rows: list[AnyRow] = []
    for start in range(0, len(installment_ids), 5_000):
        chunk = list(installment_ids[start : start + 5_000])
        rows.extend(conn.execute(stmt.where(_i.c.id.in_(chunk))))
    return rows


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Outbox rows for a batch of notices (one executemany, not one round trip each)."""
    if rows:
        conn.execute(insert(outbox), list(rows))
        ring_after_commit(conn, Channel.OUTBOX)


def auto_debit_candidates(conn: Connection, *, timezone: str, today: date) -> list[AnyRow]:
    """Active drawdowns with money due by `today` on lines whose borrower enabled auto-debit."""
    stmt = (
        select(_d.c.id, _d.c.user_id, _d.c.currency)
        .join(_i, _i.c.drawdown_id == _d.c.id)
        .join(credit_lines, credit_lines.c.id == _d.c.line_id)
        .where(
            _i.c.timezone == timezone,
            _i.c.status != InstallmentStatus.PAID,
            _i.c.due_date <= today,
            _d.c.status == DrawdownStatus.ACTIVE,
            credit_lines.c.auto_debit,
        )
        .distinct()
        .order_by(_d.c.id)
    )
    return list(conn.execute(stmt))


def _claim_notices(conn: Connection, candidates: Select[Any]) -> list[tuple[str, str]]:
    """Insert a marker per (installment, step) candidate; the ones this call inserted come
    back — a marker already there means that notice was sent, so it is not sent twice."""
    stmt = (
        _dialect_insert(conn, credit_notices)
        .from_select(["installment_id", "step", "created_at"], candidates)
        .on_conflict_do_nothing()
        .returning(credit_notices.c.installment_id, credit_notices.c.step)
    )
    return [(row[0], row[1]) for row in conn.execute(stmt)]
