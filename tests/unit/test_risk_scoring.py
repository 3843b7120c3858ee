"""The risk rules, one behaviour per test: what each signal does to a transfer's fate."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tidings.risk.scoring import DEFAULT_POLICY, RULES, RiskPolicy, assess_transfer
from tidings.risk.signals import RiskAssessment, RiskDecision, RiskLevel, TransferSignals

ORDINARY = TransferSignals(
    amount=4_500,
    kind="payment",
    local_hour=13,
    account_age_days=400.0,
    history_count=60,
    history_median_amount=5_000,
    history_max_amount=40_000,
    count_last_10_min=0,
    count_last_hour=0,
    amount_last_24h=6_000,
    distinct_payees_last_24h=1,
    incoming_last_24h=0,
    new_payee=False,
    new_device=False,
    minutes_since_new_device_login=None,
    minutes_since_new_location_login=None,
    minutes_since_sensitive_change=None,
)
"""A lunch paid by a long-standing user at a usual place, at noon, from a known phone."""


def assess(**changes: Any) -> RiskAssessment:
    return assess_transfer(dataclasses.replace(ORDINARY, **changes))


def test_an_ordinary_lunch_is_allowed_with_no_reasons() -> None:
    result = assess()

    assert result == RiskAssessment(0, RiskLevel.LOW, RiskDecision.ALLOW, ())


def test_an_amount_above_anything_the_user_paid_before_is_a_reason_but_alone_is_allowed() -> None:
    result = assess(amount=45_000)

    assert result.reasons == ("amount_above_history",)
    assert result.decision is RiskDecision.ALLOW


def test_an_amount_within_the_users_own_range_is_not_unusual() -> None:
    assert assess(amount=39_000).reasons == ()


def test_a_big_purchase_at_a_new_shop_is_allowed_with_its_reasons() -> None:
    """Furniture from a shop never used before is common; alone it does not hold the money."""
    result = assess(amount=300_000, new_payee=True)

    assert result.reasons == ("amount_above_history", "amount_far_above_history", "new_payee")
    assert result.decision is RiskDecision.ALLOW


def test_the_same_purchase_an_hour_after_a_new_device_login_is_a_takeover_and_blocked() -> None:
    result = assess(
        amount=300_000, new_payee=True, new_device=True, minutes_since_new_device_login=60.0
    )

    assert "takeover_pattern" in result.reasons
    assert result.decision is RiskDecision.BLOCK


def test_a_large_transfer_to_a_new_payee_after_a_new_device_login_steps_up_even_below_the_max() -> (
    None
):
    """Attackers move ten medians even if the user once paid more (the rent)."""
    result = assess(
        amount=60_000,
        history_max_amount=200_000,
        new_payee=True,
        new_device=True,
        minutes_since_new_device_login=30.0,
    )

    assert "amount_above_history" not in result.reasons
    assert "takeover_pattern" in result.reasons
    assert result.decision is RiskDecision.STEP_UP


def test_a_second_large_transfer_to_the_attackers_payee_after_a_new_device_login_is_held() -> None:
    """The payee is no longer new, but the day's outflow after a new device is."""
    result = assess(
        amount=150_000,
        amount_last_24h=180_000,
        history_max_amount=200_000,
        new_device=True,
        minutes_since_new_device_login=40.0,
    )

    assert "daily_outflow_above_history" in result.reasons
    assert "takeover_pattern" in result.reasons
    assert result.decision is not RiskDecision.ALLOW


def test_a_coffee_drinkers_dinner_is_not_far_above_history() -> None:
    """Tiny medians are floored, so a 3x dinner is not treated like a 50x transfer."""
    result = assess(history_median_amount=500, history_max_amount=1_500, amount=6_000)

    assert "amount_far_above_history" not in result.reasons
    assert result.decision is RiskDecision.ALLOW


def test_a_large_first_transfer_of_a_user_without_history_is_a_reason() -> None:
    result = assess(history_count=1, history_median_amount=1_000, amount=250_000)

    assert result.reasons == ("large_amount_without_history",)


def test_a_modest_transfer_of_a_user_without_history_is_not() -> None:
    result = assess(history_count=0, history_median_amount=0, history_max_amount=0, amount=9_000)

    assert result.reasons == ()


def test_a_day_of_outflow_far_above_the_users_habit_is_a_reason() -> None:
    result = assess(amount=30_000, amount_last_24h=90_000)

    assert "daily_outflow_above_history" in result.reasons


def test_four_transfers_in_ten_minutes_is_a_velocity_burst() -> None:
    assert "velocity_burst" in assess(count_last_10_min=4, count_last_hour=4).reasons
    assert "velocity_burst" not in assess(count_last_10_min=3, count_last_hour=3).reasons


def test_eight_transfers_in_an_hour_is_high_velocity() -> None:
    assert "velocity_hour" in assess(count_last_hour=8).reasons


def test_a_new_payee_alone_is_allowed() -> None:
    result = assess(new_payee=True)

    assert result.reasons == ("new_payee",)
    assert result.decision is RiskDecision.ALLOW


def test_a_login_from_a_new_device_counts_for_a_day() -> None:
    assert assess(new_device=True, minutes_since_new_device_login=60.0).reasons == ("new_device",)
    assert assess(new_device=True, minutes_since_new_device_login=3 * 24 * 60.0).reasons == ()


def test_a_new_device_that_is_no_longer_the_latest_login_does_not_count() -> None:
    assert assess(new_device=False, minutes_since_new_device_login=30.0).reasons == ()


def test_a_login_from_a_new_city_counts_for_a_day() -> None:
    assert assess(minutes_since_new_location_login=120.0).reasons == ("new_location",)


def test_a_transfer_at_three_in_the_morning_is_night_time_but_allowed() -> None:
    result = assess(local_hour=3)

    assert result.reasons == ("night_time",)
    assert result.decision is RiskDecision.ALLOW
    assert assess(local_hour=23).reasons == ()


def test_a_password_change_two_days_ago_still_counts_but_not_a_week_ago() -> None:
    assert assess(minutes_since_sensitive_change=47 * 60.0).reasons == ("recent_sensitive_change",)
    assert assess(minutes_since_sensitive_change=7 * 24 * 60.0).reasons == ()


def test_a_week_old_account_is_new() -> None:
    assert assess(account_age_days=2.0).reasons == ("new_account",)


def test_large_transfer_to_new_payee_minutes_after_password_change_steps_up_or_blocks() -> None:
    result = assess(amount=300_000, new_payee=True, minutes_since_sensitive_change=12.0)

    assert "sensitive_change_then_large_transfer" in result.reasons
    assert "takeover_pattern" not in result.reasons  # no new device or location
    assert result.decision in {RiskDecision.STEP_UP, RiskDecision.BLOCK}


def test_new_device_password_change_then_large_transfer_to_new_payee_is_blocked() -> None:
    result = assess(
        amount=300_000,
        new_payee=True,
        new_device=True,
        minutes_since_new_device_login=20.0,
        minutes_since_new_location_login=20.0,
        minutes_since_sensitive_change=12.0,
    )

    assert "takeover_pattern" in result.reasons
    assert result.decision is RiskDecision.BLOCK
    assert result.level is RiskLevel.HIGH
    assert result.score == 100


def test_a_traveller_with_a_new_device_after_a_big_hotel_bill_still_pays_usual_places() -> None:
    """The day's outflow is high, but an ordinary amount to a known payee is no takeover."""
    result = assess(
        amount=4_000,
        amount_last_24h=150_000,
        new_device=True,
        minutes_since_new_device_login=300.0,
        minutes_since_new_location_login=300.0,
    )

    assert "daily_outflow_above_history" in result.reasons
    assert "takeover_pattern" not in result.reasons
    assert result.decision is RiskDecision.ALLOW


def test_a_new_device_and_a_usual_payee_at_a_usual_amount_is_allowed() -> None:
    """Travelling with a new phone and paying the usual merchants is legitimate."""
    result = assess(new_device=True, minutes_since_new_device_login=90.0)

    assert result.decision is RiskDecision.ALLOW


def test_money_received_and_sent_straight_on_to_a_new_payee_is_mule_pass_through() -> None:
    result = assess(
        kind="p2p",
        amount=35_000,
        incoming_last_24h=50_000,
        amount_last_24h=0,
        new_payee=True,
    )

    assert "mule_pass_through" in result.reasons
    assert result.decision is RiskDecision.STEP_UP


def test_spending_a_salary_at_known_payees_is_not_mule_pass_through() -> None:
    result = assess(amount=70_000, incoming_last_24h=1_000_000, amount_last_24h=700_000)

    assert "mule_pass_through" not in result.reasons


def test_tiny_payments_to_new_payees_minutes_apart_is_card_testing_but_alone_allowed() -> None:
    """A market morning looks the same; the rule alone does not hold the money."""
    result = assess(amount=150, new_payee=True, count_last_10_min=1, distinct_payees_last_24h=1)

    assert result.reasons == ("new_payee", "card_testing")
    assert result.decision is RiskDecision.ALLOW


@pytest.mark.parametrize(
    "context",
    [
        {"new_device": True, "minutes_since_new_device_login": 3.0},
        {"account_age_days": 0.5},
        {"count_last_10_min": 5, "count_last_hour": 5},
    ],
    ids=["new_device", "new_account", "burst"],
)
def test_card_testing_from_a_new_device_a_new_account_or_in_a_burst_steps_up(
    context: dict[str, Any],
) -> None:
    changes = {"amount": 150, "new_payee": True, "count_last_10_min": 2} | context
    result = assess(distinct_payees_last_24h=3, **changes)

    assert "card_testing" in result.reasons
    assert result.decision is not RiskDecision.ALLOW


def test_a_fresh_account_sending_on_what_it_just_received_is_a_mule() -> None:
    result = assess(
        amount=120_000,
        account_age_days=8.0,
        history_count=3,
        history_median_amount=2_000,
        history_max_amount=4_000,
        amount_last_24h=0,
        incoming_last_24h=500_000,
        new_payee=True,
    )

    assert "mule_pass_through" in result.reasons
    assert result.decision is RiskDecision.STEP_UP


def test_several_coffees_at_the_same_places_is_not_card_testing() -> None:
    result = assess(amount=900, count_last_hour=3, distinct_payees_last_24h=2)

    assert "card_testing" not in result.reasons


def test_reasons_are_stable_rule_names_in_rule_order() -> None:
    result = assess(
        amount=300_000,
        new_payee=True,
        new_device=True,
        minutes_since_new_device_login=5.0,
        local_hour=2,
        count_last_10_min=5,
        count_last_hour=9,
        account_age_days=1.0,
    )

    assert set(result.reasons) <= set(RULES)
    assert list(result.reasons) == sorted(result.reasons, key=RULES.index)


def test_the_score_never_exceeds_100() -> None:
    everything = assess(
        amount=300_000,
        new_payee=True,
        new_device=True,
        minutes_since_new_device_login=5.0,
        minutes_since_new_location_login=5.0,
        minutes_since_sensitive_change=5.0,
        local_hour=2,
        count_last_10_min=9,
        count_last_hour=9,
        account_age_days=1.0,
    )

    assert everything.score == 100


@pytest.mark.parametrize(
    ("step_up_score", "block_score", "decision"),
    [(20, 90, RiskDecision.STEP_UP), (20, 25, RiskDecision.BLOCK), (30, 90, RiskDecision.ALLOW)],
)
def test_the_policys_cut_offs_decide(
    step_up_score: int, block_score: int, decision: RiskDecision
) -> None:
    policy = RiskPolicy(step_up_score=step_up_score, block_score=block_score)
    signals = dataclasses.replace(
        ORDINARY, new_payee=True, new_device=True, minutes_since_new_device_login=5.0
    )

    assert assess_transfer(signals, policy=policy).score == 25
    assert assess_transfer(signals, policy=policy).decision is decision


def test_weights_are_policy_data() -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, weight_new_payee=60)

    assert assess_transfer(
        dataclasses.replace(ORDINARY, new_payee=True), policy=policy
    ).decision is (RiskDecision.STEP_UP)
