"""The online model: it learns confirmed outcomes, and can only raise what the rules allow."""

from __future__ import annotations

import dataclasses

from tidings.risk.online import ONLINE_MODEL, OnlineRiskModel, features, with_model
from tidings.risk.scoring import DEFAULT_POLICY, assess_transfer
from tidings.risk.signals import RiskAssessment, RiskDecision, RiskLevel, TransferSignals

QUIET = TransferSignals(
    amount=4_000,
    kind="payment",
    local_hour=12,
    account_age_days=300.0,
    history_count=50,
    history_median_amount=4_000,
    history_max_amount=30_000,
    count_last_10_min=0,
    count_last_hour=0,
    amount_last_24h=5_000,
    distinct_payees_last_24h=1,
    incoming_last_24h=0,
    new_payee=False,
    new_device=False,
    minutes_since_new_device_login=None,
    minutes_since_new_location_login=None,
    minutes_since_sensitive_change=None,
)
SNEAKY = dataclasses.replace(QUIET, kind="withdrawal", local_hour=3, new_payee=True)
"""Allowed by the rules (new payee at night, ordinary amount) but, here, always fraud."""
ALLOWED = RiskAssessment(15, RiskLevel.LOW, RiskDecision.ALLOW, ("new_payee", "night_time"))


def test_features_are_finite_numbers_for_a_user_without_any_history() -> None:
    empty = dataclasses.replace(
        QUIET, history_count=0, history_median_amount=0, history_max_amount=0
    )

    values = features(empty, assess_transfer(empty))

    assert all(isinstance(value, float) for value in values.values())
    assert values["amount_over_max"] > 0


def test_the_model_learns_that_a_pattern_the_rules_allow_is_fraud() -> None:
    model = OnlineRiskModel()
    quiet = assess_transfer(QUIET)
    sneaky = assess_transfer(SNEAKY)
    assert sneaky.decision is RiskDecision.ALLOW
    before = model.fraud_probability(SNEAKY, sneaky)

    for _ in range(300):
        for _ in range(5):
            model.learn(QUIET, quiet, fraudulent=False)
        model.learn(SNEAKY, sneaky, fraudulent=True)

    assert model.outcomes_learned == 1_800
    assert model.fraud_probability(SNEAKY, sneaky) > 0.9 > before
    assert model.fraud_probability(QUIET, quiet) < 0.1


def test_a_confident_model_steps_up_an_allowed_transfer_and_says_so() -> None:
    result = with_model(ALLOWED, 0.95, outcomes_learned=10_000)

    assert result.decision is RiskDecision.STEP_UP
    assert result.reasons == ("new_payee", "night_time", ONLINE_MODEL)
    assert result.score >= DEFAULT_POLICY.step_up_score


def test_an_unsure_or_untrained_model_changes_nothing() -> None:
    assert with_model(ALLOWED, 0.5, outcomes_learned=10_000) is ALLOWED
    assert with_model(ALLOWED, 0.99, outcomes_learned=10) is ALLOWED


def test_the_model_never_lowers_what_the_rules_decided() -> None:
    held = RiskAssessment(70, RiskLevel.MEDIUM, RiskDecision.STEP_UP, ("takeover_pattern",))

    assert with_model(held, 0.0, outcomes_learned=10_000) is held
