"""Credit decisions as plain functions over a user's wallet history (pluggable).

A rule sees only figures (no personal data) and answers approve (with a limit), reject or
refer (an operator decides). `scoring_rule` is the default; pass another `DecisionRule` to
`service.create_application` to change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from tidings.credit.events import LimitChangeReason

Outcome = Literal["approve", "reject", "refer"]

APPROVE_SCORE = 60
REJECT_BELOW = 30
LIMIT_PER_POINT = 100_000
"""Minor units of limit per score point (1,000.00 CNY)."""


@dataclass(frozen=True, slots=True)
class WalletHistory:
    account_age_days: int
    money_in_90d: int
    """Top-ups, transfers and refunds received in the last 90 days (minor units)."""
    payments_90d: int
    balance: int


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    score: int
    limit: int | None
    reason: str


class DecisionRule(Protocol):
    def __call__(self, history: WalletHistory, *, requested: int, max_limit: int) -> Decision: ...


def score(history: WalletHistory) -> int:
    """0-100: how long the wallet has lived, how much money came in, how it is used."""
    age = min(40, history.account_age_days)
    inflow = min(30, history.money_in_90d // 50_000)  # a point per 500.00 received
    usage = min(20, history.payments_90d * 2)
    cushion = 10 if history.balance >= 100_000 else 0
    return age + inflow + usage + cushion


def scoring_rule(history: WalletHistory, *, requested: int, max_limit: int) -> Decision:
    points = score(history)
    if points >= APPROVE_SCORE:
        limit = min(requested, max_limit, points * LIMIT_PER_POINT)
        return Decision("approve", points, limit, f"score {points}")
    if points < REJECT_BELOW:
        return Decision("reject", points, None, f"score {points}: wallet history too short")
    return Decision("refer", points, None, f"score {points}: referred to an operator")


REVIEW_RAISE_AFTER_PAID = 3
"""Installments repaid on time before a line may be raised."""


@dataclass(frozen=True, slots=True)
class LimitReview:
    """The limit a review sets, and why (told to the borrower when it changes)."""

    limit: int
    reason: LimitChangeReason


def reviewed_limit(
    *, limit: int, outstanding: int, max_limit: int, paid: int, ever_overdue: int, overdue_now: int
) -> LimitReview:
    """The periodic review: a line with money overdue now is lowered to half (never below
    what is outstanding, so nothing is called in); one repaid on time at least three times
    and never late is raised by a fifth, up to the product's maximum."""
    if overdue_now:
        return LimitReview(min(limit, max(outstanding, limit // 2)), LimitChangeReason.OVERDUE)
    if paid >= REVIEW_RAISE_AFTER_PAID and not ever_overdue:
        return LimitReview(
            max(limit, min(max_limit, limit + limit // 5)), LimitChangeReason.REPAID_ON_TIME
        )
    return LimitReview(limit, LimitChangeReason.ACCOUNT_REVIEW)
