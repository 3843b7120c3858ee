"""Pure decisions of budgets and savings goals: which period a day is in, and which levels a
figure has reached. No I/O: the posting path asks, the database's unique rows keep each
answer to once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

DEFAULT_ALERT_PERCENT: Final = 80
"""A budget warns when its period's spending first reaches this share of the limit."""


class BudgetLevel(StrEnum):
    """How far a budget period's spending has gone, as its alerts say."""

    THRESHOLD = "threshold"
    """At or past the alert percent (80 by default): `wallet.budget.threshold_reached`."""
    EXCEEDED = "exceeded"
    """At or past the limit: `wallet.budget.exceeded`."""


class GoalLevel(StrEnum):
    """How far a savings goal has come, as its notices say."""

    PROGRESS = "progress"
    """Half the target saved: `wallet.goal.progress`."""
    REACHED = "reached"
    """The target saved: `wallet.goal.reached` (and the reward)."""


GOAL_PROGRESS_PERCENT: Final = 50


def period_start(period: str, day: date) -> date:
    """The first day of the budget period holding `day` (weeks start on Monday)."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def local_midnight_utc(day: date, timezone: str) -> datetime:
    """The moment a calendar day begins in a time zone, in UTC."""
    zone = ZoneInfo(timezone)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def used_percent(spent: int, limit: int) -> int:
    """The whole percent of the limit spent (85 for 85.9%), never below 0."""
    return max(0, spent) * 100 // limit


def budget_levels(spent: int, *, limit: int, alert_percent: int) -> tuple[BudgetLevel, ...]:
    """The levels a period's spending stands at, lowest first."""
    reached: list[BudgetLevel] = []
    if spent * 100 >= limit * alert_percent:
        reached.append(BudgetLevel.THRESHOLD)
    if spent >= limit:
        reached.append(BudgetLevel.EXCEEDED)
    return tuple(reached)


def goal_levels(balance: int, *, target: int) -> tuple[GoalLevel, ...]:
    """The levels a goal's balance stands at, lowest first."""
    reached: list[GoalLevel] = []
    if balance * 100 >= target * GOAL_PROGRESS_PERCENT:
        reached.append(GoalLevel.PROGRESS)
    if balance >= target:
        reached.append(GoalLevel.REACHED)
    return tuple(reached)


@dataclass(frozen=True, slots=True)
class RewardPolicy:
    """`TIDINGS_GOAL_REWARD` and `TIDINGS_GOAL_REWARDS_PER_YEAR`."""

    amount: int = 888
    """Minor units paid when a goal is reached; 0 turns rewards off."""
    per_year: int = 4
    """At most this many rewards per user per calendar year (the user's calendar)."""


DEFAULT_REWARDS: Final = RewardPolicy()


def reward_due(policy: RewardPolicy, *, paid_this_year: int) -> int:
    """What a newly reached goal earns: the reward, unless turned off or the year's cap is
    used up."""
    if policy.amount <= 0 or paid_this_year >= policy.per_year:
        return 0
    return policy.amount
