"""A transfer held for the owner's one-time code: held, then verified (posted), cancelled or
expired, and its money released; the wallet writes every step of it.

The code itself is risk's (`risk.verification`: sent, checked, ended, audited); its row lock
is taken first by whoever ends a hold, so a code and the expiry job never both win. Outcomes
that must be kept *and* answered with an error (a wrong code spends an attempt; the last one
cancels the transfer) are returned, not raised, for the caller to answer after committing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.kit.errors import AppError
from tidings.kit.ids import is_id
from tidings.kit.visibility import visible_or_raise
from tidings.ledger import service as ledger
from tidings.privacy.crypto import Keyring
from tidings.privacy.userkeys import FreeText
from tidings.risk import audit, verification
from tidings.risk.exceptions import (
    VerificationExpired,
    VerificationFailed,
    VerificationNotFound,
    VerificationNotPending,
    WrongVerificationCode,
)
from tidings.risk.signals import OutgoingTransfer, RiskAssessment
from tidings.risk.stepup import StepUpPolicy
from tidings.risk.verification import CodeStatus, StepUpCode
from tidings.wallets import repository
from tidings.wallets.exceptions import TransferNotFound
from tidings.wallets.posting import (
    lock_wallets,
    post_transfer,
    require_not_frozen,
    transfer_out,
    transfer_values,
)
from tidings.wallets.schemas import TransferOut, TransferStatus


def hold_for_verification(
    conn: Connection,
    keyring: Keyring,
    transfer: TransferOut,
    outgoing: OutgoingTransfer,
    *,
    assessment: RiskAssessment,
    actor: str,
    at: datetime,
    policy: StepUpPolicy,
) -> TransferOut:
    """Write the transfer as held, hold its money (available drops, nothing posted) and have
    risk send the owner's code.

    Raises (the caller's transaction rolls back) when the money is not there, or when risk
    refuses to send a code (`TransferBlocked`: a recent contact change, no trusted contact).
    """
    held = transfer.model_copy(update={"status": TransferStatus.PENDING_VERIFICATION})
    repository.insert_transfer(
        conn, transfer_values(held, entry_id=None, text=FreeText(conn, keyring))
    )
    hold_id = ledger.place_hold(
        conn,
        account_id=outgoing.account_id,
        amount=outgoing.amount,
        currency=outgoing.currency,
        reason=f"step-up verification of {held.id}",
        at=at,
        expires_at=at + policy.hold_ttl,
    )
    verification.issue_code(
        conn,
        keyring,
        outgoing,
        hold_id=hold_id,
        assessment=assessment,
        actor=actor,
        at=at,
        policy=policy,
    )
    return held


def _complete_held_transfer(
    conn: Connection, keyring: Keyring, transfer_id: str, *, at: datetime
) -> TransferOut:
    """Post a transfer that waited for its code (its hold already captured).

    Raises like `create_transfer` when it can no longer happen (a wallet closed or frozen,
    the money gone); the caller's transaction then rolls back and the hold stays.
    """
    row = repository.get_transfer(conn, transfer_id)
    if row is None or row.status != TransferStatus.PENDING_VERIFICATION:
        raise TransferNotFound(f"transfer {transfer_id} is not waiting for verification")
    ids = {"source": row.source_wallet_id}
    if row.destination_wallet_id is not None:
        ids["destination"] = row.destination_wallet_id
    wallets = lock_wallets(conn, ids, None, own=set())
    source = wallets["source"]
    require_not_frozen(source)
    return post_transfer(
        conn,
        keyring,
        transfer_out(row, FreeText(conn, keyring)),
        source=source,
        destination=wallets.get("destination"),
        at=at,
        held=True,
    )


def end_hold(
    conn: Connection, code: StepUpCode, *, status: CodeStatus, actor: str, at: datetime
) -> bool:
    """End a held transfer unposted (the code failed, expired, or the wallet was frozen):
    release its money and mark it; once only (False when it had already ended)."""
    if not verification.end_code(conn, code, status=status, actor=actor, at=at):
        return False
    ledger.release_hold(conn, code.hold_id, at=at)
    ended = TransferStatus.EXPIRED if status is CodeStatus.EXPIRED else TransferStatus.CANCELLED
    repository.set_transfer_status(conn, code.transfer_id, status=ended)
    return True


def verify_transfer(
    conn: Connection,
    keyring: Keyring,
    transfer_id: str,
    code: str,
    *,
    acting_user_id: str | None,
    at: datetime,
) -> TransferOut | AppError:
    """Check a step-up code: the right one posts the held transfer in this transaction.

    A wrong or late code is returned as the error to answer once this transaction commits
    (the spent attempt, the cancellation must stay)."""
    pending = visible_or_raise(
        verification.lock_code(conn, transfer_id) if is_id(transfer_id, "trf") else None,
        acting_user_id,
        VerificationNotFound(f"no verification is waiting for transfer {transfer_id}"),
    )
    actor = audit.actor_of(acting_user_id)
    if pending.status is not CodeStatus.PENDING:
        raise VerificationNotPending(f"transfer {transfer_id} is {pending.status}, not waiting")
    if pending.ran_out(at):
        end_hold(conn, pending, status=CodeStatus.EXPIRED, actor=actor, at=at)
        return VerificationExpired(
            "the code expired; the transfer was cancelled and the money released"
        )
    attempt = verification.check_code(conn, keyring, pending, code, actor=actor, at=at)
    if attempt.matched:
        ledger.release_hold(conn, pending.hold_id, at=at, status="captured")
        transfer = _complete_held_transfer(conn, keyring, transfer_id, at=at)
        verification.record_verified(conn, pending, actor=actor, at=at)
        return transfer
    if attempt.attempts_left > 0:
        return WrongVerificationCode(
            f"the code is wrong; {attempt.attempts_left} attempt(s) left",
            field="code",
            attempts_left=attempt.attempts_left,
        )
    end_hold(conn, pending, status=CodeStatus.FAILED, actor=actor, at=at)
    return VerificationFailed(
        "the code is wrong and no attempt is left; the transfer was cancelled and the "
        "money released",
        field="code",
        attempts_left=0,
    )


def expire_holds(conn: Connection, *, at: datetime, limit: int = 500) -> int:
    """Cancel held transfers nobody verified in time and release their money."""
    expired = 0
    for transfer_id in verification.due_codes(conn, at=at, limit=limit):
        code = verification.lock_code(conn, transfer_id)
        if code is None or code.status is not CodeStatus.PENDING or code.expires_at > at:
            continue
        if end_hold(conn, code, status=CodeStatus.EXPIRED, actor=audit.SYSTEM, at=at):
            expired += 1
    return expired
