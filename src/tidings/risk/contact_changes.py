"""Changing the phone or email: only with a one-time code sent to the current contact.

Otherwise a stolen session changes the phone and every later step-up code goes to the thief.
A confirmed change (or an operator's direct one) is a security change: the risk rules see it,
the old phone and email are alerted, and a cooling period starts in which large transfers are
refused and codes go only to contacts and devices older than it (`risk.codes`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import Connection

from tidings.config import Settings
from tidings.events import forget_event_field
from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError
from tidings.kit.ids import is_id, new_id
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.privacy.codes import SEALED_CODE, seal_destination
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, codes, events, repository
from tidings.risk.exceptions import (
    ContactChangeExpired,
    ContactChangeNotFound,
    ContactChangeNotPending,
    NothingToChange,
    NoTrustedContact,
    VerificationFailed,
    WrongVerificationCode,
)
from tidings.risk.schemas import ContactChangeCreate, ContactChangeOut, SecurityChangeKind
from tidings.risk.service import record_security_change
from tidings.users import directory
from tidings.users import service as users
from tidings.users.schemas import UserOut

log = structlog.get_logger(__name__)

PENDING: Final = "pending"


@dataclass(frozen=True, slots=True)
class ContactChangePolicy:
    """How long a code lasts, how many tries it gets, and the cooling period after a change."""

    code_ttl: timedelta = timedelta(minutes=15)
    attempts: int = 3
    cooling: timedelta = timedelta(hours=48)

    @classmethod
    def from_settings(cls, settings: Settings) -> ContactChangePolicy:
        return cls(
            code_ttl=timedelta(seconds=settings.verification_code_ttl_seconds),
            attempts=settings.verification_attempts,
            cooling=timedelta(hours=settings.contact_change_cooling_hours),
        )


def _code_hash(keyring: Keyring, change_id: str, code: str) -> str:
    return keyring.lookup_hash(code, context=f"contact-change:{change_id}")


def request_change(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    data: ContactChangeCreate,
    *,
    actor: str,
    at: datetime,
    policy: ContactChangePolicy,
) -> ContactChangeOut:
    """Keep the new phone/email (sealed) and send a code to the current contact: the phone by
    SMS for a phone change, the email for an email change (the other one when that is absent),
    only if the user has had it for the cooling period."""
    current = directory.contact_of(conn, keyring, user_id)
    phone = data.phone if data.phone is not None and data.phone != current.phone else None
    email = data.email if data.email is not None and data.email != current.email else None
    if phone is None and email is None:
        raise NothingToChange(
            "give a new phone or email (different from the current one)",
            field="phone" if data.phone is not None else "email",
        )
    order = (codes.SMS, codes.EMAIL) if phone is not None else (codes.EMAIL, codes.SMS)
    present = [c for c in order if (current.phone if c == codes.SMS else current.email)]
    if not present:
        raise NoTrustedContact("there is no current phone or email to send a code to")
    channel = present[0]
    address = codes.trusted_contact(current, channel, at=at, cooling=policy.cooling)
    if address is None:
        raise NoTrustedContact(
            f"the current {'phone' if channel == codes.SMS else 'email'} changed recently; "
            "ask customer service to change it"
        )
    change_id = new_id("cch")
    code = codes.new_code()
    expires_at = at + policy.code_ttl
    change = "phone_email" if phone and email else ("phone" if phone else "email")
    notice = events.ContactChangeCode(
        change=change, expires_in_minutes=max(1, int(policy.code_ttl.total_seconds()) // 60)
    )
    code_event_id = codes.record_code(
        conn,
        keyring,
        events.CONTACT_CHANGE_CODE,
        notice,
        code=code,
        destinations={channel: seal_destination(keyring, channel, address)},
        user_id=user_id,
        at=at,
    )
    repository.insert_contact_change(
        conn,
        {
            "id": change_id,
            "user_id": user_id,
            "phone_enc": keyring.encrypt(phone, context="contact_changes.phone") if phone else None,
            "email_enc": keyring.encrypt(email, context="contact_changes.email") if email else None,
            "code_hash": _code_hash(keyring, change_id, code),
            "channel": channel,
            "attempts_left": policy.attempts,
            "status": PENDING,
            "code_event_id": code_event_id,
            "actor": actor,
            "expires_at": expires_at,
            "created_at": at,
        },
    )
    audit.record(
        conn,
        action="contact_change.requested",
        actor=actor,
        user_id=user_id,
        subject_id=change_id,
        at=at,
        detail={"change": change, "code_to": channel},
    )
    return ContactChangeOut(id=change_id, expires_at=expires_at)


def _end(conn: Connection, row: AnyRow, *, status: str, actor: str, at: datetime) -> bool:
    """Settle a pending change once and blank its code."""
    if not repository.settle_contact_change(conn, row.id, status=status, at=at):
        return False
    forget_event_field(conn, row.code_event_id, SEALED_CODE)
    audit.record(
        conn,
        action=f"contact_change.{status}",
        actor=actor,
        user_id=row.user_id,
        subject_id=row.id,
        at=at,
        detail={},
    )
    return True


def confirm_change(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    change_id: str,
    code: str,
    *,
    actor: str,
    at: datetime,
) -> UserOut | AppError:
    """The right code applies the change (a security change, alerts to the old contacts, the
    cooling period); a wrong or late one is returned for the caller to answer after commit."""
    row = visible_or_raise(
        repository.lock_contact_change(conn, change_id) if is_id(change_id, "cch") else None,
        user_id,
        ContactChangeNotFound(f"contact change {change_id} not found"),
    )
    if row.status != PENDING:
        raise ContactChangeNotPending(f"contact change {change_id} is {row.status}")
    if at >= as_utc(row.expires_at):
        _end(conn, row, status="expired", actor=actor, at=at)
        return ContactChangeExpired("the code expired; ask for a new one")
    if hmac.compare_digest(_code_hash(keyring, change_id, code), row.code_hash):
        _end(conn, row, status="confirmed", actor=actor, at=at)
        phone = (
            keyring.decrypt(row.phone_enc, context="contact_changes.phone")
            if row.phone_enc
            else None
        )
        email = (
            keyring.decrypt(row.email_enc, context="contact_changes.email")
            if row.email_enc
            else None
        )
        before = users.change_contact(conn, keyring, user_id, phone=phone, email=email, at=at)
        record_contact_changed(
            conn, keyring, user_id, before=before, actor=actor, at=at, via="code"
        )
        return users.get_user(conn, keyring, user_id)
    left = repository.spend_contact_change_attempt(conn, row.id)
    audit.record(
        conn,
        action="contact_change.wrong_code",
        actor=actor,
        user_id=user_id,
        subject_id=row.id,
        at=at,
        detail={"attempts_left": left},
    )
    if left > 0:
        return WrongVerificationCode(
            f"the code is wrong; {left} attempt(s) left", field="code", attempts_left=left
        )
    _end(conn, row, status="failed", actor=actor, at=at)
    return VerificationFailed(
        "the code is wrong and no attempt is left; ask for a new one",
        field="code",
        attempts_left=0,
    )


def record_contact_changed(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    *,
    before: directory.Contact,
    actor: str,
    at: datetime,
    via: str,
) -> None:
    """After the phone and/or email changed (by code, or an operator directly): one security
    change per kind, each alerting the OLD phone and email (pinned, as the user row already
    holds the new ones). Nothing when nothing changed."""
    after = directory.contact_of(conn, keyring, user_id)
    old = {
        channel: seal_destination(keyring, channel, address)
        for channel, address in ((codes.SMS, before.phone), (codes.EMAIL, before.email))
        if address
    }
    for kind, changed in (
        (SecurityChangeKind.PHONE, after.phone != before.phone),
        (SecurityChangeKind.EMAIL, after.email != before.email),
    ):
        if changed:
            record_security_change(
                conn,
                user_id,
                kind,
                actor=actor,
                at=at,
                destinations=old or None,
                detail={"via": via},
            )
            log.info("risk.contact.changed", kind=kind.value, via=via)


def expire_changes(conn: Connection, *, at: datetime, limit: int = 500) -> int:
    """End contact changes whose code ran out, blanking the code."""
    expired = 0
    for change_id in repository.due_contact_changes(conn, at=at, limit=limit):
        row = repository.lock_contact_change(conn, change_id)
        if row is None or row.status != PENDING or as_utc(row.expires_at) > at:
            continue
        if _end(conn, row, status="expired", actor=audit.SYSTEM, at=at):
            expired += 1
    return expired
