"""Drawdowns: what one would cost (a quote), lending it into the main wallet, and reading it
back with its schedule, overdue days and payoff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.credit import events, repository
from tidings.credit.allocation import InstallmentState, LoanTerms, payoff_amount
from tidings.credit.exceptions import (
    AboveAvailableLimit,
    DrawdownNotFound,
    InvalidDrawdown,
    LineNotActive,
)
from tidings.credit.schedule import BP, Method, ScheduledInstallment, apr_bp, build_schedule
from tidings.credit.schemas import (
    DrawdownOut,
    DrawdownStatus,
    InstallmentOut,
    InstallmentStatus,
    LineStatus,
    QuoteIn,
    QuoteOut,
)
from tidings.credit.service import notices
from tidings.credit.service.lines import visible_line
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.ledger import service as ledger
from tidings.ledger.service import Leg, SystemAccount, system_account_id
from tidings.users import service as users
from tidings.wallets import accounts


def local_today(at: datetime, timezone: str) -> date:
    """The calendar day `at` falls on in the borrower's time zone."""
    return at.astimezone(ZoneInfo(timezone)).date()


def _fee(amount: int, fee_bp: int) -> int:
    return (2 * amount * fee_bp + BP) // (2 * BP)


def _priced(
    conn: Connection, line: AnyRow, data: QuoteIn, *, at: datetime
) -> tuple[AnyRow, date, int, list[ScheduledInstallment], int]:
    """Check a drawdown against the line and its product; its schedule, fee and APR."""
    if line.status != LineStatus.ACTIVE:
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
    line = visible_line(conn, data.line_id, acting_user_id)
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
                status=InstallmentStatus.PENDING,
            )
            for i in schedule
        ],
    )


def create_drawdown(
    conn: Connection, data: QuoteIn, *, acting_user_id: str | None, at: datetime
) -> DrawdownOut:
    """Lend: one balanced ledger entry from the credit receivable into the main wallet,
    the schedule written, the line's outstanding raised, and a notice."""
    line = visible_line(conn, data.line_id, acting_user_id, lock=True)
    product, start, fee, schedule, _ = _priced(conn, line, data, at=at)
    timezone = users.timezone_of(conn, line.user_id)
    wallet = accounts.lock_main_wallet(conn, line.user_id, field="line_id")
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
            "status": DrawdownStatus.ACTIVE,
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
                "status": InstallmentStatus.PENDING,
            }
            for i in schedule
        ],
    )
    repository.add_outstanding(conn, line.id, amount)
    disbursed = events.LoanDisbursed.model_construct(
        drawdown_id=drawdown_id,
        line_id=line.id,
        amount=money(amount, currency),
        term_months=data.term_months,
        first_due_date=schedule[0].due_date,
        occurred_at=at,
    )
    notices.record(conn, events.LOAN_DISBURSED, disbursed, user_id=line.user_id, at=at)
    return get_drawdown(conn, drawdown_id, acting_user_id=acting_user_id, at=at)


def installment_states(rows: Sequence[AnyRow]) -> list[InstallmentState]:
    """A drawdown's installment rows as the loan maths reads them."""
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


def loan_terms(drawdown: AnyRow) -> LoanTerms:
    """The terms a drawdown was made on (they outlive later changes to its product)."""
    return LoanTerms(
        annual_rate_bp=int(drawdown.annual_rate_bp),
        method=Method(drawdown.method),
        start_date=drawdown.start_date,
        interest_from=drawdown.interest_from,
        interest_base=int(drawdown.interest_base),
    )


def visible_drawdown(
    conn: Connection, drawdown_id: str, acting_user_id: str | None, *, lock: bool = False
) -> AnyRow:
    """The drawdown, when the caller may see it (its borrower or an operator); else not found."""
    row = (
        repository.get_drawdown(conn, drawdown_id, lock=lock) if is_id(drawdown_id, "drw") else None
    )
    return visible_or_raise(
        row,
        acting_user_id,
        DrawdownNotFound(f"drawdown {drawdown_id} not found", field="drawdown_id"),
    )


def get_drawdown(
    conn: Connection, drawdown_id: str, *, acting_user_id: str | None, at: datetime
) -> DrawdownOut:
    """The drawdown, its schedule, and overdue days and penalty as the last
    `credit.overdue` run recorded them."""
    drawdown = visible_drawdown(conn, drawdown_id, acting_user_id)
    rows = repository.installments_of(conn, drawdown.id)
    states = installment_states(rows)
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
            if row.status == InstallmentStatus.OVERDUE and row.overdue_as_of is not None
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
        payoff=money(payoff_amount(states, loan_terms(drawdown), today), currency),
        created_at=as_utc(drawdown.created_at),
        settled_at=as_utc(drawdown.settled_at) if drawdown.settled_at else None,
    )
