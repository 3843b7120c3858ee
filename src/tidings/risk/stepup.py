"""Scoring an outgoing transfer and holding it for a one-time code (called by wallets).

This module never imports the wallets service, so `wallets.service.create_transfer` can use
it; completing or cancelling a held transfer lives in `risk.service`.
"""

from __future__ import annotations

import hmac
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
from tidings.privacy.codes import DESTINATIONS, SEALED_CODE, seal_code
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, codes, events, features, learning, repository
from tidings.risk.alerts import alert_data
from tidings.risk.exceptions import ContactRecentlyChanged, TransferBlocked
from tidings.risk.learning import ModelCache
from tidings.risk.scoring import DEFAULT_POLICY, assess_transfer
from tidings.risk.signals import RiskAssessment, RiskDecision, RiskLevel
from tidings.users import service as users

log = structlog.get_logger(__name__)

AMOUNT_AT_STEP_UP_LIMIT: Final = "amount_at_step_up_limit"
"""The reason added when the amount alone (>= `TIDINGS_STEP_UP_AMOUNT`) asks for a code."""
DAILY_AMOUNT_AT_STEP_UP_LIMIT: Final = "daily_amount_at_step_up_limit"
"""The reason added when the user's local day of outgoing transfers, this one included,
reaches `TIDINGS_STEP_UP_DAILY_AMOUNT`: splitting a large sum does not avoid the code."""
_LIMIT_REASONS: Final = frozenset({AMOUNT_AT_STEP_UP_LIMIT, DAILY_AMOUNT_AT_STEP_UP_LIMIT})
TRANSFER_PURPOSE: Final = "transfer"
"""`purpose` of a transfer's code; templates word it per locale."""


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


CONTACT_RECENTLY_CHANGED: Final = "contact_recently_changed"
"""The reason a large transfer is refused in the cooling period after a contact change."""
NO_TRUSTED_CONTACT: Final = "no_trusted_contact"
"""The reason a transfer is refused when no contact or device may receive its code."""


def _code_destinations(
    conn: Connection,
    keyring: Keyring,
    *,
    transfer_id: str,
    user_id: str,
    amount: int,
    currency: str,
    assessment: RiskAssessment,
    at: datetime,
    policy: StepUpPolicy,
) -> dict[str, str]:
    """Where the code may go (sealed addresses), or the refusal: a large transfer in the
    cooling period after a contact change, or no contact old enough to trust with a code."""
    refusal: type[TransferBlocked] | None = None
    reasons: tuple[str, ...] = ()
    destinations: dict[str, str] = {}
    # Large: this transfer, or the day's total with it, reached a step-up limit (the split
    # of a large sum into small transfers waits for the cooling period as well).
    large = amount >= policy.step_up_amount or not _LIMIT_REASONS.isdisjoint(assessment.reasons)
    if large and users.contact_changed_since(conn, user_id, at - policy.contact_cooling):
        refusal, reasons = ContactRecentlyChanged, (CONTACT_RECENTLY_CHANGED,)
        detail = "the phone or email changed recently; large transfers wait for the cooling period"
    else:
        destinations = codes.step_up_destinations(
            conn, keyring, user_id, at=at, cooling=policy.contact_cooling
        )
        if not destinations:
            refusal, reasons = TransferBlocked, (NO_TRUSTED_CONTACT,)
            detail = "no phone or device the owner has had long enough can receive the code"
    if refusal is None:
        return destinations
    transfer = repository.wallet_and_kind_of_transfer(conn, transfer_id)
    raise refusal(
        f"{detail}; nothing was held or moved",
        user_id=user_id,
        wallet_id=transfer.source_wallet_id if transfer is not None else "",
        amount=amount,
        currency=currency,
        kind=transfer.kind if transfer is not None else "",
        score=assessment.score,
        reasons=(*assessment.reasons, *reasons),
    )


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
    """Hold the money (available drops, nothing posted), store the hashed code, send the code
    (sealed, to trusted addresses only); when the rules (not only the amount) asked for it,
    alert the owner too.

    Raises `TransferBlocked` (the caller's transaction rolls back) for a large transfer in the
    cooling period after a contact change (`contact-recently-changed`), or when no contact or
    device old enough can receive the code. The transfer row (status `pending_verification`)
    must already be written.
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
    destinations = _code_destinations(
        conn,
        keyring,
        transfer_id=transfer_id,
        user_id=user_id,
        amount=amount,
        currency=currency,
        assessment=assessment,
        at=at,
        policy=policy,
    )
    code = codes.new_code()
    code_event_id = record_event(
        conn,
        type=events.VERIFICATION_CODE,
        user_id=user_id,
        at=at,
        data={
            SEALED_CODE: seal_code(keyring, code),
            DESTINATIONS: destinations,
            "purpose": TRANSFER_PURPOSE,
            "expires_in_minutes": max(
                1, int(min(policy.code_ttl, policy.hold_ttl).total_seconds()) // 60
            ),
            "amount": {"value": amount, "currency": currency},
            "transfer_id": transfer_id,
            "occurred_at": at.isoformat(),
        },
    )
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
            "code_event_id": code_event_id,
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
