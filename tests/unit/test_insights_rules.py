"""The pure decisions of insights: budget and goal levels, periods, rewards and suggestions."""

from __future__ import annotations

from datetime import date

from tidings.insights.budgets import (
    BudgetLevel,
    GoalLevel,
    RewardPolicy,
    budget_levels,
    goal_levels,
    period_start,
    reward_due,
    used_percent,
)
from tidings.insights.categories import SpendingCategory
from tidings.insights.suggestions import Behaviour, Spent, suggest


def test_budget_levels_follow_the_alert_percent_and_the_limit() -> None:
    assert budget_levels(159_999, limit=200_000, alert_percent=80) == ()
    assert budget_levels(160_000, limit=200_000, alert_percent=80) == (BudgetLevel.THRESHOLD,)
    assert budget_levels(100_000, limit=200_000, alert_percent=50) == (BudgetLevel.THRESHOLD,)
    assert budget_levels(200_000, limit=200_000, alert_percent=80) == (
        BudgetLevel.THRESHOLD,
        BudgetLevel.EXCEEDED,
    )
    assert used_percent(171_900, 200_000) == 85
    assert used_percent(-5, 200_000) == 0


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert period_start("week", date(2026, 11, 8)) == date(2026, 11, 2)  # a Sunday
    assert period_start("week", date(2026, 11, 9)) == date(2026, 11, 9)
    assert period_start("month", date(2026, 11, 30)) == date(2026, 11, 1)


def test_goal_levels_at_half_and_at_the_target() -> None:
    assert goal_levels(49_999, target=100_000) == ()
    assert goal_levels(50_000, target=100_000) == (GoalLevel.PROGRESS,)
    assert goal_levels(100_000, target=100_000) == (GoalLevel.PROGRESS, GoalLevel.REACHED)


def test_reward_is_off_at_zero_and_capped_per_year() -> None:
    policy = RewardPolicy(amount=888, per_year=4)
    assert reward_due(policy, paid_this_year=3) == 888
    assert reward_due(policy, paid_this_year=4) == 0
    assert reward_due(RewardPolicy(amount=0), paid_this_year=0) == 0


def test_three_travel_payments_suggest_a_travel_sub_wallet_with_evidence() -> None:
    behaviour = Behaviour(
        by_category={SpendingCategory.TRAVEL: Spent(payments=3, amount=135_000)},
        open_purposes=set(),
    )
    [travel] = suggest(behaviour)
    assert travel.purpose == "travel"
    assert (travel.payments, travel.amount, travel.window_days) == (3, 135_000, 90)
    assert travel.reason_in("en-GB") == "you have travelled often lately"
    assert travel.reason_in("zh-CN") == "最近常出行"


def test_two_travel_payments_or_an_open_travel_wallet_suggest_nothing() -> None:
    two = Behaviour(by_category={SpendingCategory.TRAVEL: Spent(2, 90_000)}, open_purposes=())
    assert suggest(two) == []
    opened = Behaviour(
        by_category={SpendingCategory.TRAVEL: Spent(9, 900_000)}, open_purposes={"travel"}
    )
    assert suggest(opened) == []


def test_frequent_shopping_and_a_regular_surplus() -> None:
    behaviour = Behaviour(
        by_category={SpendingCategory.SHOPPING: Spent(5, 60_000)},
        open_purposes=(),
        surplus_stretches=3,
        surplus=150_000,
        payments=12,
    )
    assert [(s.purpose, s.payments, s.amount) for s in suggest(behaviour)] == [
        ("shopping", 5, 60_000),
        ("savings", 12, 150_000),
    ]
    irregular = Behaviour(by_category={}, open_purposes=(), surplus_stretches=2, surplus=900_000)
    assert suggest(irregular) == []
