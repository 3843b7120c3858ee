"""Budget alerts: once per wallet and period, at the right moment, on the user's calendar,
under concurrent payments, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.insights.builders import fix_clock, move_to, sub_wallet, told
from tests.ledger.builders import cny, new_user, pay, top_up, transfer
from tests.ledger.test_concurrency import run_together
from tidings.app.context import AppContext
from tidings.insights.events import BUDGET_EXCEEDED, BUDGET_THRESHOLD_REACHED
from tidings.kit.db import read_transaction
from tidings.wallets import service as wallets

LIMIT = 200_000  # 2,000.00


def travel_budget(context: AppContext, **budget: object) -> tuple[str, str]:
    """A user whose travel sub-wallet (2,000.00 a month) holds 5,000.00."""
    user_id, main = new_user(context)
    travel = sub_wallet(context, main, budget=LIMIT, **budget)  # type: ignore[arg-type]
    top_up(context, main, 500_000)
    transfer(context, kind="allocation", source=main, destination=travel, amount=cny(500_000))
    return user_id, travel


def test_crossing_80_percent_tells_the_figures_once(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    pay(context, travel, 100_000)
    assert told(context, user_id, BUDGET_THRESHOLD_REACHED) == []
    pay(context, travel, 64_000)
    [alert] = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert alert["used_percent"] == 82
    assert alert["spent"] == {"value": 164_000, "currency": "CNY"}
    assert alert["limit"] == {"value": LIMIT, "currency": "CNY"}
    assert alert["wallet_id"] == travel
    assert alert["wallet_name"] == "旅行"
    assert alert["period"] == "month"
    assert alert["period_start"] == "2026-11-01"


def test_second_payment_past_80_percent_sends_no_second_alert(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    pay(context, travel, 170_000)
    pay(context, travel, 10_000)
    pay(context, travel, 10_000)
    assert len(told(context, user_id, BUDGET_THRESHOLD_REACHED)) == 1
    assert told(context, user_id, BUDGET_EXCEEDED) == []


def test_reaching_the_limit_tells_once_and_a_refund_does_not_rearm(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    big = pay(context, travel, 200_000)
    [exceeded] = told(context, user_id, BUDGET_EXCEEDED)
    assert exceeded["spent"]["value"] == LIMIT
    # Straight to 100%: one notice of the limit, not an 80% one as well.
    assert told(context, user_id, BUDGET_THRESHOLD_REACHED) == []
    transfer(context, kind="refund", refund_of=big.id, amount=cny(150_000))
    pay(context, travel, 150_000)
    assert len(told(context, user_id, BUDGET_EXCEEDED)) == 1
    assert told(context, user_id, BUDGET_THRESHOLD_REACHED) == []


def test_a_refund_gives_back_the_budget_of_the_month_it_was_paid_in(
    context: AppContext,
) -> None:
    clock = fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    hotel = pay(context, travel, 150_000)
    move_to(clock, 2026, 12, 2, 9)
    # November's hotel refunded in December: November spent less, December no more room.
    transfer(context, kind="refund", refund_of=hotel.id, amount=cny(150_000))
    pay(context, travel, 170_000)
    [alert] = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert alert["period_start"] == "2026-12-01"
    assert alert["spent"]["value"] == 170_000
    assert alert["used_percent"] == 85
    with read_transaction(context.engine) as conn:
        shown = wallets.get_wallet(conn, travel, acting_user_id=None, at=context.clock.now())
    assert shown.budget is not None
    assert shown.budget.spent.value == 170_000  # the bar says what the alert said
    assert shown.budget.used_percent == 85


def test_a_new_month_warns_again(context: AppContext) -> None:
    clock = fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    pay(context, travel, 170_000)
    move_to(clock, 2026, 12, 1, 9)
    pay(context, travel, 170_000)
    alerts = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert [a["period_start"] for a in alerts] == ["2026-11-01", "2026-12-01"]


def test_budget_period_follows_the_users_time_zone(context: AppContext) -> None:
    # 30 Nov 23:30 in Shanghai is still November there (15:30 UTC); 1 Dec 00:30 is December.
    clock = fix_clock(context, 2026, 11, 30, 23, 30)
    user_id, travel = travel_budget(context)
    pay(context, travel, 100_000)
    move_to(clock, 2026, 12, 1, 0, 30)
    pay(context, travel, 100_000)
    # Neither month reached 80% on the user's calendar (a UTC month would have: 100%).
    assert told(context, user_id, BUDGET_THRESHOLD_REACHED) == []
    assert told(context, user_id, BUDGET_EXCEEDED) == []
    pay(context, travel, 60_000)
    [alert] = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert alert["period_start"] == "2026-12-01"
    assert alert["used_percent"] == 80


def test_weekly_budget_starts_on_monday_with_its_own_alert_percent(context: AppContext) -> None:
    clock = fix_clock(context, 2026, 11, 8, 20)  # a Sunday
    user_id, travel = travel_budget(context, period="week", alert_percent=50)
    pay(context, travel, 90_000)
    move_to(clock, 2026, 11, 9, 8)  # Monday: a new week
    pay(context, travel, 90_000)
    assert told(context, user_id, BUDGET_THRESHOLD_REACHED) == []
    pay(context, travel, 10_000)
    [alert] = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert alert["period"] == "week"
    assert alert["period_start"] == "2026-11-09"
    assert alert["used_percent"] == 50


def test_eight_concurrent_payments_cross_80_percent_once(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    pay(context, travel, 140_000)  # 70%
    # Eight payments of 50.00 at once: together 90%; exactly one of them crosses 80%.
    unhandled = run_together(8, lambda _: pay(context, travel, 5_000) and None)
    assert unhandled == []
    [alert] = told(context, user_id, BUDGET_THRESHOLD_REACHED)
    assert 80 <= alert["used_percent"] <= 90


def test_eight_concurrent_payments_past_the_limit_tell_it_once(context: AppContext) -> None:
    fix_clock(context, 2026, 11, 10, 12)
    user_id, travel = travel_budget(context)
    pay(context, travel, 150_000)
    unhandled = run_together(8, lambda _: pay(context, travel, 10_000) and None)
    assert unhandled == []
    assert len(told(context, user_id, BUDGET_THRESHOLD_REACHED)) == 1
    assert len(told(context, user_id, BUDGET_EXCEEDED)) == 1
