"""Assessing an outgoing transfer (called by wallets): the rules, the online model and the
step-up limits give one `RiskAssessment`: allow, step up (the reasons) or block (the reasons),
with its score. The wallet acts on it; the one-time code of a step-up is `risk.verification`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.config import Settings
from tidings.kit.clock import as_utc
from tidings.risk import features, learning, repository
from tidings.risk.learning import ModelCache
from tidings.risk.scoring import DEFAULT_POLICY, assess_transfer
from tidings.risk.signals import OutgoingTransfer, RiskAssessment, RiskDecision, RiskLevel

AMOUNT_AT_STEP_UP_LIMIT: Final = "amount_at_step_up_limit"
"""The reason added when the amount alone (>= `TIDINGS_STEP_UP_AMOUNT`) asks for a code."""
DAILY_AMOUNT_AT_STEP_UP_LIMIT: Final = "daily_amount_at_step_up_limit"
"""The reason added when the user's local day of outgoing transfers, this one included,
reaches `TIDINGS_STEP_UP_DAILY_AMOUNT`: splitting a large sum does not avoid the code."""
LIMIT_REASONS: Final = frozenset({AMOUNT_AT_STEP_UP_LIMIT, DAILY_AMOUNT_AT_STEP_UP_LIMIT})


@dataclass(frozen=True, slots=True)
class StepUpPolicy:
    """The settings of step-up verification, passed in so tests and callers can change them."""

    step_up_amount: int = 500_000
    """Outgoing transfers at or above this (minor units) always ask for a code."""
    daily_amount: int = 500_000
    """So does one that takes the user's local day of outgoing transfers (succeeded or held)
    to this or past it."""
    code_ttl: timedelta = timedelta(minutes=15)
    hold_ttl: timedelta = timedelta(minutes=15)
    attempts: int = 3
    scoring: bool = True
    """False skips the risk check altogether: where a banking core in front already scores
    (`TIDINGS_RISK_SCORING=false`), when importing history (the demo), and when exercising the
    books alone (ledger tests and benchmarks, whose repetitive traffic looks like fraud)."""
    model: ModelCache | None = None
    """The online model beside the rules (`TIDINGS_RISK_MODEL=true`), or none."""
    contact_cooling: timedelta = timedelta(hours=48)
    """After a phone or email change: large transfers are refused, and codes go only to
    contacts and devices older than this."""

    @classmethod
    def from_settings(cls, settings: Settings, *, model: ModelCache | None = None) -> StepUpPolicy:
        return cls(
            step_up_amount=settings.step_up_amount,
            daily_amount=settings.step_up_daily_amount,
            code_ttl=timedelta(seconds=settings.verification_code_ttl_seconds),
            hold_ttl=timedelta(seconds=settings.step_up_hold_ttl_seconds),
            attempts=settings.verification_attempts,
            scoring=settings.risk_scoring,
            model=model if settings.risk_model else None,
            contact_cooling=timedelta(hours=settings.contact_change_cooling_hours),
        )


DEFAULT_STEP_UP: Final = StepUpPolicy()
UNSCORED: Final = StepUpPolicy(scoring=False)


def assess(
    conn: Connection,
    transfer: OutgoingTransfer,
    *,
    at: datetime,
    policy: StepUpPolicy = DEFAULT_STEP_UP,
) -> RiskAssessment:
    """The rules' decision; at or above a step-up limit it is always a step-up.

    The limits: this transfer alone reaching `policy.step_up_amount`, or the user's outgoing
    transfers since midnight in their time zone (succeeded or held), this one included,
    reaching `policy.daily_amount`. A user's own step-up amount lowers both, never raises
    them.

    "Always" includes what the rules would block (a takeover's large transfer): the code goes
    to the owner's phone, who alone can release it, and is alerted either way. The one
    exception is a phone changed in the last 48 h: the code would reach the new phone, so a
    block stays a block.
    """
    amount, user_id = transfer.amount, transfer.user_id
    signals = features.transfer_signals(
        conn,
        user_id=user_id,
        account_id=transfer.account_id,
        kind=transfer.kind,
        amount=amount,
        destination_wallet_id=transfer.destination_wallet_id,
        merchant=transfer.merchant,
        at=at,
        local_day_start=local_midnight(at, transfer.timezone),
    )
    assessment = assess_transfer(signals)
    if policy.model is not None:
        assessment = learning.consult(
            conn,
            policy.model,
            transfer_id=transfer.transfer_id,
            user_id=user_id,
            signals=signals,
            assessment=assessment,
            at=at,
        )
    per_transfer, per_day = policy.step_up_amount, policy.daily_amount
    if transfer.own_step_up_amount is not None:
        per_transfer = min(per_transfer, transfer.own_step_up_amount)
        per_day = min(per_day, transfer.own_step_up_amount)
    limits = tuple(
        reason
        for reason, reached in (
            (AMOUNT_AT_STEP_UP_LIMIT, amount >= per_transfer),
            (DAILY_AMOUNT_AT_STEP_UP_LIMIT, signals.amount_local_day + amount >= per_day),
        )
        if reached
    )
    if not limits or assessment.decision is RiskDecision.STEP_UP:
        return assessment
    if assessment.decision is RiskDecision.BLOCK and _phone_changed_recently(conn, user_id, at=at):
        return assessment  # the code would go to the new phone: nobody to ask, refuse
    return replace(
        assessment,
        level=max(assessment.level, RiskLevel.MEDIUM, key=_LEVELS.index),
        decision=RiskDecision.STEP_UP,
        reasons=(*assessment.reasons, *limits),
    )


def local_midnight(at: datetime, timezone: str) -> datetime:
    """The start of `at`'s day in the user's time zone, in UTC."""
    local = at.astimezone(ZoneInfo(timezone))
    start = datetime.combine(local.date(), time(), tzinfo=local.tzinfo)
    return start.astimezone(UTC)


_LEVELS: Final = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)


def _phone_changed_recently(conn: Connection, user_id: str, *, at: datetime) -> bool:
    window = timedelta(minutes=DEFAULT_POLICY.sensitive_change_window_minutes)
    changed = repository.latest_change(conn, user_id, kind="phone", at=at)
    return changed is not None and at - as_utc(changed) <= window
