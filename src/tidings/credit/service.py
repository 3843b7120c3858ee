"""Credit-line operations: products, applications, lines and limits, quotes, drawdowns,
repayments and statements.

Every function runs in the caller's transaction and never commits. Money moves through the
ledger: a drawdown is one balanced entry from the credit receivable account into the
borrower's wallet; a repayment one entry from the wallet back to the receivable (principal)
and to interest income (interest and penalty). Interest and penalties are owed on the credit
tables and reach the ledger when paid.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.credit import events, repository
from tidings.credit.allocation import (
    Allocation,
    InstallmentState,
    LoanTerms,
    allocate,
    payoff_amount,
)
from tidings.credit.decision import DecisionRule, WalletHistory, scoring_rule
from tidings.credit.exceptions import (
    AboveAvailableLimit,
    ApplicationNotFound,
    ApplicationPending,
    DecisionNotAllowed,
    DrawdownNotFound,
    DrawdownSettled,
    InvalidDrawdown,
    LineNotActive,
    LineNotFound,
    ProductNotFound,
    RepaymentExceedsOwed,
)
from tidings.credit.schedule import BP, Method, ScheduledInstallment, apr_bp, build_schedule
from tidings.credit.schemas import (
    Allocated,
    ApplicationCreate,
    ApplicationOut,
    DecisionIn,
    DrawdownOut,
    InstallmentOut,
    LineOut,
    ProductIn,
    ProductOut,
    QuoteIn,
    QuoteOut,
    RepaymentCreate,
    RepaymentOut,
    StatementItem,
)
from tidings.events import record_event
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.pagination import InvalidCursor, Page
from tidings.kit.tables import AnyRow
from tidings.ledger import service as ledger
from tidings.ledger.service import Leg, SystemAccount, system_account_id
from tidings.users import service as users
from tidings.users.exceptions import UserNotFound
from tidings.wallets import repository as wallet_repository
from tidings.wallets.exceptions import WalletClosed, WalletNotFound

HISTORY_DAYS = 90


def local_today(at: datetime, timezone: str) -> date:
    """The calendar day `at` falls on in the borrower's time zone."""
    return at.astimezone(ZoneInfo(timezone)).date()


def _m(value: int, currency: str) -> dict[str, Any]:
    return {"value": value, "currency": currency}


# -- products ------------------------------------------------------------------------------


def _product_out(row: AnyRow) -> ProductOut:
    return ProductOut(
        id=row.id,
        code=row.code,
        name=row.name,
        currency=row.currency,
        annual_rate_bp=row.annual_rate_bp,
        fee_bp=row.fee_bp,
        penalty_bp_per_day=row.penalty_bp_per_day,
        grace_days=row.grace_days,
        terms=list(row.terms),
        methods=[Method(m) for m in row.methods],
        min_amount=money(int(row.min_amount), row.currency),
        max_limit=money(int(row.max_limit), row.currency),
        is_default=bool(row.is_default),
    )


def list_products(conn: Connection) -> list[ProductOut]:
    return [_product_out(row) for row in repository.list_products(conn)]


def save_product(conn: Connection, data: ProductIn, *, at: datetime) -> ProductOut:
    """Create a product, or replace the terms of the one with this code; drawdowns already
    made keep the terms they were made on."""
    for field, amount in (("min_amount", data.min_amount), ("max_limit", data.max_limit)):
        if amount.currency != data.currency:
            raise CurrencyMismatch(f"must be {data.currency}", field=f"{field}.currency")
    if data.min_amount.value > data.max_limit.value:
        raise InvalidDrawdown("min_amount is above max_limit", field="min_amount")
    values = {
        "code": data.code,
        "name": data.name,
        "currency": data.currency,
        "annual_rate_bp": data.annual_rate_bp,
        "fee_bp": data.fee_bp,
        "penalty_bp_per_day": data.penalty_bp_per_day,
        "grace_days": data.grace_days,
        "terms": sorted(set(data.terms)),
        "methods": [m.value for m in dict.fromkeys(data.methods)],
        "min_amount": data.min_amount.value,
        "max_limit": data.max_limit.value,
        "is_default": data.is_default,
        "updated_at": at,
    }
    if data.is_default:
        repository.clear_default_products(conn)
    existing = repository.get_product_by_code(conn, data.code)
    if existing is None:
        repository.insert_product(conn, {**values, "id": new_id("prd"), "created_at": at})
    else:
        if existing.is_default and not data.is_default:
            values["is_default"] = True  # there is always a default; name another instead
        repository.update_product(conn, existing.id, values)
    row = repository.get_product_by_code(conn, data.code)
    assert row is not None
    return _product_out(row)


def _product(conn: Connection, code: str | None) -> AnyRow:
    row = (
        repository.get_product_by_code(conn, code)
        if code is not None
        else repository.get_default_product(conn)
    )
    if row is None:
        raise ProductNotFound(f"no credit product {code!r}", field="product")
    return row


# -- applications --------------------------------------------------------------------------


def _application_out(conn: Connection, row: AnyRow) -> ApplicationOut:
    product = repository.get_product(conn, row.product_id)
    return ApplicationOut(
        id=row.id,
        user_id=row.user_id,
        status=row.status,
        product=product.code if product is not None else "",
        requested_limit=money(int(row.requested_limit), row.currency),
        granted_limit=(
            money(int(row.granted_limit), row.currency) if row.granted_limit is not None else None
        ),
        score=row.score,
        decided_by=row.decided_by,
        reason=row.reason,
        line_id=row.line_id,
        created_at=as_utc(row.created_at),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
    )


def _history(conn: Connection, user_id: str, at: datetime) -> WalletHistory:
    row = repository.wallet_history(conn, user_id, since=at - timedelta(days=HISTORY_DAYS))
    return WalletHistory(
        account_age_days=max(0, (at - as_utc(row.created_at)).days),
        money_in_90d=int(row.money_in),
        payments_90d=int(row.payments),
        balance=int(row.balance),
    )


def create_application(
    conn: Connection,
    data: ApplicationCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
    rule: DecisionRule = scoring_rule,
) -> ApplicationOut:
    """Receive an application, put it under review, and let the decision rule approve,
    reject or refer it to an operator; each state change is a notice."""
    if acting_user_id is not None and acting_user_id != data.user_id:
        raise UserNotFound(f"user {data.user_id} not found", field="user_id")
    users.require_user(conn, data.user_id)
    repository.lock_user(conn, data.user_id)
    product = _product(conn, data.product)
    if data.requested_limit.currency != product.currency:
        raise CurrencyMismatch(
            f"the product lends {product.currency}", field="requested_limit.currency"
        )
    if repository.line_of_user(conn, data.user_id) is not None:
        raise ApplicationPending("the user already has a credit line", field="user_id")
    if repository.open_application_of(conn, data.user_id) is not None:
        raise ApplicationPending("an application is already waiting for a decision")
    application_id = new_id("cap")
    repository.insert_application(
        conn,
        {
            "id": application_id,
            "user_id": data.user_id,
            "product_id": product.id,
            "currency": product.currency,
            "requested_limit": data.requested_limit.value,
            "status": "received",
            "created_at": at,
        },
    )
    ref = {"application_id": application_id}
    record_event(conn, type=events.APPLICATION_RECEIVED, user_id=data.user_id, at=at, data=ref)
    decision = rule(
        _history(conn, data.user_id, at),
        requested=data.requested_limit.value,
        max_limit=int(product.max_limit),
    )
    repository.update_application(
        conn, application_id, {"status": "under_review", "score": decision.score}
    )
    record_event(conn, type=events.APPLICATION_UNDER_REVIEW, user_id=data.user_id, at=at, data=ref)
    if decision.outcome == "approve" and decision.limit:
        _approve(
            conn, application_id, limit=decision.limit, by="rule", reason=decision.reason, at=at
        )
    elif decision.outcome == "reject":
        _reject(conn, application_id, by="rule", reason=decision.reason, notify_reason=None, at=at)
    else:
        repository.update_application(conn, application_id, {"reason": decision.reason})
    return get_application(conn, application_id, acting_user_id=acting_user_id)


def get_application(
    conn: Connection, application_id: str, *, acting_user_id: str | None
) -> ApplicationOut:
    row = repository.get_application(conn, application_id) if is_id(application_id, "cap") else None
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise ApplicationNotFound(f"application {application_id} not found")
    return _application_out(conn, row)


def decide(
    conn: Connection, application_id: str, data: DecisionIn, *, at: datetime
) -> ApplicationOut:
    """The operator's decision: on an application under review, or overturning an automatic
    rejection (the reason is recorded); an approval is final."""
    row = (
        repository.get_application(conn, application_id, lock=True)
        if is_id(application_id, "cap")
        else None
    )
    if row is None:
        raise ApplicationNotFound(f"application {application_id} not found")
    repository.lock_user(conn, row.user_id)
    open_for_decision = row.status == "under_review" or (
        row.status == "rejected" and row.decided_by == "rule"
    )
    if not open_for_decision:
        raise DecisionNotAllowed(
            f"the application is {row.status} by {row.decided_by}; that decision is final"
        )
    if data.decision == "approve":
        if data.limit is not None and data.limit.currency != row.currency:
            raise CurrencyMismatch(f"must be {row.currency}", field="limit.currency")
        if repository.line_of_user(conn, row.user_id) is not None:
            raise ApplicationPending("the user already has a credit line")
        limit = data.limit.value if data.limit is not None else int(row.requested_limit)
        _approve(
            conn,
            application_id,
            limit=limit,
            by="operator",
            reason=data.reason or "approved by an operator",
            at=at,
        )
    else:
        if row.status == "rejected":
            raise DecisionNotAllowed("the application is already rejected")
        _reject(
            conn,
            application_id,
            by="operator",
            reason=data.reason or "rejected by an operator",
            notify_reason=data.reason,
            at=at,
        )
    return get_application(conn, application_id, acting_user_id=None)


def _approve(
    conn: Connection, application_id: str, *, limit: int, by: str, reason: str, at: datetime
) -> None:
    row = repository.get_application(conn, application_id)
    assert row is not None
    line_id = new_id("cln")
    repository.insert_line(
        conn,
        {
            "id": line_id,
            "user_id": row.user_id,
            "product_id": row.product_id,
            "currency": row.currency,
            "limit": limit,
            "outstanding": 0,
            "status": "active",
            "auto_debit": False,
            "created_at": at,
        },
    )
    repository.update_application(
        conn,
        application_id,
        {
            "status": "approved",
            "granted_limit": limit,
            "decided_by": by,
            "reason": reason,
            "line_id": line_id,
            "decided_at": at,
        },
    )
    record_event(
        conn,
        type=events.APPLICATION_APPROVED,
        user_id=row.user_id,
        at=at,
        data={"application_id": application_id, "limit": _m(limit, row.currency)},
    )


def _reject(
    conn: Connection,
    application_id: str,
    *,
    by: str,
    reason: str,
    notify_reason: str | None,
    at: datetime,
) -> None:
    row = repository.get_application(conn, application_id)
    assert row is not None
    repository.update_application(
        conn,
        application_id,
        {"status": "rejected", "decided_by": by, "reason": reason, "decided_at": at},
    )
    data: dict[str, Any] = {"application_id": application_id}
    if notify_reason:
        data["reason"] = notify_reason
    record_event(conn, type=events.APPLICATION_REJECTED, user_id=row.user_id, at=at, data=data)


# -- lines ---------------------------------------------------------------------------------


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


def _visible_line(
    conn: Connection, line_id: str, acting_user_id: str | None, *, lock: bool = False
) -> AnyRow:
    row = repository.get_line(conn, line_id, lock=lock) if is_id(line_id, "cln") else None
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise LineNotFound(f"credit line {line_id} not found", field="line_id")
    return row


def get_line(conn: Connection, line_id: str, *, acting_user_id: str | None) -> LineOut:
    return _line_out(_visible_line(conn, line_id, acting_user_id))


def line_of_user(conn: Connection, user_id: str) -> LineOut:
    users.require_user(conn, user_id)
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
    row = _visible_line(conn, line_id, None, lock=True)
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
        record_event(
            conn,
            type=events.LIMIT_RAISED if limit > old else events.LIMIT_LOWERED,
            user_id=row.user_id,
            at=at,
            data={
                "line_id": line_id,
                "old_limit": _m(old, row.currency),
                "new_limit": _m(limit, row.currency),
                "reason_code": reason_code.value,
            },
        )
    return get_line(conn, line_id, acting_user_id=None)


def set_auto_debit(
    conn: Connection, line_id: str, *, enabled: bool, acting_user_id: str | None
) -> LineOut:
    """Turn automatic repayment on the due day on or off (the borrower's own choice)."""
    _visible_line(conn, line_id, acting_user_id, lock=True)
    repository.update_line(conn, line_id, {"auto_debit": enabled})
    return get_line(conn, line_id, acting_user_id=acting_user_id)


# -- quotes and drawdowns ------------------------------------------------------------------


def _fee(amount: int, fee_bp: int) -> int:
    return (2 * amount * fee_bp + BP) // (2 * BP)


def _priced(
    conn: Connection, line: AnyRow, data: QuoteIn, *, at: datetime
) -> tuple[AnyRow, date, int, list[ScheduledInstallment], int]:
    """Check a drawdown against the line and its product; its schedule, fee and APR."""
    if line.status != "active":
        raise LineNotActive("the credit line is not active", field="line_id")
    product = repository.get_product(conn, line.product_id)
    assert product is not None
    if data.amount.currency != line.currency:
        raise CurrencyMismatch(f"the line lends {line.currency}", field="amount.currency")
    if data.term_months not in product.terms:
        terms = ", ".join(str(t) for t in product.terms)
        raise InvalidDrawdown(f"term_months must be one of {terms}", field="term_months")
    if data.method.value not in product.methods:
        raise InvalidDrawdown(f"method must be one of {', '.join(product.methods)}", field="method")
    if data.amount.value < int(product.min_amount):
        raise InvalidDrawdown(
            f"the smallest drawdown is {product.min_amount} minor units", field="amount"
        )
    available = max(0, int(line.limit) - int(line.outstanding))
    if data.amount.value > available:
        raise AboveAvailableLimit(
            f"{available} minor units are available on this line", field="amount"
        )
    start = local_today(at, users.timezone_of(conn, line.user_id))
    schedule = build_schedule(
        amount=data.amount.value,
        term_months=data.term_months,
        annual_rate_bp=int(product.annual_rate_bp),
        method=data.method,
        start=start,
    )
    fee = _fee(data.amount.value, int(product.fee_bp))
    apr = apr_bp(
        net_received=data.amount.value - fee,
        payments=[(i.due_date, i.total) for i in schedule],
        start=start,
    )
    return product, start, fee, schedule, apr


def _apr_text(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


def quote(conn: Connection, data: QuoteIn, *, acting_user_id: str | None, at: datetime) -> QuoteOut:
    """What a drawdown would cost, computed exactly as the drawdown would; writes nothing."""
    line = _visible_line(conn, data.line_id, acting_user_id)
    product, _, fee, schedule, apr = _priced(conn, line, data, at=at)
    currency = line.currency
    interest = sum(i.interest for i in schedule)
    return QuoteOut(
        line_id=line.id,
        amount=data.amount,
        fee=money(fee, currency),
        disbursed=money(data.amount.value - fee, currency),
        term_months=data.term_months,
        method=data.method,
        annual_rate_bp=int(product.annual_rate_bp),
        apr=_apr_text(apr),
        apr_bp=apr,
        total_interest=money(interest, currency),
        total_repayable=money(data.amount.value + interest, currency),
        schedule=[
            InstallmentOut(
                n=i.n,
                due_date=i.due_date,
                principal=money(i.principal, currency),
                interest=money(i.interest, currency),
                total=money(i.total, currency),
                paid=money(0, currency),
                penalty=money(0, currency),
                status="pending",
            )
            for i in schedule
        ],
    )


def _lock_wallet(conn: Connection, wallet_id: str, owner: str, field: str) -> AnyRow:
    """Lock the borrower's wallet for a money movement (the same lock transfers take)."""
    rows = wallet_repository.lock_wallets(conn, [wallet_id]) if is_id(wallet_id, "wal") else {}
    wallet = rows.get(wallet_id)
    if wallet is None or wallet.user_id != owner:
        raise WalletNotFound(f"wallet {wallet_id} not found", field=field)
    if wallet.status != "open":
        raise WalletClosed(f"wallet {wallet_id} is closed", field=field)
    return wallet


def create_drawdown(
    conn: Connection, data: QuoteIn, *, acting_user_id: str | None, at: datetime
) -> DrawdownOut:
    """Lend: one balanced ledger entry from the credit receivable into the main wallet,
    the schedule written, the line's outstanding raised, and a notice."""
    line = _visible_line(conn, data.line_id, acting_user_id, lock=True)
    product, start, fee, schedule, _ = _priced(conn, line, data, at=at)
    timezone = users.timezone_of(conn, line.user_id)
    wallet = _lock_wallet(
        conn, users.get_main_wallet_id(conn, line.user_id), line.user_id, "line_id"
    )
    drawdown_id = new_id("drw")
    amount, currency = data.amount.value, line.currency
    legs = [
        Leg(
            system_account_id(SystemAccount.CREDIT_RECEIVABLE, currency, spread_by=drawdown_id),
            -amount,
        ),
        Leg(wallet.account_id, amount - fee),
    ]
    if fee:
        legs.append(
            Leg(
                system_account_id(SystemAccount.INTEREST_INCOME, currency, spread_by=drawdown_id),
                fee,
            )
        )
    posted = ledger.post_entry(
        conn, kind="credit_drawdown", reference=drawdown_id, currency=currency, legs=legs, at=at
    )
    grace = int(product.grace_days)
    repository.insert_drawdown(
        conn,
        {
            "id": drawdown_id,
            "line_id": line.id,
            "user_id": line.user_id,
            "currency": currency,
            "amount": amount,
            "fee": fee,
            "term_months": data.term_months,
            "method": data.method.value,
            "annual_rate_bp": int(product.annual_rate_bp),
            "penalty_bp_per_day": int(product.penalty_bp_per_day),
            "grace_days": grace,
            "timezone": timezone,
            "start_date": start,
            "interest_from": start,
            "interest_base": 0,
            "status": "active",
            "wallet_id": wallet.id,
            "entry_id": posted.entry_id,
            "created_at": at,
        },
    )
    repository.insert_installments(
        conn,
        [
            {
                "id": new_id("ins"),
                "drawdown_id": drawdown_id,
                "user_id": line.user_id,
                "timezone": timezone,
                "n": i.n,
                "due_date": i.due_date,
                "penalty_from": i.due_date + timedelta(days=1 + grace),
                "principal": i.principal,
                "interest": i.interest,
                "status": "pending",
            }
            for i in schedule
        ],
    )
    repository.add_outstanding(conn, line.id, amount)
    record_event(
        conn,
        type=events.LOAN_DISBURSED,
        user_id=line.user_id,
        at=at,
        data={
            "drawdown_id": drawdown_id,
            "line_id": line.id,
            "amount": _m(amount, currency),
            "term_months": data.term_months,
            "first_due_date": schedule[0].due_date.isoformat(),
            "occurred_at": at.isoformat(),
        },
    )
    return get_drawdown(conn, drawdown_id, acting_user_id=acting_user_id, at=at)


def _states(rows: Sequence[AnyRow]) -> list[InstallmentState]:
    return [
        InstallmentState(
            id=row.id,
            n=row.n,
            due_date=row.due_date,
            principal=int(row.principal),
            interest=int(row.interest),
            principal_paid=int(row.principal_paid),
            interest_paid=int(row.interest_paid),
            penalty=int(row.penalty),
            penalty_paid=int(row.penalty_paid),
        )
        for row in rows
    ]


def _terms(drawdown: AnyRow) -> LoanTerms:
    return LoanTerms(
        annual_rate_bp=int(drawdown.annual_rate_bp),
        method=Method(drawdown.method),
        start_date=drawdown.start_date,
        interest_from=drawdown.interest_from,
        interest_base=int(drawdown.interest_base),
    )


def _visible_drawdown(
    conn: Connection, drawdown_id: str, acting_user_id: str | None, *, lock: bool = False
) -> AnyRow:
    row = (
        repository.get_drawdown(conn, drawdown_id, lock=lock) if is_id(drawdown_id, "drw") else None
    )
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise DrawdownNotFound(f"drawdown {drawdown_id} not found", field="drawdown_id")
    return row


def get_drawdown(
    conn: Connection, drawdown_id: str, *, acting_user_id: str | None, at: datetime
) -> DrawdownOut:
    """The drawdown, its schedule, and overdue days and penalty as the last
    `credit.overdue` run recorded them."""
    drawdown = _visible_drawdown(conn, drawdown_id, acting_user_id)
    rows = repository.installments_of(conn, drawdown.id)
    states = _states(rows)
    currency = drawdown.currency
    today = local_today(at, drawdown.timezone)
    schedule = [
        InstallmentOut(
            n=row.n,
            due_date=row.due_date,
            principal=money(int(row.principal), currency),
            interest=money(int(row.interest), currency),
            total=money(int(row.principal) + int(row.interest), currency),
            paid=money(int(row.principal_paid) + int(row.interest_paid), currency),
            penalty=money(int(row.penalty), currency),
            status=row.status,
        )
        for row in rows
    ]
    overdue_days = max(
        (
            (row.overdue_as_of - row.due_date).days
            for row in rows
            if row.status == "overdue" and row.overdue_as_of is not None
        ),
        default=0,
    )
    interest = sum(s.interest for s in states)
    payments = [(s.due_date, s.principal + s.interest) for s in states]
    apr = apr_bp(
        net_received=int(drawdown.amount) - int(drawdown.fee),
        payments=payments,
        start=drawdown.start_date,
    )
    return DrawdownOut(
        id=drawdown.id,
        line_id=drawdown.line_id,
        user_id=drawdown.user_id,
        status=drawdown.status,
        amount=money(int(drawdown.amount), currency),
        fee=money(int(drawdown.fee), currency),
        disbursed=money(int(drawdown.amount) - int(drawdown.fee), currency),
        term_months=drawdown.term_months,
        method=Method(drawdown.method),
        annual_rate_bp=int(drawdown.annual_rate_bp),
        apr=_apr_text(apr),
        apr_bp=apr,
        total_interest=money(interest, currency),
        total_repayable=money(int(drawdown.amount) + interest, currency),
        schedule=schedule,
        start_date=drawdown.start_date,
        outstanding=money(sum(s.principal - s.principal_paid for s in states), currency),
        overdue_days=overdue_days,
        penalty=money(sum(s.penalty - s.penalty_paid for s in states), currency),
        remaining=money(sum(s.owed for s in states), currency),
        payoff=money(payoff_amount(states, _terms(drawdown), today), currency),
        created_at=as_utc(drawdown.created_at),
        settled_at=as_utc(drawdown.settled_at) if drawdown.settled_at else None,
    )


# -- repayments ----------------------------------------------------------------------------


def repay(
    conn: Connection,
    data: RepaymentCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
) -> RepaymentOut:
    """Pay from the borrower's wallet: penalty, interest, principal, oldest first; early
    money re-computes what is left. More than is owed, or more than the wallet has, is
    refused and changes nothing."""
    drawdown = _visible_drawdown(conn, data.drawdown_id, acting_user_id, lock=True)
    currency = drawdown.currency
    if drawdown.status == "settled":
        raise DrawdownSettled("this drawdown is repaid in full", field="drawdown_id")
    if data.amount.currency != currency:
        raise CurrencyMismatch(f"the loan is in {currency}", field="amount.currency")
    today = local_today(at, drawdown.timezone)
    rows = repository.installments_of(conn, drawdown.id)
    payoff = payoff_amount(_states(rows), _terms(drawdown), today)
    if data.amount.value > payoff:
        raise RepaymentExceedsOwed(
            f"at most {payoff} minor units settle this loan today",
            field="amount",
            payoff=_m(payoff, currency),
        )
    wallet_id = data.source or users.get_main_wallet_id(conn, drawdown.user_id)
    wallet = _lock_wallet(conn, wallet_id, drawdown.user_id, "source")
    if wallet.currency != currency:
        raise CurrencyMismatch(f"the wallet holds {wallet.currency}", field="source")
    return _apply_repayment(
        conn,
        drawdown,
        rows,
        wallet_id=wallet.id,
        account_id=wallet.account_id,
        amount=data.amount.value,
        today=today,
        at=at,
        automatic=False,
    )


def auto_debit(conn: Connection, drawdown_id: str, *, at: datetime) -> int:
    """Repay what is due today from the main wallet the loan was paid into — all of it, or
    what the wallet holds if less; 0 when nothing is due or nothing is there."""
    drawdown = repository.get_drawdown(conn, drawdown_id, lock=True)
    if drawdown is None or drawdown.status != "active":
        return 0
    today = local_today(at, drawdown.timezone)
    rows = repository.installments_of(conn, drawdown.id)
    owed = sum(s.owed for s in _states(rows) if s.due_date <= today)
    if owed <= 0:
        return 0
    locked = _lock_wallet(conn, drawdown.wallet_id, drawdown.user_id, "source")
    wallet = wallet_repository.get_wallet(conn, locked.id)
    assert wallet is not None
    pay = min(owed, int(wallet.balance) - int(wallet.held))
    if pay <= 0:
        return 0
    _apply_repayment(
        conn,
        drawdown,
        rows,
        wallet_id=wallet.id,
        account_id=wallet.account_id,
        amount=pay,
        today=today,
        at=at,
        automatic=True,
    )
    return pay


def _apply_repayment(
    conn: Connection,
    drawdown: AnyRow,
    rows: Sequence[AnyRow],
    *,
    wallet_id: str,
    account_id: str,
    amount: int,
    today: date,
    at: datetime,
    automatic: bool,
) -> RepaymentOut:
    """Allocate, post one balanced entry, store the new schedule, and tell the borrower."""
    currency = drawdown.currency
    states = _states(rows)
    result = allocate(states, _terms(drawdown), amount=amount, today=today)
    repayment_id = new_id("rep")
    legs = [Leg(account_id, -amount)]
    if result.principal:
        legs.append(
            Leg(
                system_account_id(SystemAccount.CREDIT_RECEIVABLE, currency, spread_by=drawdown.id),
                result.principal,
            )
        )
    if result.interest + result.penalty:
        legs.append(
            Leg(
                system_account_id(SystemAccount.INTEREST_INCOME, currency, spread_by=drawdown.id),
                result.interest + result.penalty,
            )
        )
    posted = ledger.post_entry(
        conn, kind="credit_repayment", reference=repayment_id, currency=currency, legs=legs, at=at
    )
    _store_allocation(conn, drawdown, rows, result, at=at)
    repository.add_outstanding(conn, drawdown.line_id, -result.principal)
    remaining = result.remaining
    repository.insert_repayment(
        conn,
        {
            "id": repayment_id,
            "drawdown_id": drawdown.id,
            "line_id": drawdown.line_id,
            "user_id": drawdown.user_id,
            "wallet_id": wallet_id,
            "currency": currency,
            "amount": amount,
            "penalty": result.penalty,
            "interest": result.interest,
            "principal": result.principal,
            "remaining": remaining,
            "automatic": automatic,
            "entry_id": posted.entry_id,
            "created_at": at,
        },
    )
    record_event(
        conn,
        type=events.REPAYMENT_RECEIVED,
        user_id=drawdown.user_id,
        at=at,
        data={
            "drawdown_id": drawdown.id,
            "repayment_id": repayment_id,
            "amount": _m(amount, currency),
            "remaining": _m(remaining, currency),
            "allocated": {
                "penalty": _m(result.penalty, currency),
                "interest": _m(result.interest, currency),
                "principal": _m(result.principal, currency),
            },
            "automatic": automatic,
            "occurred_at": at.isoformat(),
        },
    )
    return RepaymentOut(
        id=repayment_id,
        drawdown_id=drawdown.id,
        amount=money(amount, currency),
        allocated=Allocated(
            penalty=money(result.penalty, currency),
            interest=money(result.interest, currency),
            principal=money(result.principal, currency),
        ),
        remaining=money(remaining, currency),
        automatic=automatic,
        created_at=at,
    )


def _store_allocation(
    conn: Connection,
    drawdown: AnyRow,
    rows: Sequence[AnyRow],
    result: Allocation,
    *,
    at: datetime,
) -> None:
    previous = {s.id: s for s in _states(rows)}
    statuses = {row.id: row.status for row in rows}
    changes = []
    for state in result.installments:
        if state == previous[state.id]:
            continue
        status = "paid" if state.settled else statuses[state.id]
        changes.append(
            {
                "b_id": state.id,
                "principal": state.principal,
                "interest": state.interest,
                "principal_paid": state.principal_paid,
                "interest_paid": state.interest_paid,
                "penalty_paid": state.penalty_paid,
                "status": status,
                "paid_at": at if status == "paid" else None,
            }
        )
    repository.update_installments(conn, changes)
    values: dict[str, Any] = {
        "interest_from": result.interest_from,
        "interest_base": result.interest_base,
    }
    if result.remaining == 0:
        values.update(status="settled", settled_at=at)
    repository.update_drawdown(conn, drawdown.id, values)


# -- statements ----------------------------------------------------------------------------


def _encode_cursor(at: datetime, item_id: str) -> str:
    raw = json.dumps([as_utc(at).isoformat(), item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, item_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if not isinstance(item_id, str) or at.tzinfo is None:
            raise ValueError("bad cursor")
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid", field="cursor") from exc
    return at.astimezone(UTC), item_id


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
    line = _visible_line(conn, line_id, acting_user_id)
    rows = repository.statement_page(conn, line.id, before=_decode_cursor(cursor), limit=limit + 1)
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
        _encode_cursor(rows[limit - 1].at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return Page[StatementItem](items=items, next_cursor=next_cursor)
