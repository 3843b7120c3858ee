"""De-duplication keys: the same notice twice is one, the next period's is a new one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tidings.notify.rules import RULES, intents_for

THRESHOLD = "wallet.budget.threshold_reached"
EXCEEDED = "wallet.budget.exceeded"


def key(
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    *,
    timezone: str | None = "Asia/Shanghai",
    event_id: str = "e1",
) -> str | None:
    [intent] = intents_for(
        event_type=event_type,
        event_id=event_id,
        user_id="usr_1",
        data=data,
        at=at,
        timezone=timezone,
    )
    return intent.dedup_key


def budget(**extra: Any) -> dict[str, Any]:
    money = {"value": 100_000, "currency": "CNY"}
    return {"wallet_id": "wal_1", "wallet_name": "旅行", "used_percent": 85,
            "spent": money, "limit": money, **extra}  # fmt: skip


@pytest.mark.parametrize("event_type", [THRESHOLD, EXCEEDED])
def test_budget_alerts_of_two_months_have_two_keys_and_one_month_one(event_type: str) -> None:
    november = key(event_type, budget(), datetime(2026, 11, 20, 4, tzinfo=UTC))
    later_november = key(event_type, budget(), datetime(2026, 11, 28, 4, tzinfo=UTC))
    december = key(event_type, budget(), datetime(2026, 12, 5, 4, tzinfo=UTC))
    assert november is not None
    assert december is not None
    assert november == later_november
    assert november != december
    assert "2026-11-01" in november


def test_budget_period_is_the_users_month_not_utcs() -> None:
    # 2026-12-01 00:30 in Shanghai is still 30 November in UTC
    first_of_december = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert "2026-12-01" in (key(THRESHOLD, budget(), first_of_december) or "")
    assert "2026-11-01" in (key(THRESHOLD, budget(), first_of_december, timezone=None) or "")


def test_budget_period_start_in_the_data_wins_and_weeks_start_on_monday() -> None:
    at = datetime(2026, 12, 2, 4, tzinfo=UTC)  # a Wednesday
    assert "2026-11-30" in (key(THRESHOLD, budget(period="week"), at) or "")
    assert "2026-11-15" in (key(THRESHOLD, budget(period_start="2026-11-15"), at) or "")
    occurred = budget(occurred_at="2026-11-30T23:59:00+08:00")
    assert "2026-11-01" in (key(THRESHOLD, occurred, at) or "")


def test_a_new_goal_on_the_same_wallet_is_progress_anew() -> None:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    data = {"wallet_id": "wal_1", "wallet_name": "存钱", "progress_percent": 50,
            "saved": {"value": 5_000, "currency": "CNY"}}  # fmt: skip
    first = key(
        "wallet.goal.progress", {**data, "target": {"value": 10_000, "currency": "CNY"}}, at
    )
    second = key(
        "wallet.goal.progress", {**data, "target": {"value": 20_000, "currency": "CNY"}}, at
    )
    assert first != second


def test_a_suggestion_repeats_only_after_its_90_days() -> None:
    data = {"purpose": "travel", "reason": "最近常出行"}
    kind = "marketing.sub_wallet.suggestion"
    day_one = key(kind, data, datetime(2026, 1, 10, tzinfo=UTC))
    assert day_one == key(kind, data, datetime(2026, 1, 11, tzinfo=UTC))
    assert day_one != key(kind, data, datetime(2026, 4, 11, tzinfo=UTC))


@pytest.mark.parametrize(
    "event_type",
    [
        THRESHOLD,
        EXCEEDED,
        "wallet.goal.progress",
        "wallet.goal.reached",
        "wallet.statement.ready",
        "credit.repayment.due",
        "credit.overdue",
        "marketing.sub_wallet.suggestion",
    ],
)
def test_every_periodic_notice_has_a_key(event_type: str) -> None:
    assert RULES[event_type].dedup is not None
