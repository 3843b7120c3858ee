"""Loan schedules and repayment allocation: exact fen, whatever the amount, term, rate,
method or order of repayments."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.credit.allocation import (
    InstallmentState,
    LoanTerms,
    accrued_interest,
    allocate,
    payoff_amount,
)
from tidings.credit.schedule import (
    Method,
    add_months,
    apr_bp,
    build_schedule,
    due_dates,
    period_interest,
)

amounts = st.integers(min_value=1, max_value=10**11)
terms = st.integers(min_value=1, max_value=36)
rates = st.integers(min_value=0, max_value=3600)
methods = st.sampled_from(list(Method))
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(amount=amounts, term=terms, rate=rates, method=methods, start=starts)
def test_principal_parts_sum_exactly_to_the_amount_and_are_never_negative(
    amount: int, term: int, rate: int, method: Method, start: date
) -> None:
    schedule = build_schedule(
        amount=amount, term_months=term, annual_rate_bp=rate, method=method, start=start
    )
    assert len(schedule) == term
    assert sum(i.principal for i in schedule) == amount
    assert all(i.principal >= 0 and i.interest >= 0 for i in schedule)
    assert [i.n for i in schedule] == list(range(1, term + 1))
    assert all(a.due_date < b.due_date for a, b in itertools.pairwise(schedule))
    if method is Method.EQUAL_PRINCIPAL:
        assert {i.principal for i in schedule[:-1]} <= {amount // term}
    if method is Method.BULLET:
        assert all(i.principal == 0 for i in schedule[:-1])


def test_due_dates_keep_the_day_of_month_clamped_to_the_month_end() -> None:
    assert due_dates(date(2026, 1, 31), 4) == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert add_months(date(2027, 12, 29), 2) == date(2028, 2, 29)


def test_interest_is_charged_by_actual_days_rounded_half_up() -> None:
    # 2,000.00 at 10.80% for 30 days = 17.7534… → 17.75
    assert period_interest(200_000, 1080, 30) == 1775
    assert period_interest(200_000, 1080, 31) == 1835  # 18.3452… → 18.35
    schedule = build_schedule(
        amount=300_000,
        term_months=3,
        annual_rate_bp=1080,
        method=Method.EQUAL_PRINCIPAL,
        start=date(2026, 1, 10),
    )
    assert [(i.due_date, i.principal, i.interest) for i in schedule] == [
        (date(2026, 2, 10), 100_000, period_interest(300_000, 1080, 31)),
        (date(2026, 3, 10), 100_000, period_interest(200_000, 1080, 28)),
        (date(2026, 4, 10), 100_000, period_interest(100_000, 1080, 31)),
    ]


def test_equal_installments_are_level_except_for_day_count_and_the_last_remainder() -> None:
    schedule = build_schedule(
        amount=1_200_000,
        term_months=12,
        annual_rate_bp=1200,
        method=Method.EQUAL_INSTALLMENT,
        start=date(2026, 3, 1),
    )
    totals = [i.total for i in schedule]
    assert max(totals) - min(totals) < 1_000  # within 10.00 of each other


def test_apr_of_a_fee_free_loan_is_close_to_its_rate_and_a_fee_raises_it() -> None:
    start = date(2026, 1, 1)
    schedule = build_schedule(
        amount=1_000_000,
        term_months=12,
        annual_rate_bp=1080,
        method=Method.EQUAL_INSTALLMENT,
        start=start,
    )
    payments = [(i.due_date, i.total) for i in schedule]
    plain = apr_bp(net_received=1_000_000, payments=payments, start=start)
    assert 1060 <= plain <= 1100
    assert apr_bp(net_received=990_000, payments=payments, start=start) > plain + 150


def _states(
    amount: int, term: int, rate: int, method: Method, start: date
) -> list[InstallmentState]:
    return [
        InstallmentState(
            id=f"i{i.n}", n=i.n, due_date=i.due_date, principal=i.principal, interest=i.interest
        )
        for i in build_schedule(
            amount=amount, term_months=term, annual_rate_bp=rate, method=method, start=start
        )
    ]


@settings(max_examples=300)
@given(
    amount=st.integers(min_value=100, max_value=10**9),
    term=st.integers(min_value=1, max_value=12),
    rate=rates,
    method=methods,
    payments=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400), st.integers(min_value=1, max_value=10**9)
        ),
        max_size=8,
    ),
)
def test_repayments_in_any_order_keep_every_figure_within_bounds(
    amount: int,
    term: int,
    rate: int,
    method: Method,
    payments: list[tuple[int, int]],
) -> None:
    start = date(2026, 1, 15)
    states = _states(amount, term, rate, method, start)
    loan = LoanTerms(rate, method, start, start, 0)
    principal_paid = 0
    for day_offset, wanted in sorted(payments):
        today = start + timedelta(days=day_offset)
        payoff = payoff_amount(states, loan, today)
        pay = min(wanted, payoff)
        if pay == 0:
            continue
        before = sum(i.owed for i in states)
        result = allocate(states, loan, amount=pay, today=today)
        assert result.penalty + result.interest + result.principal == pay
        principal_paid += result.principal
        states = result.installments
        loan = LoanTerms(rate, method, start, result.interest_from, result.interest_base)
        assert sum(i.principal for i in states) == amount  # principal is never lost or made up
        assert sum(i.principal_paid for i in states) == principal_paid <= amount
        for item in states:
            assert 0 <= item.principal_paid <= item.principal
            assert 0 <= item.interest_paid <= item.interest
        assert result.remaining >= 0
        assert result.remaining <= before  # paying never makes the debt grow
        if pay == payoff:
            assert result.remaining == 0


def test_allocation_pays_penalty_then_interest_then_principal_oldest_first() -> None:
    start = date(2026, 1, 10)
    states = _states(300_000, 3, 1080, Method.EQUAL_PRINCIPAL, start)
    first = states[0]
    overdue = InstallmentState(
        id=first.id,
        n=1,
        due_date=first.due_date,
        principal=first.principal,
        interest=first.interest,
        penalty=500,
    )
    states = [overdue, *states[1:]]
    loan = LoanTerms(1080, Method.EQUAL_PRINCIPAL, start, start, 0)
    today = first.due_date + timedelta(days=5)
    result = allocate(states, loan, amount=500 + first.interest + 10_000, today=today)
    assert (result.penalty, result.interest, result.principal) == (500, first.interest, 10_000)
    assert result.installments[0].principal_paid == 10_000
    assert result.installments[1].principal_paid == 0


def test_early_repayment_pays_interest_to_date_and_recomputes_what_is_left() -> None:
    start = date(2026, 1, 10)
    states = _states(300_000, 3, 1080, Method.EQUAL_PRINCIPAL, start)
    loan = LoanTerms(1080, Method.EQUAL_PRINCIPAL, start, start, 0)
    today = start + timedelta(days=10)
    accrued = accrued_interest(states, loan, today)
    assert accrued == period_interest(300_000, 1080, 10)
    result = allocate(states, loan, amount=accrued + 150_000, today=today)
    assert (result.interest, result.principal) == (accrued, 150_000)
    left = result.installments
    assert sum(i.principal - i.principal_paid for i in left) == 150_000
    # interest from today on the smaller principal: less than the original schedule's
    assert sum(i.interest for i in left) < sum(i.interest for i in states)
    payoff = payoff_amount(
        left, LoanTerms(1080, Method.EQUAL_PRINCIPAL, start, today, accrued), today
    )
    assert payoff == 150_000
