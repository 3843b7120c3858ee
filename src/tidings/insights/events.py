"""Budget and savings-goal event types."""

from __future__ import annotations

from datetime import date
from typing import Literal

from tidings.events import EventData, EventType
from tidings.kit.money import Money
from tidings.kit.text import ShortText

BUDGET_THRESHOLD_REACHED = "wallet.budget.threshold_reached"
BUDGET_EXCEEDED = "wallet.budget.exceeded"
GOAL_PROGRESS = "wallet.goal.progress"
GOAL_REACHED = "wallet.goal.reached"


class SubWalletEvent(EventData):
    """Something about one of the user's sub-wallets, named as the user named it."""

    wallet_id: str | None = None
    wallet_name: ShortText


class BudgetEvent(SubWalletEvent):
    """Spending against a sub-wallet's budget in one of its periods."""

    period: Literal["month", "week"] | None = None
    period_start: date | None = None
    """The first day of the budget period (user's calendar); without it, the period holding
    `occurred_at` (or the event's time) in the user's time zone."""


class BudgetThresholdReached(BudgetEvent):
    used_percent: int
    spent: Money
    limit: Money


class BudgetExceeded(BudgetEvent):
    spent: Money
    limit: Money


class GoalProgress(SubWalletEvent):
    progress_percent: int
    saved: Money
    target: Money


class GoalReached(SubWalletEvent):
    target: Money
    reward: ShortText | None = None
    """What was given, in the reader's words (`8.88元现金`); None: no reward."""
    reward_amount: Money | None = None
    """The reward paid into the sub-wallet (a transfer of kind `reward`)."""


CATALOGUE = (
    EventType(BUDGET_THRESHOLD_REACHED, BudgetThresholdReached, "A budget is nearly used (80%)."),
    EventType(BUDGET_EXCEEDED, BudgetExceeded, "A budget's limit was reached or passed."),
    EventType(GOAL_PROGRESS, GoalProgress, "Progress towards a savings goal."),
    EventType(GOAL_REACHED, GoalReached, "A savings goal was reached (with a small reward)."),
)
