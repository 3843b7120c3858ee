"""Transaction risk scoring: explainable rules over `TransferSignals`, combined into 0-100.

Each rule is a named condition with a weight; the score is the sum of the weights of the rules
that fired, capped at 100, and the reasons are the fired rules' names in a fixed order, so an
operator (and the user) can see exactly why a transfer was held. Thresholds and weights live in
`RiskPolicy`, plain data that can be tuned and versioned without touching the rules. No I/O:
the service computes the signals, this module only decides.

Amount thresholds are minor units of the transfer's currency; the defaults are set for CNY
(1.00 CNY = 100).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tidings.risk.signals import RiskAssessment, RiskDecision, RiskLevel, TransferSignals

# Stable rule names: they are stored with held transfers and shown to users and operators.
AMOUNT_ABOVE_HISTORY: Final = "amount_above_history"
AMOUNT_FAR_ABOVE_HISTORY: Final = "amount_far_above_history"
LARGE_AMOUNT_WITHOUT_HISTORY: Final = "large_amount_without_history"
DAILY_OUTFLOW_ABOVE_HISTORY: Final = "daily_outflow_above_history"
VELOCITY_BURST: Final = "velocity_burst"
VELOCITY_HOUR: Final = "velocity_hour"
NEW_PAYEE: Final = "new_payee"
NEW_DEVICE: Final = "new_device"
NEW_LOCATION: Final = "new_location"
NIGHT_TIME: Final = "night_time"
RECENT_SENSITIVE_CHANGE: Final = "recent_sensitive_change"
NEW_ACCOUNT: Final = "new_account"
MULE_PASS_THROUGH: Final = "mule_pass_through"  # noqa: S105 - a rule name
CARD_TESTING: Final = "card_testing"
TAKEOVER_PATTERN: Final = "takeover_pattern"
SENSITIVE_CHANGE_THEN_LARGE_TRANSFER: Final = "sensitive_change_then_large_transfer"

RULES: Final = (
    AMOUNT_ABOVE_HISTORY,
    AMOUNT_FAR_ABOVE_HISTORY,
    LARGE_AMOUNT_WITHOUT_HISTORY,
    DAILY_OUTFLOW_ABOVE_HISTORY,
    VELOCITY_BURST,
    VELOCITY_HOUR,
    NEW_PAYEE,
    NEW_DEVICE,
    NEW_LOCATION,
    NIGHT_TIME,
    RECENT_SENSITIVE_CHANGE,
    NEW_ACCOUNT,
    MULE_PASS_THROUGH,
    CARD_TESTING,
    TAKEOVER_PATTERN,
    SENSITIVE_CHANGE_THEN_LARGE_TRANSFER,
)
"""Every rule, in the order reasons are reported."""


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """Thresholds, weights and cut-offs: data, so a policy can be tuned without code changes."""

    # Amount against the user's own history.
    min_history: int = 5
    """Below this many past transfers the history says nothing; absolute limits apply."""
    above_history_ratio: float = 4.0
    """`amount_above_history`: more than this many medians and more than the largest so far."""
    far_above_history_ratio: float = 12.0
    """`amount_far_above_history`: this many medians and beyond `far_above_max_ratio` x max."""
    far_above_max_ratio: float = 1.5
    history_median_floor: int = 2_000
    """Medians below 20.00 count as 20.00, so a coffee drinker's 60.00 dinner is not 'far'."""
    large_amount_without_history: int = 200_000
    """2,000.00: large for a user with (almost) no history."""
    notable_amount_ratio: float = 10.0
    """`takeover_pattern` counts amounts of this many medians even when below the maximum."""
    daily_outflow_ratio: float = 20.0
    """`daily_outflow_above_history`: 24 h outflow incl. this one over this many medians."""
    daily_outflow_floor: int = 100_000
    """...and at least 1,000.00, so small spenders' busy days stay quiet."""
    # Velocity.
    burst_count_10_min: int = 4
    """`velocity_burst`: this many transfers in the 10 minutes before this one."""
    hour_count: int = 8
    """`velocity_hour`: this many in the hour before."""
    # Context.
    new_device_window_minutes: float = 24 * 60
    new_location_window_minutes: float = 24 * 60
    sensitive_change_window_minutes: float = 48 * 60
    night_start_hour: int = 1
    night_end_hour: int = 5
    """Night is `night_start_hour` <= hour < `night_end_hour`, in the user's time zone."""
    new_account_days: float = 7.0
    # Patterns.
    mule_min_incoming: int = 50_000
    """Mule pass-through needs at least 500.00 received in the last 24 h..."""
    mule_pass_ratio: float = 0.2
    """...and at least this share of it going out again (including this transfer)."""
    card_testing_max_amount: int = 1_000
    """Card testing probes with payments of at most 10.00 to new payees..."""
    card_testing_min_count_10_min: int = 1
    """...with this many transfers in the 10 minutes before..."""
    card_testing_min_payees_24h: int = 1
    """...to this many distinct payees in 24 h (before this one)."""
    # Weights (points out of 100).
    weight_amount_above_history: int = 20
    weight_amount_far_above_history: int = 25
    weight_large_amount_without_history: int = 25
    weight_daily_outflow_above_history: int = 15
    weight_velocity_burst: int = 25
    weight_velocity_hour: int = 15
    weight_new_payee: int = 10
    weight_new_device: int = 15
    weight_new_location: int = 10
    weight_night_time: int = 5
    weight_recent_sensitive_change: int = 15
    weight_new_account: int = 10
    weight_mule_pass_through: int = 50
    weight_card_testing: int = 40
    weight_takeover_pattern: int = 35
    weight_sensitive_change_then_large_transfer: int = 30
    # Cut-offs.
    step_up_score: int = 60
    """At or above: hold the money and ask the owner for a one-time code."""
    block_score: int = 85
    """At or above: refuse the transfer."""
    # The optional online model (`risk.online`): it can only raise an allowed transfer.
    model_step_up_probability: float = 0.7
    """Step up an allowed transfer the model finds at least this likely to be fraud..."""
    model_min_outcomes: int = 2_000
    """...once it has learned from this many confirmed outcomes."""


DEFAULT_POLICY: Final = RiskPolicy()


def _within(minutes: float | None, window: float) -> bool:
    return minutes is not None and 0.0 <= minutes <= window


def assess_transfer(
    signals: TransferSignals, *, policy: RiskPolicy = DEFAULT_POLICY
) -> RiskAssessment:
    """Score one outgoing transfer; pure and fast (called inside the transfer's transaction)."""
    s = signals
    p = policy
    fired: list[str] = []
    score = 0
    amount = s.amount

    # Amount against the user's own history.
    above_history = outflow_spike = False
    # Notable: large enough to matter in a takeover, even if the user once paid more (rent).
    notable = amount >= p.large_amount_without_history
    if s.history_count >= p.min_history:
        median = max(s.history_median_amount, p.history_median_floor)
        notable = amount >= p.notable_amount_ratio * median
        if amount > s.history_max_amount and amount >= p.above_history_ratio * median:
            above_history = True
            fired.append(AMOUNT_ABOVE_HISTORY)
            score += p.weight_amount_above_history
            if (
                amount >= p.far_above_history_ratio * median
                and amount >= p.far_above_max_ratio * s.history_max_amount
            ):
                fired.append(AMOUNT_FAR_ABOVE_HISTORY)
                score += p.weight_amount_far_above_history
        outflow = s.amount_last_24h + amount
        if (
            not above_history
            and outflow >= p.daily_outflow_floor
            and outflow >= p.daily_outflow_ratio * median
        ):
            outflow_spike = True
            fired.append(DAILY_OUTFLOW_ABOVE_HISTORY)
            score += p.weight_daily_outflow_above_history
    elif amount >= p.large_amount_without_history:
        above_history = True
        fired.append(LARGE_AMOUNT_WITHOUT_HISTORY)
        score += p.weight_large_amount_without_history

    # Velocity.
    if s.count_last_10_min >= p.burst_count_10_min:
        fired.append(VELOCITY_BURST)
        score += p.weight_velocity_burst
    if s.count_last_hour >= p.hour_count:
        fired.append(VELOCITY_HOUR)
        score += p.weight_velocity_hour

    # Context.
    if s.new_payee:
        fired.append(NEW_PAYEE)
        score += p.weight_new_payee
    recent_device = s.new_device and _within(
        s.minutes_since_new_device_login, p.new_device_window_minutes
    )
    if recent_device:
        fired.append(NEW_DEVICE)
        score += p.weight_new_device
    recent_location = _within(s.minutes_since_new_location_login, p.new_location_window_minutes)
    if recent_location:
        fired.append(NEW_LOCATION)
        score += p.weight_new_location
    if p.night_start_hour <= s.local_hour < p.night_end_hour:
        fired.append(NIGHT_TIME)
        score += p.weight_night_time
    recent_change = _within(s.minutes_since_sensitive_change, p.sensitive_change_window_minutes)
    if recent_change:
        fired.append(RECENT_SENSITIVE_CHANGE)
        score += p.weight_recent_sensitive_change
    if s.account_age_days < p.new_account_days:
        fired.append(NEW_ACCOUNT)
        score += p.weight_new_account

    # Patterns.
    if (
        s.new_payee
        and s.incoming_last_24h >= p.mule_min_incoming
        and s.amount_last_24h + amount >= p.mule_pass_ratio * s.incoming_last_24h
    ):
        fired.append(MULE_PASS_THROUGH)
        score += p.weight_mule_pass_through
    if (
        amount <= p.card_testing_max_amount
        and s.new_payee
        and s.count_last_10_min >= p.card_testing_min_count_10_min
        and s.distinct_payees_last_24h >= p.card_testing_min_payees_24h
    ):
        fired.append(CARD_TESTING)
        score += p.weight_card_testing
    if recent_device and (
        (s.new_payee and (notable or recent_change))
        or (not s.new_payee and outflow_spike and notable)
    ):
        fired.append(TAKEOVER_PATTERN)
        score += p.weight_takeover_pattern
    if recent_change and above_history:
        fired.append(SENSITIVE_CHANGE_THEN_LARGE_TRANSFER)
        score += p.weight_sensitive_change_then_large_transfer

    score = min(score, 100)
    if score >= p.block_score:
        return RiskAssessment(score, RiskLevel.HIGH, RiskDecision.BLOCK, tuple(fired))
    if score >= p.step_up_score:
        return RiskAssessment(score, RiskLevel.MEDIUM, RiskDecision.STEP_UP, tuple(fired))
    return RiskAssessment(score, RiskLevel.LOW, RiskDecision.ALLOW, tuple(fired))
