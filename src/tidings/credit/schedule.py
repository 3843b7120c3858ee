"""Repayment schedules as pure functions over integer fen (no I/O, no floats).

* Due dates are calendar dates in the borrower's time zone: the drawdown's day of month,
  clamped to the month's end (a loan taken on 31 January is due on 28/29 February, then
  31 March).
* Principal parts always sum exactly to the amount: any rounding remainder lands on the last
  installment.
* Interest is charged on the principal outstanding during each period, by actual days
  (annual rate / 365 per day), rounded half up to the fen per installment.
* A quote and a drawdown use the same function, so what a borrower is shown is what they owe.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

DAYS_PER_YEAR = 365
BP = 10_000


class Method(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"
    """Level payments (principal + interest about the same each month; 等额本息)."""
    EQUAL_PRINCIPAL = "equal_principal"
    """The same principal each month, interest on what is left (等额本金)."""
    BULLET = "bullet"
    """Interest only each month, all principal with the last (先息后本)."""


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    n: int
    due_date: date
    principal: int
    interest: int

    @property
    def total(self) -> int:
        return self.principal + self.interest


def add_months(start: date, months: int, *, anchor_day: int | None = None) -> date:
    """`start` moved by whole months, on `anchor_day` (default start's day) clamped to the
    month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(anchor_day or start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def due_dates(start: date, term_months: int) -> list[date]:
    """The due dates of a loan taken on `start` (local date), one a month."""
    return [add_months(start, k, anchor_day=start.day) for k in range(1, term_months + 1)]


def period_interest(principal: int, annual_rate_bp: int, days: int) -> int:
    """Interest on `principal` fen for `days` days, rounded half up to the fen."""
    if principal <= 0 or days <= 0 or annual_rate_bp <= 0:
        return 0
    denominator = BP * DAYS_PER_YEAR
    return (2 * principal * annual_rate_bp * days + denominator) // (2 * denominator)


def level_payment(principal: int, annual_rate_bp: int, periods: int) -> int:
    """The level monthly payment (annuity at annual rate / 12), rounded up to the fen."""
    if periods <= 0:
        return principal
    if annual_rate_bp == 0:
        return -(-principal // periods)
    rate = Fraction(annual_rate_bp, BP * 12)
    payment = principal * rate / (1 - (1 + rate) ** -periods)
    return -(-payment.numerator // payment.denominator)


def schedule_from(
    *,
    principal: int,
    dates: Sequence[date],
    interest_from: date,
    annual_rate_bp: int,
    method: Method,
) -> list[ScheduledInstallment]:
    """Installments over `dates` for `principal` still owed, interest accruing from
    `interest_from`. Used for a new loan and to re-compute what is left after an early or
    partial repayment; numbering starts at 1 (callers renumber)."""
    periods = len(dates)
    if periods == 0:
        return []
    payment = level_payment(principal, annual_rate_bp, periods)
    remaining = principal
    previous = interest_from
    out: list[ScheduledInstallment] = []
    for k, due in enumerate(dates, start=1):
        interest = period_interest(remaining, annual_rate_bp, (due - previous).days)
        if k == periods:
            part = remaining
        elif method is Method.EQUAL_PRINCIPAL:
            part = principal // periods
        elif method is Method.BULLET:
            part = 0
        else:
            part = min(remaining, max(0, payment - interest))
        out.append(ScheduledInstallment(n=k, due_date=due, principal=part, interest=interest))
        remaining -= part
        previous = due
    return out


def build_schedule(
    *, amount: int, term_months: int, annual_rate_bp: int, method: Method, start: date
) -> list[ScheduledInstallment]:
    """The schedule of a new loan of `amount` fen taken on local date `start`."""
    return schedule_from(
        principal=amount,
        dates=due_dates(start, term_months),
        interest_from=start,
        annual_rate_bp=annual_rate_bp,
        method=method,
    )


def apr_bp(*, net_received: int, payments: Sequence[tuple[date, int]], start: date) -> int:
    """The annual percentage rate in basis points: the daily internal rate of return of the
    cash flows (money received on `start`, each payment on its date) times 365 — fees and
    the day count included, as the PBOC's IRR method asks. Exact decimal bisection."""
    if net_received <= 0 or not payments:
        return 0
    flows = [((due - start).days, Decimal(total)) for due, total in payments]
    target = Decimal(net_received)
    with localcontext() as ctx:
        ctx.prec = 40

        def present_value(daily: Decimal) -> Decimal:
            return sum((amount / (1 + daily) ** days for days, amount in flows), Decimal(0))

        low, high = Decimal(0), Decimal("0.05")
        if present_value(low) <= target:
            return 0
        for _ in range(90):
            mid = (low + high) / 2
            if present_value(mid) > target:
                low = mid
            else:
                high = mid
        annual = (low + high) / 2 * DAYS_PER_YEAR * BP
        return int(annual.quantize(Decimal(1), rounding=ROUND_HALF_UP))
