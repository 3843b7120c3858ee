"""Every query of the credit domain (SQLAlchemy Core, the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from tidings.credit.models import (
    credit_applications,
    credit_drawdowns,
    credit_installments,
    credit_limit_changes,
    credit_lines,
    credit_penalties,
    credit_products,
    credit_repayments,
)
from tidings.kit.tables import AnyRow
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


def open_application_of(conn: Connection, user_id: str) -> AnyRow | None:
    stmt = select(credit_applications.c.id).where(
        credit_applications.c.user_id == user_id,
        credit_applications.c.status.in_(("received", "under_review")),
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
            credit_lines.c.status == "active",
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
            func.count(case((credit_installments.c.status == "paid", 1))).label("paid"),
            func.count(case((credit_installments.c.overdue_as_of.is_not(None), 1))).label(
                "ever_overdue"
            ),
            func.count(
                case(
                    (
                        and_(
                            credit_installments.c.status != "paid",
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
    stmt = (
        select(credit_installments)
        .where(credit_installments.c.drawdown_id == drawdown_id)
        .order_by(credit_installments.c.n)
    )
    return list(conn.execute(stmt))


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
    """Drawdowns, repayments and penalty entries of a line, newest first."""
    drawdowns = select(
        credit_drawdowns.c.id.label("id"),
        literal("drawdown").label("kind"),
        credit_drawdowns.c.id.label("drawdown_id"),
        credit_drawdowns.c.amount.label("amount"),
        credit_drawdowns.c.currency.label("currency"),
        literal(None, type_=credit_penalties.c.day.type).label("day"),
        credit_drawdowns.c.created_at.label("at"),
    ).where(credit_drawdowns.c.line_id == line_id)
    repayments = select(
        credit_repayments.c.id,
        literal("repayment"),
        credit_repayments.c.drawdown_id,
        credit_repayments.c.amount,
        credit_repayments.c.currency,
        literal(None, type_=credit_penalties.c.day.type),
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
            credit_penalties.c.created_at,
        )
        .join(credit_drawdowns, credit_drawdowns.c.id == credit_penalties.c.drawdown_id)
        .where(credit_penalties.c.line_id == line_id)
    )
    history = union_all(drawdowns, repayments, penalties).subquery()
    stmt = select(history)
    if before is not None:
        at, item_id = before
        stmt = stmt.where(or_(history.c.at < at, and_(history.c.at == at, history.c.id < item_id)))
    stmt = stmt.order_by(history.c.at.desc(), history.c.id.desc()).limit(limit)
    return list(conn.execute(stmt))
