"""Scoring an outgoing transfer and holding it for a one-time code (called by wallets).

This module never imports the wallets service, so `wallets.service.create_transfer` can use
it; completing or cancelling a held transfer lives in `risk.service`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Connection

from tidings.config import Settings
from tidings.events import record_event
from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.ledger import service as ledger
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, events, features, learning, repository
from tidings.risk.alerts import alert_data
from tidings.risk.learning import ModelCache
from tidings.risk.scoring import DEFAULT_POLICY, assess_transfer
from tidings.risk.signals import RiskAssessment, RiskDecision, RiskLevel

log = structlog.get_logger(__name__)

AMOUNT_AT_STEP_UP_LIMIT: Final = "amount_at_step_up_limit"
"""The reason added when the amount alone (>= `TIDINGS_STEP_UP_AMOUNT`) asks for a code."""
DAILY_AMOUNT_AT_STEP_UP_LIMIT: Final = "daily_amount_at_step_up_limit"
"""The reason added when the user's local day of outgoing transfers, this one included,
reaches `TIDINGS_STEP_UP_DAILY_AMOUNT`: splitting a large sum does not avoid the code."""
_LIMIT_REASONS: Final = frozenset({AMOUNT_AT_STEP_UP_LIMIT, DAILY_AMOUNT_AT_STEP_UP_LIMIT})
TRANSFER_PURPOSE: Final = "transfer"
"""`purpose` of a transfer's code; templates word it per locale."""
CODE_DIGITS: Final = 6


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
        )


DEFAULT_STEP_UP: Final = StepUpPolicy()
UNSCORED: Final = StepUpPolicy(scoring=False)


def assess(
    conn: Connection,
    *,
    transfer_id: str,
    user_id: str,
    account_id: str,
    kind: str,
    amount: int,
    destination_wallet_id: str | None,
    merchant: str | None,
    at: datetime,
    timezone: str,
    own_step_up_amount: int | None = None,
    policy: StepUpPolicy = DEFAULT_STEP_UP,
) -> RiskAssessment:
    """The rules' decision; at or above a step-up limit it is always a step-up.

    The limits: this transfer alone reaching `policy.step_up_amount`, or the user's outgoing
    transfers since midnight in their `timezone` (succeeded or held), this one included,
    reaching `policy.daily_amount`. A user's own `own_step_up_amount` lowers both, never
    raises them.

    "Always" includes what the rules would block (a takeover's large transfer): the code goes
    to the owner's phone, who alone can release it, and is alerted either way. The one
    exception is a phone changed in the last 48 h: the code would reach the new phone, so a
    block stays a block.
    """
    signals = features.transfer_signals(
        conn,
        user_id=user_id,
        account_id=account_id,
        kind=kind,
        amount=amount,
        destination_wallet_id=destination_wallet_id,
        merchant=merchant,
        at=at,
        local_day_start=local_midnight(at, timezone),
    )
    assessment = assess_transfer(signals)
    if policy.model is not None:
        assessment = learning.consult(
            conn,
            policy.model,
            transfer_id=transfer_id,
            user_id=user_id,
            signals=signals,
            assessment=assessment,
            at=at,
        )
    per_transfer, per_day = policy.step_up_amount, policy.daily_amount
    if own_step_up_amount is not None:
        per_transfer = min(per_transfer, own_step_up_amount)
        per_day = min(per_day, own_step_up_amount)
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


def _rules_objected(assessment: RiskAssessment) -> bool:
    """The rules (or the model) asked for the step-up, not an amount limit alone."""
    return (
        not _LIMIT_REASONS.intersection(assessment.reasons)
        or assessment.score >= DEFAULT_POLICY.step_up_score
    )


def code_hash(keyring: Keyring, *, transfer_id: str, code: str) -> str:
    """HMAC of the code with a server key, bound to its transfer (a leaked table is useless)."""
    return keyring.lookup_hash(code, context=f"step-up:{transfer_id}")


def code_matches(keyring: Keyring, *, transfer_id: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_hash(keyring, transfer_id=transfer_id, code=code), stored)


def hold_for_verification(
    conn: Connection,
    keyring: Keyring,
    *,
    transfer_id: str,
    user_id: str,
    account_id: str,
    amount: int,
    currency: str,
    assessment: RiskAssessment,
    actor: str,
    at: datetime,
    policy: StepUpPolicy = DEFAULT_STEP_UP,
) -> None:
    """Hold the money (available drops, nothing posted), store the hashed code, send the code;
    when the rules (not only the amount) asked for it, alert the owner too.

    The transfer row (status `pending_verification`) must already be written.
    """
    hold_id = ledger.place_hold(
        conn,
        account_id=account_id,
        amount=amount,
        currency=currency,
        reason=f"step-up verification of {transfer_id}",
        at=at,
        expires_at=at + policy.hold_ttl,
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    repository.insert_verification(
        conn,
        {
            "id": new_id("vrf"),
            "transfer_id": transfer_id,
            "user_id": user_id,
            "hold_id": hold_id,
            "code_hash": code_hash(keyring, transfer_id=transfer_id, code=code),
            "attempts_left": policy.attempts,
            "status": "pending",
            "score": assessment.score,
            "reasons": list(assessment.reasons),
            "amount": amount,
            "currency": currency,
            "code_expires_at": at + min(policy.code_ttl, policy.hold_ttl),
            "expires_at": at + policy.hold_ttl,
            "created_at": at,
        },
    )
    record_event(
        conn,
        type=events.VERIFICATION_CODE,
        user_id=user_id,
        at=at,
        data={
            "code": code,
            "purpose": TRANSFER_PURPOSE,
            "expires_in_minutes": max(
                1, int(min(policy.code_ttl, policy.hold_ttl).total_seconds()) // 60
            ),
            "amount": {"value": amount, "currency": currency},
            "transfer_id": transfer_id,
            "occurred_at": at.isoformat(),
        },
    )
    audit.record(
        conn,
        action="transfer.step_up",
        actor=actor,
        user_id=user_id,
        subject_id=transfer_id,
        at=at,
        detail={
            "amount": amount,
            "currency": currency,
            "score": assessment.score,
            "reasons": list(assessment.reasons),
        },
    )
    if _rules_objected(assessment):
        # Not just a large amount: the rules saw something odd (a takeover's large transfer
        # after a password change). The code alone would not tell the owner; this alert does.
        record_event(
            conn,
            type=events.TRANSACTION_SUSPICIOUS,
            user_id=user_id,
            at=at,
            data=alert_data(
                conn,
                user_id,
                at,
                amount={"value": amount, "currency": currency},
                transfer_id=transfer_id,
                held=True,
                reasons=list(assessment.reasons),
            ),
        )
    log.info("risk.transfer.held", transfer_id=transfer_id, score=assessment.score)
