"""Budget alerts and goal milestones, decided in the transaction of the money movement that
changes them: a payment (or its refund) re-computes its period's spending; money moved into a
sub-wallet with a goal compares its balance with the target. A unique row per level keeps
each notice, and each reward, to once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.events import EventData, record_event, stored_data
from tidings.insights import events, repository
from tidings.insights.budgets import (
    DEFAULT_ALERT_PERCENT,
    BudgetLevel,
    GoalLevel,
    RewardPolicy,
    budget_levels,
    goal_levels,
    local_midnight_utc,
    period_start,
    reward_due,
    used_percent,
)
from tidings.kit.db import transaction_lock
from tidings.kit.money import money, to_major


@dataclass(frozen=True, slots=True)
class TrackedWallet:
    """A sub-wallet as its budget and goal need it (read with its lock, no query more)."""

    id: str
    user_id: str
    account_id: str
    name: str
    currency: str
    timezone: str
    locale: str
    budget_limit: int | None
    budget_period: str | None
    alert_percent: int | None
    goal_target: int | None


@dataclass(frozen=True, slots=True)
class BudgetPeriod:
    """A budget's current period and what it has spent."""

    start: date
    spent: int


def budget_period(
    conn: Connection, *, wallet_id: str, period: str, timezone: str, at: datetime
) -> BudgetPeriod:
    """The period holding `at` on the user's calendar, and its payments minus their refunds:
    the counter the alerts read, so the wallet's budget bar and its alerts agree."""
    start = period_start(period, at.astimezone(ZoneInfo(timezone)).date())
    return BudgetPeriod(start=start, spent=repository.period_spent(conn, wallet_id, start))


def _record(
    conn: Connection, wallet: TrackedWallet, kind: str, data: EventData, at: datetime
) -> None:
    record_event(
        conn, type=kind, user_id=wallet.user_id, at=at, data=stored_data(data, occurred_at=at)
    )


def track_budget(
    conn: Connection,
    wallet: TrackedWallet,
    *,
    spent_change: int,
    spent_at: datetime,
    at: datetime,
) -> None:
    """After a payment from (`spent_change` > 0) or a refund to (< 0) a budgeted sub-wallet:
    count it in the period holding `spent_at` (one upsert), then the alert of each level the
    period's spending first reaches, once per wallet and period. A refund's `spent_at` is
    when its payment was made: it gives back that period's spending, as the spending views
    net it, never a later period's. A period's first notice of the limit says only that (not
    80% as well); a refund never re-arms a level."""
    limit, period = wallet.budget_limit, wallet.budget_period
    assert limit is not None and period is not None, "only a budgeted wallet is tracked"
    start = period_start(period, spent_at.astimezone(ZoneInfo(wallet.timezone)).date())
    spent = repository.add_spending(
        conn, wallet_id=wallet.id, period_start=start, change=spent_change
    )
    levels = budget_levels(
        spent, limit=limit, alert_percent=wallet.alert_percent or DEFAULT_ALERT_PERCENT
    )
    if not levels:
        return
    claimed = repository.claim_budget_levels(
        conn,
        [
            {
                "wallet_id": wallet.id,
                "period_start": start,
                "level": level.value,
                "user_id": wallet.user_id,
                "created_at": at,
            }
            for level in levels
        ],
    )
    spent_money, limit_money = money(spent, wallet.currency), money(limit, wallet.currency)
    common = {"wallet_id": wallet.id, "wallet_name": wallet.name, "period": period}
    if BudgetLevel.EXCEEDED in claimed:
        exceeded = events.BudgetExceeded(
            **common, period_start=start, spent=spent_money, limit=limit_money
        )
        _record(conn, wallet, events.BUDGET_EXCEEDED, exceeded, at)
    elif BudgetLevel.THRESHOLD in claimed:
        reached = events.BudgetThresholdReached(
            **common,
            period_start=start,
            used_percent=used_percent(spent, limit),
            spent=spent_money,
            limit=limit_money,
        )
        _record(conn, wallet, events.BUDGET_THRESHOLD_REACHED, reached, at)


def track_goal(
    conn: Connection,
    wallet: TrackedWallet,
    *,
    balance: int,
    at: datetime,
    rewards: RewardPolicy,
) -> int:
    """After money reached a sub-wallet with a goal: its notice of each level the balance
    first reaches, once per goal; the reward the caller must pay into the wallet (0: none),
    decided here and said in `wallet.goal.reached`."""
    target = wallet.goal_target
    assert target is not None, "only a wallet with a goal is tracked"
    levels = goal_levels(balance, target=target)
    if not levels:
        return 0
    claimed = repository.claim_goal_levels(
        conn,
        [
            {
                "wallet_id": wallet.id,
                "target": target,
                "level": level.value,
                "user_id": wallet.user_id,
                "created_at": at,
            }
            for level in levels
        ],
    )
    reward = (
        _claim_reward(conn, wallet, target, rewards, at=at) if GoalLevel.REACHED in claimed else 0
    )
    target_money = money(target, wallet.currency)
    if GoalLevel.REACHED in claimed:
        shown = _reward_words(reward, wallet.currency, wallet.locale)
        reached = events.GoalReached(
            wallet_id=wallet.id,
            wallet_name=wallet.name,
            target=target_money,
            reward=shown if reward else None,
            reward_amount=money(reward, wallet.currency) if reward else None,
        )
        _record(conn, wallet, events.GOAL_REACHED, reached, at)
        return reward
    if GoalLevel.PROGRESS in claimed:
        progress = events.GoalProgress(
            wallet_id=wallet.id,
            wallet_name=wallet.name,
            progress_percent=min(100, balance * 100 // target),
            saved=money(balance, wallet.currency),
            target=target_money,
        )
        _record(conn, wallet, events.GOAL_PROGRESS, progress, at)
    return 0


def _claim_reward(
    conn: Connection, wallet: TrackedWallet, target: int, rewards: RewardPolicy, *, at: datetime
) -> int:
    """The reward of a goal this transaction has just reached, written on its milestone row.
    The user's rewards of the year are counted under a lock per user, so goals reached at
    the same moment (two top-ups, two sub-wallets) never pay past the yearly cap."""
    if rewards.amount <= 0:
        return 0
    transaction_lock(conn, f"insights.goal_rewards:{wallet.user_id}")
    local = at.astimezone(ZoneInfo(wallet.timezone)).date()
    year_start = local_midnight_utc(local.replace(month=1, day=1), wallet.timezone)
    paid = repository.rewards_paid_since(conn, wallet.user_id, year_start)
    reward = reward_due(rewards, paid_this_year=paid)
    if reward:
        repository.set_goal_reward(conn, wallet_id=wallet.id, target=target, reward=reward)
    return reward


def _reward_words(amount: int, currency: str, locale: str) -> str:
    """What the reward was, in the reader's words (`8.88元现金`, `CNY 8.88 in cash`)."""
    major = to_major(amount, currency)
    if locale.lower().startswith("en"):
        return f"{currency} {major:,} in cash"
    return f"{major:,}元现金" if currency == "CNY" else f"{currency} {major:,}现金"
