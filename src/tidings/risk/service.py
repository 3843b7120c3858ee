"""Security operations: logins, security changes, step-up verification, freezes, limits.

Stateless and never commits: the request or the job that calls owns the transaction. Outcomes
that must be kept *and* answered with an error (a wrong code uses an attempt; the third one
cancels the transfer) are returned, not raised, for the caller to answer after committing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import Connection

from tidings.events import forget_event_field, record_event
from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError
from tidings.kit.ids import is_id, new_id
from tidings.kit.pagination import Page, decode_cursor, encode_cursor
from tidings.kit.tables import AnyRow
from tidings.ledger import service as ledger
from tidings.privacy.codes import SEALED_CODE
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, detectors, events, learning, repository, stepup
from tidings.risk.alerts import alert_data
from tidings.risk.exceptions import (
    ReportedTimeOutOfWindow,
    TransferBlocked,
    UnfreezeOperatorOnly,
    VerificationExpired,
    VerificationFailed,
    VerificationNotFound,
    VerificationNotPending,
    WrongVerificationCode,
)
from tidings.risk.schemas import (
    AuditEntryOut,
    LoginCreate,
    LoginOut,
    LoginRiskOut,
    SecurityChangeCreate,
    SecurityChangeKind,
    SecurityChangeOut,
)
from tidings.users import service as users
from tidings.wallets import service as wallets
from tidings.wallets.exceptions import WalletNotFound
from tidings.wallets.schemas import TransferOut, WalletOut

log = structlog.get_logger(__name__)

NOT_ME: Final = "not_me"
"""The freeze reason when the owner reports activity that was not theirs."""
REPORT_WINDOW: Final = timedelta(minutes=5)
"""A reported `at` may be this far from our clock, either way (clocks drift, reports queue);
further back would let a caller write a history (a "known" device, an old change)."""


def _reported_at(value: datetime | None, *, at: datetime) -> datetime:
    if value is None:
        return at
    moment = as_utc(value)
    if abs(moment - at) > REPORT_WINDOW:
        minutes = int(REPORT_WINDOW.total_seconds() // 60)
        raise ReportedTimeOutOfWindow(
            f"must be within {minutes} minutes of now (report as it happens)", field="at"
        )
    return moment


# ---- logins -------------------------------------------------------------------------------


def _device_label(data: LoginCreate) -> dict[str, str]:
    """What an alert calls the device: the name the app gave it (`device`), and the platform
    its user agent names (`platform`, for a message that cannot carry the name); with
    neither the template says "a new device". Never the device id, which is a secret of the
    app's install: it is stored hashed and would let whoever reads a message impersonate the
    device."""
    platform = detectors.platform_of(data.user_agent)
    label = {"platform": platform} if platform else {}
    return label | ({"device": data.device_name} if data.device_name else {})


def report_login(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    data: LoginCreate,
    *,
    actor: str,
    at: datetime,
) -> LoginOut:
    """Store a login, judge it against the user's earlier ones, alert when it looks odd."""
    users.require_user(conn, user_id)
    login_at = _reported_at(data.at, at=at)
    device_hash = keyring.lookup_hash(data.device_id, context=f"login-device:{user_id}")
    last = repository.last_login(conn, user_id)
    history = detectors.LoginHistory(
        has_logins=last is not None,
        device_seen=repository.device_seen(conn, user_id, device_hash),
        known_cities=frozenset(repository.login_cities(conn, user_id)),
        last=detectors.PreviousLogin(last.city, as_utc(last.at)) if last is not None else None,
    )
    risk = detectors.assess_login(history, city=data.city, at=login_at)
    login_id = new_id("lgn")
    repository.insert_login(
        conn,
        {
            "id": login_id,
            "user_id": user_id,
            "device_hash": device_hash,
            "ip_hash": keyring.lookup_hash(data.ip, context="login-ip"),
            "city": data.city,
            "country": data.country,
            "user_agent": data.user_agent[:200] if data.user_agent else None,
            "new_device": risk.new_device,
            "new_location": risk.new_location,
            "risk_level": risk.level.value,
            "reasons": list(risk.reasons),
            "at": login_at,
            "created_at": at,
        },
    )
    device = _device_label(data)
    # One alert per login, the most telling one.
    if detectors.IMPOSSIBLE_TRAVEL in risk.reasons:
        assert history.last is not None and history.last.city is not None
        record_event(
            conn,
            type=events.LOGIN_IMPOSSIBLE_TRAVEL,
            user_id=user_id,
            at=at,
            data=alert_data(
                conn,
                user_id,
                login_at,
                city=data.city,
                previous_city=history.last.city,
                login_id=login_id,
                **device,
            ),
        )
    elif risk.new_device:
        record_event(
            conn,
            type=events.LOGIN_NEW_DEVICE,
            user_id=user_id,
            at=at,
            data=alert_data(conn, user_id, login_at, city=data.city, login_id=login_id, **device),
        )
    elif risk.new_location:
        record_event(
            conn,
            type=events.LOGIN_NEW_LOCATION,
            user_id=user_id,
            at=at,
            data=alert_data(
                conn,
                user_id,
                login_at,
                city=data.city,
                country=data.country,
                login_id=login_id,
                **device,
            ),
        )
    audit.record(
        conn,
        action="login",
        actor=actor,
        user_id=user_id,
        subject_id=login_id,
        at=at,
        detail={"level": risk.level.value, "reasons": list(risk.reasons)},
    )
    if risk.reasons:
        log.info("risk.login.flagged", login_id=login_id, level=risk.level.value)
    return LoginOut(
        id=login_id,
        user_id=user_id,
        at=login_at,
        risk=LoginRiskOut(level=risk.level, reasons=list(risk.reasons)),
    )


_CHANGE_EVENTS: Final = {
    SecurityChangeKind.PASSWORD: events.PASSWORD_CHANGED,
    SecurityChangeKind.PHONE: events.PHONE_CHANGED,
    SecurityChangeKind.EMAIL: events.EMAIL_CHANGED,
    SecurityChangeKind.PAYEE: events.PAYEE_ADDED,
}


def report_security_change(
    conn: Connection, user_id: str, data: SecurityChangeCreate, *, actor: str, at: datetime
) -> SecurityChangeOut:
    """Store a password, phone or email change or a new payee and alert the owner; large
    transfers in the next two days score higher (`recent_sensitive_change`)."""
    users.require_user(conn, user_id)
    change_at = _reported_at(data.at, at=at)
    return record_security_change(conn, user_id, data.kind, actor=actor, at=at, change_at=change_at)


def record_security_change(
    conn: Connection,
    user_id: str,
    kind: SecurityChangeKind,
    *,
    actor: str,
    at: datetime,
    change_at: datetime | None = None,
    destinations: dict[str, str] | None = None,
    detail: dict[str, Any] | None = None,
) -> SecurityChangeOut:
    """The security-change row (risk rules read it), the owner's critical alert (to the sealed
    `destinations` when given: the old phone and email after a contact change) and the
    audit row."""
    change_at = change_at or at
    change_id = new_id("sch")
    repository.insert_security_change(
        conn,
        {
            "id": change_id,
            "user_id": user_id,
            "kind": kind.value,
            "at": change_at,
            "created_at": at,
        },
    )
    record_event(
        conn,
        type=_CHANGE_EVENTS[kind],
        user_id=user_id,
        at=at,
        data=alert_data(conn, user_id, change_at, change_id=change_id, destinations=destinations),
    )
    audit.record(
        conn,
        action="security_change",
        actor=actor,
        user_id=user_id,
        subject_id=change_id,
        at=at,
        detail={"kind": kind.value, **(detail or {})},
    )
    return SecurityChangeOut(id=change_id, user_id=user_id, kind=kind, at=change_at)


# ---- blocked transfers ------------------------------------------------------------------


def record_block(conn: Connection, blocked: TransferBlocked, *, actor: str, at: datetime) -> None:
    """What a blocked transfer leaves behind: an audit row and the owner's alert, nothing else.

    Called in a transaction of its own, after the transfer's transaction rolled back.
    """
    audit.record(
        conn,
        action="transfer.blocked",
        actor=actor,
        user_id=blocked.user_id,
        subject_id=blocked.wallet_id,
        at=at,
        detail={
            "kind": blocked.kind,
            "amount": blocked.amount,
            "currency": blocked.currency,
            "score": blocked.score,
            "reasons": list(blocked.reasons),
        },
    )
    record_event(
        conn,
        type=events.TRANSACTION_SUSPICIOUS,
        user_id=blocked.user_id,
        at=at,
        data=alert_data(
            conn,
            blocked.user_id,
            at,
            amount={"value": blocked.amount, "currency": blocked.currency},
            blocked=True,
            reasons=list(blocked.reasons),
        ),
    )
    log.info("risk.transfer.blocked", score=blocked.score, kind=blocked.kind)


# ---- step-up verification -----------------------------------------------------------------


def _visible_verification(conn: Connection, transfer_id: str, acting_user_id: str | None) -> AnyRow:
    row = repository.lock_verification(conn, transfer_id) if is_id(transfer_id, "trf") else None
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise VerificationNotFound(f"no verification is waiting for transfer {transfer_id}")
    return row


def _end_held_transfer(
    conn: Connection, row: AnyRow, *, status: str, event_type: str, actor: str, at: datetime
) -> bool:
    """Cancel a held transfer: release its hold, mark it, alert the owner; once only."""
    if not repository.settle_verification(conn, row.id, status=status, at=at):
        return False
    forget_event_field(conn, row.code_event_id, SEALED_CODE)
    ledger.release_hold(conn, row.hold_id, at=at)
    repository.set_transfer_status(
        conn, row.transfer_id, status="expired" if status == "expired" else "cancelled"
    )
    record_event(
        conn,
        type=event_type,
        user_id=row.user_id,
        at=at,
        data=alert_data(
            conn,
            row.user_id,
            at,
            amount={"value": int(row.amount), "currency": row.currency},
            transfer_id=row.transfer_id,
        ),
    )
    audit.record(
        conn,
        action=f"verification.{status}",
        actor=actor,
        user_id=row.user_id,
        subject_id=row.transfer_id,
        at=at,
        detail={"amount": int(row.amount), "currency": row.currency},
    )
    log.info("risk.verification.ended", transfer_id=row.transfer_id, status=status)
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
    row = _visible_verification(conn, transfer_id, acting_user_id)
    actor = audit.actor_of(acting_user_id)
    if row.status != "pending":
        raise VerificationNotPending(f"transfer {transfer_id} is {row.status}, not waiting")
    if at >= as_utc(row.code_expires_at) or at >= as_utc(row.expires_at):
        _end_held_transfer(
            conn,
            row,
            status="expired",
            event_type=events.VERIFICATION_EXPIRED,
            actor=actor,
            at=at,
        )
        return VerificationExpired(
            "the code expired; the transfer was cancelled and the money released"
        )
    if stepup.code_matches(keyring, transfer_id=transfer_id, code=code, stored=row.code_hash):
        repository.settle_verification(conn, row.id, status="verified", at=at)
        forget_event_field(conn, row.code_event_id, SEALED_CODE)
        ledger.release_hold(conn, row.hold_id, at=at, status="captured")
        transfer = wallets.complete_held_transfer(conn, keyring, transfer_id, at=at)
        learning.record_verified(conn, transfer_id, at=at)
        audit.record(
            conn,
            action="verification.verified",
            actor=actor,
            user_id=row.user_id,
            subject_id=transfer_id,
            at=at,
            detail={"amount": int(row.amount), "currency": row.currency},
        )
        return transfer
    left = repository.spend_attempt(conn, row.id)
    audit.record(
        conn,
        action="verification.wrong_code",
        actor=actor,
        user_id=row.user_id,
        subject_id=transfer_id,
        at=at,
        detail={"attempts_left": left},
    )
    if left > 0:
        return WrongVerificationCode(
            f"the code is wrong; {left} attempt(s) left", field="code", attempts_left=left
        )
    _end_held_transfer(
        conn, row, status="failed", event_type=events.VERIFICATION_FAILED, actor=actor, at=at
    )
    return VerificationFailed(
        "the code is wrong and no attempt is left; the transfer was cancelled and the "
        "money released",
        field="code",
        attempts_left=0,
    )


def expire_holds(conn: Connection, *, at: datetime, limit: int = 500) -> int:
    """Cancel held transfers nobody verified in time and release their money."""
    expired = 0
    for transfer_id in repository.due_expirations(conn, at=at, limit=limit):
        row = repository.lock_verification(conn, transfer_id)
        if row is None or row.status != "pending" or as_utc(row.expires_at) > at:
            continue
        if _end_held_transfer(
            conn,
            row,
            status="expired",
            event_type=events.VERIFICATION_EXPIRED,
            actor=audit.SYSTEM,
            at=at,
        ):
            expired += 1
    return expired


# ---- freeze -------------------------------------------------------------------------------


def _freeze_targets(
    conn: Connection, wallet_id: str, acting_user_id: str | None
) -> tuple[AnyRow, list[AnyRow]]:
    """The wallet (visible to the caller) and the wallets a freeze of it covers: the main
    wallet covers all of the user's wallets, a sub-wallet only itself."""
    row = repository.wallet_owner_and_kind(conn, wallet_id) if is_id(wallet_id, "wal") else None
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise WalletNotFound(f"wallet {wallet_id} not found", field="wallet_id")
    owned = repository.lock_user_wallets(conn, row.user_id)
    targets = owned if row.kind == "main" else [w for w in owned if w.id == wallet_id]
    return row, targets


def freeze_wallet(
    conn: Connection,
    keyring: Keyring,
    wallet_id: str,
    *,
    acting_user_id: str | None,
    reason: str | None,
    at: datetime,
) -> WalletOut:
    """Stop money leaving (the owner's "not me", or an operator); held transfers are cancelled.

    Incoming money still lands. Freezing a frozen wallet changes nothing and alerts nobody.
    """
    row, targets = _freeze_targets(conn, wallet_id, acting_user_id)
    if row.frozen_at is None:
        reason = reason or (NOT_ME if acting_user_id is not None else None)
        repository.set_frozen(conn, [w.id for w in targets], frozen_at=at)
        for transfer_id in repository.pending_verifications_of_user(conn, row.user_id):
            held = repository.lock_verification(conn, transfer_id)
            if held is not None:
                _end_held_transfer(
                    conn,
                    held,
                    status="cancelled",
                    event_type=events.VERIFICATION_FAILED,
                    actor=audit.actor_of(acting_user_id),
                    at=at,
                )
        record_event(
            conn,
            type=events.WALLET_FROZEN,
            user_id=row.user_id,
            at=at,
            data={"wallet_id": wallet_id, "reason": reason, "occurred_at": at.isoformat()},
        )
        audit.record(
            conn,
            action="wallet.freeze",
            actor=audit.actor_of(acting_user_id),
            user_id=row.user_id,
            subject_id=wallet_id,
            at=at,
            detail={"wallets": [w.id for w in targets], "reason": reason},
        )
        log.info("risk.wallet.frozen", wallet_id=wallet_id)
    return wallets.get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def unfreeze_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    """Operator only, after checking who asks: money may leave the wallet again."""
    if acting_user_id is not None:
        raise UnfreezeOperatorOnly("only an operator unfreezes a wallet, after checking identity")
    row, targets = _freeze_targets(conn, wallet_id, None)
    if row.frozen_at is not None:
        repository.set_frozen(conn, [w.id for w in targets], frozen_at=None)
        record_event(
            conn,
            type=events.WALLET_UNFROZEN,
            user_id=row.user_id,
            at=at,
            data={"wallet_id": wallet_id, "occurred_at": at.isoformat()},
        )
        audit.record(
            conn,
            action="wallet.unfreeze",
            actor=audit.OPERATOR,
            user_id=row.user_id,
            subject_id=wallet_id,
            at=at,
            detail={"wallets": [w.id for w in targets]},
        )
    return wallets.get_wallet(conn, wallet_id, acting_user_id=None, at=at)


# ---- rate limits and audit -----------------------------------------------------------------


def forget_old_rate_windows(conn: Connection, *, at: datetime) -> int:
    return repository.forget_windows_before(conn, at - timedelta(days=1))


def list_audit(
    conn: Connection,
    *,
    user_id: str | None,
    action: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntryOut]:
    """Newest first; a user's own entries, or everyone's for an operator."""
    rows = repository.list_audit(
        conn, user_id=user_id, action=action, before_id=decode_cursor(cursor), limit=limit + 1
    )
    items = [
        AuditEntryOut(
            id=r.id,
            at=as_utc(r.at),
            actor=r.actor,
            user_id=r.user_id,
            action=r.action,
            subject_id=r.subject_id,
            detail=dict(r.detail),
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page[AuditEntryOut](items=items, next_cursor=next_cursor)
