"""Security operations: logins, security changes, blocked transfers, the audit log.

Stateless and never commits: the request or the job that calls owns the transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import Connection

from tidings.events import EventData
from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.kit.money import money
from tidings.kit.pagination import Page, decode_cursor, next_cursor
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, detectors, events, repository
from tidings.risk.alerts import record_alert
from tidings.risk.exceptions import ReportedTimeOutOfWindow, TransferBlocked
from tidings.risk.schemas import (
    AuditEntryOut,
    LoginCreate,
    LoginOut,
    LoginRiskOut,
    SecurityChangeCreate,
    SecurityChangeKind,
    SecurityChangeOut,
)
from tidings.users import directory

log = structlog.get_logger(__name__)

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


def _login_alert(
    risk: detectors.LoginRisk,
    history: detectors.LoginHistory,
    data: LoginCreate,
    *,
    login_id: str,
) -> tuple[str, EventData] | None:
    """The one alert a login gets, the most telling one, if any.

    It names the device as the app named it (`device`) and the platform its user agent names
    (`platform`, for a message that cannot carry the name); with neither the template says
    "a new device". Never the device id, which is a secret of the app's install: it is
    stored hashed and would let whoever reads a message impersonate the device."""
    device, platform = data.device_name, detectors.platform_of(data.user_agent)
    if detectors.IMPOSSIBLE_TRAVEL in risk.reasons:
        assert history.last is not None and history.last.city is not None
        assert data.city is not None, "impossible travel is between two known cities"
        travel = events.LoginImpossibleTravel(
            city=data.city,
            previous_city=history.last.city,
            device=device,
            platform=platform,
            login_id=login_id,
        )
        return events.LOGIN_IMPOSSIBLE_TRAVEL, travel
    if risk.new_device:
        new_device = events.LoginNewDevice(
            city=data.city, device=device, platform=platform, login_id=login_id
        )
        return events.LOGIN_NEW_DEVICE, new_device
    if risk.new_location:
        assert data.city is not None, "a new location is a known city"
        new_location = events.LoginNewLocation(
            city=data.city,
            country=data.country,
            device=device,
            platform=platform,
            login_id=login_id,
        )
        return events.LOGIN_NEW_LOCATION, new_location
    return None


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
    directory.require_user(conn, user_id)
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
    alert = _login_alert(risk, history, data, login_id=login_id)
    if alert is not None:
        event_type, data_of_alert = alert
        record_alert(conn, event_type, data_of_alert, user_id=user_id, at=at, occurred_at=login_at)
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
    directory.require_user(conn, user_id)
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
    changed = events.CredentialChanged(change_id=change_id, destinations=destinations)
    record_alert(conn, _CHANGE_EVENTS[kind], changed, user_id=user_id, at=at, occurred_at=change_at)
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
    transfer = blocked.transfer
    audit.record(
        conn,
        action="transfer.blocked",
        actor=actor,
        user_id=transfer.user_id,
        subject_id=transfer.wallet_id,
        at=at,
        detail={
            "kind": transfer.kind,
            "amount": transfer.amount,
            "currency": transfer.currency,
            "score": blocked.score,
            "reasons": list(blocked.reasons),
        },
    )
    suspicious = events.TransactionSuspicious(
        amount=money(transfer.amount, transfer.currency),
        blocked=True,
        reasons=list(blocked.reasons),
    )
    record_alert(conn, events.TRANSACTION_SUSPICIOUS, suspicious, user_id=transfer.user_id, at=at)
    log.info("risk.transfer.blocked", score=blocked.score, kind=transfer.kind)


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
    return Page[AuditEntryOut](items=items, next_cursor=next_cursor(rows, limit))
