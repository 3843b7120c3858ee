"""How a repayment is allocated, as a pure function over a drawdown's installments.

Order: recorded penalty, then interest, then principal, each oldest installment first, over
the installments that are due (due date today or earlier). Money beyond that is an early
repayment: it pays the interest accrued on the current period up to today, then principal,
and what is left is re-computed over the remaining due dates (interest from today on the
smaller principal). More than the payoff amount is refused by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from tidings.credit.schedule import Method, period_interest, schedule_from


@dataclass(frozen=True, slots=True)
class InstallmentState:
    id: str
    n: int
    due_date: date
    principal: int
    interest: int
    principal_paid: int = 0
    interest_paid: int = 0
    penalty: int = 0
    penalty_paid: int = 0

    @property
    def owed(self) -> int:
        return (
            self.principal
            - self.principal_paid
            + self.interest
            - self.interest_paid
            + self.penalty
            - self.penalty_paid
        )

    @property
    def settled(self) -> bool:
        return self.owed == 0


@dataclass(frozen=True, slots=True)
class LoanTerms:
    annual_rate_bp: int
    method: Method
    start_date: date
    interest_from: date
    """Since when interest accrues on the current period (moved by an early repayment)."""
    interest_base: int
    """Interest of the current installment already paid when `interest_from` was set."""


@dataclass(frozen=True, slots=True)
class Allocation:
    penalty: int
    interest: int
    principal: int
    installments: list[InstallmentState]
    interest_from: date
    interest_base: int

    @property
    def remaining(self) -> int:
        return sum(i.owed for i in self.installments)


def _current_period_start(
    installments: Sequence[InstallmentState], terms: LoanTerms, today: date
) -> tuple[date, int]:
    """When the current (first not yet due) period's interest started accruing, and what of
    it was already paid at that point."""
    passed = [i.due_date for i in installments if i.due_date <= today]
    period_start = max(passed) if passed else terms.start_date
    if terms.interest_from >= period_start:
        return terms.interest_from, terms.interest_base
    return period_start, 0


def accrued_interest(
    installments: Sequence[InstallmentState], terms: LoanTerms, today: date
) -> int:
    """Unpaid interest of the current period accrued up to `today` (never above its
    scheduled interest)."""
    future = [i for i in installments if i.due_date > today]
    if not future:
        return 0
    current = future[0]
    outstanding = sum(i.principal - i.principal_paid for i in future)
    start, base = _current_period_start(installments, terms, today)
    accrued = base + period_interest(outstanding, terms.annual_rate_bp, (today - start).days)
    unpaid = accrued - current.interest_paid
    return max(0, min(unpaid, current.interest - current.interest_paid))


def due_now(installments: Sequence[InstallmentState], today: date) -> int:
    """What is owed today: everything of the installments due today or earlier."""
    return sum(i.owed for i in installments if i.due_date <= today)


def payoff_amount(installments: Sequence[InstallmentState], terms: LoanTerms, today: date) -> int:
    """What settles the whole loan today: what is due, the current period's interest to
    date, and all principal not yet due."""
    future_principal = sum(
        i.principal - i.principal_paid for i in installments if i.due_date > today
    )
    return (
        due_now(installments, today)
        + accrued_interest(installments, terms, today)
        + future_principal
    )


def allocate(
    installments: Sequence[InstallmentState], terms: LoanTerms, *, amount: int, today: date
) -> Allocation:
    """Apply `amount` (0 < amount <= payoff) and return the new installment states."""
    states = {i.id: i for i in installments}
    ordered = sorted(installments, key=lambda i: i.n)
    due = [i for i in ordered if i.due_date <= today]
    left = amount
    paid = {"penalty": 0, "interest": 0, "principal": 0}
    for part in ("penalty", "interest", "principal"):
        for item in due:
            state = states[item.id]
            owed = getattr(state, part) - getattr(state, f"{part}_paid")
            take = min(owed, left)
            if take:
                states[item.id] = replace(
                    state, **{f"{part}_paid": getattr(state, f"{part}_paid") + take}
                )
                left -= take
                paid[part] += take
    interest_from, interest_base = terms.interest_from, terms.interest_base
    future = [states[i.id] for i in ordered if i.due_date > today]
    if left and future:
        accrued = accrued_interest(list(states.values()), terms, today)
        take = min(accrued, left)
        current = future[0]
        future[0] = replace(current, interest_paid=current.interest_paid + take)
        left -= take
        paid["interest"] += take
        if left:
            outstanding = sum(i.principal - i.principal_paid for i in future)
            prepaid = min(left, outstanding)
            left -= prepaid
            paid["principal"] += prepaid
            future[0] = replace(future[0], principal_paid=future[0].principal_paid + prepaid)
            rest = schedule_from(
                principal=outstanding - prepaid,
                dates=[i.due_date for i in future],
                interest_from=today,
                annual_rate_bp=terms.annual_rate_bp,
                method=terms.method,
            )
            future = [
                replace(
                    state,
                    principal=state.principal_paid + new.principal,
                    interest=state.interest_paid + new.interest,
                )
                for state, new in zip(future, rest, strict=True)
            ]
            interest_from, interest_base = today, future[0].interest_paid
        for state in future:
            states[state.id] = state
    if left:
        raise ValueError("amount exceeds what the loan owes")
    return Allocation(
        penalty=paid["penalty"],
        interest=paid["interest"],
        principal=paid["principal"],
        installments=[states[i.id] for i in ordered],
        interest_from=interest_from,
        interest_base=interest_base,
    )
