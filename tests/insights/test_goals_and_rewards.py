"""Savings goals: half-way and reached once each per goal; the reward is a real, balanced
transfer of kind `reward` from the rewards account, paid once per goal and capped per year."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from tests.insights.builders import fix_clock, move_to, sub_wallet, told
from tests.ledger.builders import (
    assert_trial_balance_ok,
    balance_of,
    cny,
    new_user,
    top_up,
    transfer,
)
from tests.ledger.test_concurrency import run_together
from tidings.app.context import AppContext
from tidings.insights.budgets import DEFAULT_REWARDS, RewardPolicy
from tidings.insights.events import GOAL_PROGRESS, GOAL_REACHED
from tidings.kit.db import read_transaction
from tidings.ledger import service as ledger
from tidings.ledger.models import accounts
from tidings.wallets import service as wallets
from tidings.wallets.exceptions import InvalidTransfer

TARGET = 100_000  # 1,000.00


def saver(context: AppContext) -> tuple[str, str, str]:
    """A user with 10,000.00 in the main wallet and a savings sub-wallet aiming at 1,000.00."""
    user_id, main = new_user(context)
    goal = sub_wallet(context, main, name="旅行基金", goal=TARGET)
    top_up(context, main, 1_000_000)
    return user_id, main, goal


def allocate(
    context: AppContext,
    source: str,
    destination: str,
    value: int,
    *,
    rewards: RewardPolicy = DEFAULT_REWARDS,
) -> None:
    transfer(
        context,
        kind="allocation",
        source=source,
        destination=destination,
        amount=cny(value),
        rewards=rewards,
    )


def test_half_way_and_reached_are_told_once_each(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, main, goal = saver(context)
    allocate(context, main, goal, 30_000)
    assert told(context, user_id, GOAL_PROGRESS) == []
    allocate(context, main, goal, 30_000)
    [progress] = told(context, user_id, GOAL_PROGRESS)
    assert progress["progress_percent"] == 60
    assert progress["saved"] == {"value": 60_000, "currency": "CNY"}
    allocate(context, main, goal, 10_000)
    allocate(context, main, goal, 40_000)
    [reached] = told(context, user_id, GOAL_REACHED)
    assert reached["target"] == {"value": TARGET, "currency": "CNY"}
    assert reached["reward"] == "8.88元现金"
    assert reached["reward_amount"] == {"value": 888, "currency": "CNY"}
    assert len(told(context, user_id, GOAL_PROGRESS)) == 1


def test_goal_reward_is_paid_once_per_goal(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, main, goal = saver(context)
    allocate(context, main, goal, TARGET)
    assert balance_of(context, goal) == TARGET + 888
    # Out and in again: no second notice, no second reward.
    allocate(context, goal, main, TARGET)
    allocate(context, main, goal, TARGET)
    assert balance_of(context, goal) == TARGET + 888
    assert len(told(context, user_id, GOAL_REACHED)) == 1
    with read_transaction(context.engine) as conn:
        page = wallets.list_transactions(
            conn,
            context.keyring,
            goal,
            acting_user_id=user_id,
            limit=50,
            cursor=None,
            kinds=None,
            since=None,
            until=None,
        )
        rewards = [item for item in page.items if item.kind == "reward"]
        assert [r.amount.value for r in rewards] == [888]
        assert_trial_balance_ok(conn)
        paid_out = conn.execute(
            select(accounts.c.balance).where(accounts.c.kind == "rewards")
        ).scalars()
        assert sum(int(b) for b in paid_out) == -888
        shown = [a for a in ledger.trial_balance(conn).accounts if a.kind == "rewards"]
        assert sum(a.balance for a in shown) == -888


def test_reward_cap_per_year(context: AppContext) -> None:
    clock = fix_clock(context, 2026, 3, 1, 12)
    policy = RewardPolicy(amount=888, per_year=2)
    user_id, main = new_user(context)
    top_up(context, main, 10_000_000)
    goals = [sub_wallet(context, main, name=f"目标{n}", goal=TARGET) for n in range(4)]

    def save(goal: str) -> None:
        allocate(context, main, goal, TARGET, rewards=policy)

    for goal in goals[:3]:
        save(goal)
    assert [balance_of(context, g) for g in goals[:3]] == [TARGET + 888, TARGET + 888, TARGET]
    reached = told(context, user_id, GOAL_REACHED)
    assert [r.get("reward") for r in reached] == ["8.88元现金", "8.88元现金", None]
    move_to(clock, 2027, 1, 1, 8)  # a new year on the user's calendar
    save(goals[3])
    assert balance_of(context, goals[3]) == TARGET + 888


def test_goals_reached_at_the_same_moment_pay_no_more_than_the_yearly_cap(
    context: AppContext,
) -> None:
    fix_clock(context, 2026, 3, 1, 12)
    policy = RewardPolicy(amount=888, per_year=2)
    user_id, main = new_user(context)
    goals = [sub_wallet(context, main, name=f"目标{n}", goal=TARGET) for n in range(6)]
    # Six top-ups into six goal sub-wallets at once: each reaches its goal, two are rewarded.
    unhandled = run_together(
        6,
        lambda n: (
            transfer(
                context, kind="top_up", destination=goals[n], amount=cny(TARGET), rewards=policy
            )
            and None
        ),
    )
    assert unhandled == []
    reached = told(context, user_id, GOAL_REACHED)
    assert len(reached) == 6
    assert sorted(r.get("reward") or "" for r in reached) == ["", "", "", "", *["8.88元现金"] * 2]
    assert sorted(balance_of(context, g) for g in goals) == [TARGET] * 4 + [TARGET + 888] * 2


def test_rewards_off_still_tell_the_goal(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, main, goal = saver(context)
    allocate(context, main, goal, TARGET, rewards=dataclasses.replace(RewardPolicy(), amount=0))
    [reached] = told(context, user_id, GOAL_REACHED)
    assert "reward" not in reached or reached["reward"] is None
    assert balance_of(context, goal) == TARGET


def test_nobody_may_ask_for_a_reward(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    _, _, goal = saver(context)
    with pytest.raises(InvalidTransfer) as refused:
        transfer(context, kind="reward", destination=goal, amount=cny(888))
    assert refused.value.field == "kind"
