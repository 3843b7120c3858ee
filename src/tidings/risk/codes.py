"""Where a one-time code may go: only to contacts and devices the user has had for longer than
the cooling period after a contact change (`TIDINGS_CONTACT_CHANGE_COOLING_HOURS`).

A stolen session can register a push token, and an operator may have just changed the phone;
neither may receive a code that releases money or changes the account. The addresses are
chosen here, when the code is made, and pinned (sealed) in the event: the notification engine
sends the code to those and nowhere else, whatever fallback it would otherwise take.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection

from tidings.events import EventData, record_event
from tidings.notify import devices
from tidings.privacy.codes import DESTINATIONS, SEALED_CODE, seal_code, seal_destination
from tidings.privacy.crypto import Keyring
from tidings.users import directory

CODE_DIGITS: Final = 6
SMS: Final = "sms"
EMAIL: Final = "email"
PUSH: Final = "push"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def trusted_contact(
    contact: directory.Contact, channel: str, *, at: datetime, cooling: timedelta
) -> str | None:
    """The phone (`sms`) or email (`email`) when the user has had it for the cooling period."""
    cutoff = at - cooling
    if channel == SMS and contact.phone:
        return (
            contact.phone
            if directory.trusted(contact.phone_changed_at, trusted_before=cutoff)
            else None
        )
    if channel == EMAIL and contact.email:
        return (
            contact.email
            if directory.trusted(contact.email_changed_at, trusted_before=cutoff)
            else None
        )
    return None


def step_up_destinations(
    conn: Connection, keyring: Keyring, user_id: str, *, at: datetime, cooling: timedelta
) -> dict[str, str]:
    """Sealed addresses for a step-up code: the phone, and the newest push token registered
    before the cooling period; empty when there is none (the transfer is then refused)."""
    contact = directory.contact_of(conn, keyring, user_id)
    found: dict[str, str] = {}
    phone = trusted_contact(contact, SMS, at=at, cooling=cooling)
    if phone is not None:
        found[SMS] = seal_destination(keyring, SMS, phone)
    token = devices.trusted_push_token(conn, keyring, user_id, registered_before=at - cooling)
    if token is not None:
        found[PUSH] = seal_destination(keyring, PUSH, token)
    return found


def record_code(
    conn: Connection,
    keyring: Keyring,
    event_type: str,
    notice: EventData,
    *,
    code: str,
    destinations: dict[str, str],
    user_id: str,
    at: datetime,
) -> str:
    """Record the event that carries a one-time code (`notice`: what it is for): the code
    sealed, and the sealed addresses it goes to and nowhere else. Returns the event's id, to
    blank the code once it is spent."""
    data: dict[str, Any] = {
        SEALED_CODE: seal_code(keyring, code),
        DESTINATIONS: destinations,
        **notice.model_dump(mode="json", exclude_unset=True),
        "occurred_at": at.isoformat(),
    }
    return record_event(conn, type=event_type, user_id=user_id, at=at, data=data)
