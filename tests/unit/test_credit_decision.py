"""The credit decision and limit review rules are plain functions over figures."""

from __future__ import annotations

from tidings.credit.decision import WalletHistory, reviewed_limit, score, scoring_rule
from tidings.credit.events import LimitChangeReason

NEW = WalletHistory(account_age_days=0, money_in_90d=0, payments_90d=0, balance=0)
SEASONED = WalletHistory(
    account_age_days=400, money_in_90d=5_000_000, payments_90d=40, balance=300_000
)


def test_a_new_empty_wallet_is_rejected_and_a_seasoned_one_approved_within_the_request() -> None:
    assert scoring_rule(NEW, requested=500_000, max_limit=20_000_000).outcome == "reject"
    approved = scoring_rule(SEASONED, requested=500_000, max_limit=20_000_000)
    assert (approved.outcome, approved.score, approved.limit) == ("approve", 100, 500_000)
    capped = scoring_rule(SEASONED, requested=50_000_000, max_limit=8_000_000)
    assert capped.limit == 8_000_000


def test_the_middle_band_is_referred_to_an_operator() -> None:
    middle = WalletHistory(account_age_days=20, money_in_90d=1_000_000, payments_90d=0, balance=0)
    assert score(middle) == 40
    decision = scoring_rule(middle, requested=100_000, max_limit=20_000_000)
    assert (decision.outcome, decision.limit) == ("refer", None)


def test_review_lowers_an_overdue_line_to_half_but_never_below_what_is_owed() -> None:
    assert (
        reviewed_limit(
            limit=1_000_000,
            outstanding=100_000,
            max_limit=9_000_000,
            paid=5,
            ever_overdue=1,
            overdue_now=1,
        ).limit
        == 500_000
    )
    assert (
        reviewed_limit(
            limit=1_000_000,
            outstanding=800_000,
            max_limit=9_000_000,
            paid=0,
            ever_overdue=1,
            overdue_now=1,
        ).limit
        == 800_000
    )


def test_review_raises_a_line_repaid_on_time_by_a_fifth_up_to_the_product_maximum() -> None:
    assert (
        reviewed_limit(
            limit=1_000_000,
            outstanding=0,
            max_limit=9_000_000,
            paid=3,
            ever_overdue=0,
            overdue_now=0,
        ).limit
        == 1_200_000
    )
    assert (
        reviewed_limit(
            limit=1_000_000,
            outstanding=0,
            max_limit=1_100_000,
            paid=3,
            ever_overdue=0,
            overdue_now=0,
        ).limit
        == 1_100_000
    )
    assert (
        reviewed_limit(
            limit=1_000_000,
            outstanding=0,
            max_limit=9_000_000,
            paid=3,
            ever_overdue=1,
            overdue_now=0,
        ).limit
        == 1_000_000
    )  # once late, not raised


def test_review_says_why_the_limit_changed() -> None:
    history = {"outstanding": 0, "max_limit": 9_000_000, "paid": 3}
    lowered = reviewed_limit(limit=1_000_000, ever_overdue=1, overdue_now=1, **history)
    raised = reviewed_limit(limit=1_000_000, ever_overdue=0, overdue_now=0, **history)
    kept = reviewed_limit(limit=1_000_000, ever_overdue=1, overdue_now=0, **history)
    assert lowered.reason is LimitChangeReason.OVERDUE
    assert raised.reason is LimitChangeReason.REPAID_ON_TIME
    assert kept.reason is LimitChangeReason.ACCOUNT_REVIEW
