"""The one-time code of a step-up (called by wallets, which holds the money meanwhile).

Risk issues the code (sealed, to trusted addresses only), checks it (attempts counted), ends
it, and keeps the audit and the alerts of each step; the held transfer itself (its row, its
hold, its posting) belongs to the wallet. Each code lives in `step_up_verifications`, one
row per held transfer, whose row lock serialises everything that may end the hold.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import structlog
from sqlalchemy import Connection

from tidings.events import forget_event_field
from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.kit.money import money
from tidings.kit.tables import AnyRow
from tidings.privacy.codes import SEALED_CODE
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, codes, events, learning, repository
from tidings.risk.alerts import record_alert
from tidings.risk.exceptions import ContactRecentlyChanged, TransferBlocked
from tidings.risk.scoring import DEFAULT_POLICY
from tidings.risk.signals import OutgoingTransfer, RiskAssessment
from tidings.risk.stepup import LIMIT_REASONS, StepUpPolicy
from tidings.users import service as users

log = structlog.get_logger(__name__)

TRANSFER_PURPOSE: Final = "transfer"
"""`purpose` of a transfer's code; templates word it per locale."""
CONTACT_RECENTLY_CHANGED: Final = "contact_recently_changed"
"""The reason a large transfer is refused in the cooling period after a contact change."""
NO_TRUSTED_CONTACT: Final = "no_trusted_contact"
"""The reason a transfer is refused when no contact or device may receive its code."""


class CodeStatus(StrEnum):
    """Where a step-up code stands."""

    PENDING = "pending"
    """Sent; the money is held until it is entered or runs out."""
    VERIFIED = "verified"
    """The right code came in time: the transfer was posted."""
    FAILED = "failed"
    """No attempt left: the transfer was cancelled."""
    EXPIRED = "expired"
    """Nobody entered it in time: the transfer expired."""
    CANCELLED = "cancelled"
    """The wallet was frozen while it waited: the transfer was cancelled."""


_END_ALERTS: Final = {
    CodeStatus.FAILED: (events.VERIFICATION_FAILED, events.VerificationFailed),
    CodeStatus.CANCELLED: (events.VERIFICATION_FAILED, events.VerificationFailed),
    CodeStatus.EXPIRED: (events.VERIFICATION_EXPIRED, events.VerificationExpired),
}
"""The owner's alert when a code ends without the transfer being posted."""


@dataclass(frozen=True, slots=True)
class StepUpCode:
    """A held transfer's code as stored: the hashed code, its clocks and the hold it keeps."""

    id: str
    transfer_id: str
    user_id: str
    hold_id: str
    status: CodeStatus
    code_hash: str
    amount: int
    currency: str
    code_expires_at: datetime
    expires_at: datetime
    """When the hold runs out."""
    code_event_id: str | None

    @classmethod
    def of(cls, row: AnyRow) -> StepUpCode:
        return cls(
            id=row.id,
            transfer_id=row.transfer_id,
            user_id=row.user_id,
            hold_id=row.hold_id,
            status=CodeStatus(row.status),
            code_hash=row.code_hash,
            amount=int(row.amount),
            currency=row.currency,
            code_expires_at=as_utc(row.code_expires_at),
            expires_at=as_utc(row.expires_at),
            code_event_id=row.code_event_id,
        )

    def ran_out(self, at: datetime) -> bool:
        """The code or the hold is out of time."""
        return at >= self.code_expires_at or at >= self.expires_at


@dataclass(frozen=True, slots=True)
class CodeAttempt:
    """What one entered code did: matched, or spent an attempt (`attempts_left` remain)."""

    matched: bool
    attempts_left: int


def rules_objected(assessment: RiskAssessment) -> bool:
    """The rules (or the model) asked for the step-up, not an amount limit alone."""
    return (
        not LIMIT_REASONS.intersection(assessment.reasons)
        or assessment.score >= DEFAULT_POLICY.step_up_score
    )


def code_hash(keyring: Keyring, *, transfer_id: str, code: str) -> str:
    """HMAC of the code with a server key, bound to its transfer (a leaked table is useless)."""
    return keyring.lookup_hash(code, context=f"step-up:{transfer_id}")


def _code_destinations(
    conn: Connection,
    keyring: Keyring,
    transfer: OutgoingTransfer,
    *,
    assessment: RiskAssessment,
    at: datetime,
    policy: StepUpPolicy,
) -> dict[str, str]:
    """Where the code may go (sealed addresses), or the refusal: a large transfer in the
    cooling period after a contact change, or no contact old enough to trust with a code."""
    # Large: this transfer, or the day's total with it, reached a step-up limit (the split
    # of a large sum into small transfers waits for the cooling period as well).
    large = transfer.amount >= policy.step_up_amount or not LIMIT_REASONS.isdisjoint(
        assessment.reasons
    )
    refusal: type[TransferBlocked]
    if large and users.contact_changed_since(conn, transfer.user_id, at - policy.contact_cooling):
        refusal, reason = ContactRecentlyChanged, CONTACT_RECENTLY_CHANGED
        detail = "the phone or email changed recently; large transfers wait for the cooling period"
    else:
        destinations = codes.step_up_destinations(
            conn, keyring, transfer.user_id, at=at, cooling=policy.contact_cooling
        )
        if destinations:
            return destinations
        refusal, reason = TransferBlocked, NO_TRUSTED_CONTACT
        detail = "no phone or device the owner has had long enough can receive the code"
    raise refusal(
        f"{detail}; nothing was held or moved",
        transfer=transfer,
        score=assessment.score,
        reasons=(*assessment.reasons, reason),
    )


def issue_code(
    conn: Connection,
    keyring: Keyring,
    transfer: OutgoingTransfer,
    *,
    hold_id: str,
    assessment: RiskAssessment,
    actor: str,
    at: datetime,
    policy: StepUpPolicy,
) -> None:
    """Send the code (sealed, to trusted addresses only) for a transfer the wallet holds, keep
    its hash, and audit the step-up; when the rules (not only the amount) asked for it, alert
    the owner too.

    Raises `TransferBlocked` (the caller's transaction rolls back) for a large transfer in the
    cooling period after a contact change (`contact-recently-changed`), or when no contact or
    device old enough can receive the code.
    """
    destinations = _code_destinations(
        conn, keyring, transfer, assessment=assessment, at=at, policy=policy
    )
    code = codes.new_code()
    code_ttl = min(policy.code_ttl, policy.hold_ttl)
    amount = money(transfer.amount, transfer.currency)
    notice = events.VerificationCode(
        purpose=TRANSFER_PURPOSE,
        expires_in_minutes=max(1, int(code_ttl.total_seconds()) // 60),
        amount=amount,
        transfer_id=transfer.transfer_id,
    )
    code_event_id = codes.record_code(
        conn,
        keyring,
        events.VERIFICATION_CODE,
        notice,
        code=code,
        destinations=destinations,
        user_id=transfer.user_id,
        at=at,
    )
    repository.insert_verification(
        conn,
        {
            "id": new_id("vrf"),
            "transfer_id": transfer.transfer_id,
            "user_id": transfer.user_id,
            "hold_id": hold_id,
            "code_hash": code_hash(keyring, transfer_id=transfer.transfer_id, code=code),
            "attempts_left": policy.attempts,
            "status": CodeStatus.PENDING.value,
            "score": assessment.score,
            "reasons": list(assessment.reasons),
            "amount": transfer.amount,
            "currency": transfer.currency,
            "code_expires_at": at + code_ttl,
            "expires_at": at + policy.hold_ttl,
            "created_at": at,
            "code_event_id": code_event_id,
        },
    )
    audit.record(
        conn,
        action="transfer.step_up",
        actor=actor,
        user_id=transfer.user_id,
        subject_id=transfer.transfer_id,
        at=at,
        detail={
            "amount": transfer.amount,
            "currency": transfer.currency,
            "score": assessment.score,
            "reasons": list(assessment.reasons),
        },
    )
    if rules_objected(assessment):
        # Not just a large amount: the rules saw something odd (a takeover's large transfer
        # after a password change). The code alone would not tell the owner; this alert does.
        suspicious = events.TransactionSuspicious(
            amount=amount,
            transfer_id=transfer.transfer_id,
            held=True,
            reasons=list(assessment.reasons),
        )
        record_alert(
            conn, events.TRANSACTION_SUSPICIOUS, suspicious, user_id=transfer.user_id, at=at
        )
    log.info("risk.transfer.held", transfer_id=transfer.transfer_id, score=assessment.score)


def lock_code(conn: Connection, transfer_id: str) -> StepUpCode | None:
    """A held transfer's code, row-locked until the end of the transaction (PostgreSQL): the
    lock whoever verifies, expires or cancels the hold takes first."""
    row = repository.lock_verification(conn, transfer_id)
    return StepUpCode.of(row) if row is not None else None


def due_codes(conn: Connection, *, at: datetime, limit: int) -> list[str]:
    """Transfer ids of pending codes whose hold ran out, oldest first (on PostgreSQL those
    another worker is expiring are skipped)."""
    return repository.due_expirations(conn, at=at, limit=limit)


def check_code(
    conn: Connection, keyring: Keyring, code: StepUpCode, entered: str, *, actor: str, at: datetime
) -> CodeAttempt:
    """The right code settles it as verified (and blanks it); a wrong one spends an attempt."""
    expected = code_hash(keyring, transfer_id=code.transfer_id, code=entered)
    if hmac.compare_digest(expected, code.code_hash):
        repository.settle_verification(conn, code.id, status=CodeStatus.VERIFIED.value, at=at)
        forget_event_field(conn, code.code_event_id, SEALED_CODE)
        return CodeAttempt(matched=True, attempts_left=0)
    left = repository.spend_attempt(conn, code.id)
    _audit(conn, code, "wrong_code", actor=actor, at=at, detail={"attempts_left": left})
    return CodeAttempt(matched=False, attempts_left=left)


def record_verified(conn: Connection, code: StepUpCode, *, actor: str, at: datetime) -> None:
    """After the wallet posted a verified transfer: the owner's word (not fraud) for the model
    to learn, and the audit row."""
    learning.record_verified(conn, code.transfer_id, at=at)
    _audit(conn, code, CodeStatus.VERIFIED, actor=actor, at=at)


def end_code(
    conn: Connection, code: StepUpCode, *, status: CodeStatus, actor: str, at: datetime
) -> bool:
    """End a pending code without posting (failed, expired, cancelled): settle and blank it,
    alert the owner, audit it; once only (False when it had already ended)."""
    if not repository.settle_verification(conn, code.id, status=status.value, at=at):
        return False
    forget_event_field(conn, code.code_event_id, SEALED_CODE)
    event_type, alert = _END_ALERTS[status]
    ended = alert(amount=money(code.amount, code.currency), transfer_id=code.transfer_id)
    record_alert(conn, event_type, ended, user_id=code.user_id, at=at)
    _audit(conn, code, status, actor=actor, at=at)
    log.info("risk.verification.ended", transfer_id=code.transfer_id, status=status.value)
    return True


def _audit(
    conn: Connection,
    code: StepUpCode,
    step: str,
    *,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit row of one step of a code (`verification.<step>`), about its transfer; by
    default it names the amount held."""
    audit.record(
        conn,
        action=f"verification.{step}",
        actor=actor,
        user_id=code.user_id,
        subject_id=code.transfer_id,
        at=at,
        detail=detail or {"amount": code.amount, "currency": code.currency},
    )
