"""Tickets from what users write to us outside the app: SMS replies that are not an
unsubscribe word (notify records them as `followup.inbound.message`) and inbound email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.feedback import events
from tidings.feedback.clock import BusinessCalendar
from tidings.feedback.service import outbox_reader
from tidings.feedback.service.tickets import ticket_from_inbound
from tidings.feedback.types import Channel
from tidings.privacy.crypto import Keyring
from tidings.users import directory

INBOUND_JOB = "followup.inbound"


def open_inbound_tickets(conn: Connection, *, now: datetime, calendar: BusinessCalendar) -> int:
    """One ticket per inbound message not yet handled (idempotent)."""
    rows = outbox_reader.unread(conn, INBOUND_JOB, [events.INBOUND_MESSAGE], now=now)
    opened = 0
    for row in rows:
        data = events.InboundMessage.model_validate(row.data)
        if row.user_id is None or data.channel not in {c.value for c in Channel}:
            continue
        ticket_from_inbound(
            conn,
            user_id=row.user_id,
            channel=Channel(data.channel),
            body=data.body,
            subject=data.subject,
            calendar=calendar,
            at=now,
        )
        opened += 1
    outbox_reader.handled(conn, INBOUND_JOB, rows)
    return opened


def ticket_from_email(
    conn: Connection,
    keyring: Keyring,
    *,
    sender: str,
    subject: str,
    text: str,
    calendar: BusinessCalendar,
    at: datetime,
) -> list[str]:
    """Tickets for the users with the sender's address (none for an unknown sender)."""
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return [
        ticket_from_inbound(
            conn,
            user_id=user_id,
            channel=Channel.EMAIL,
            body=text,
            subject=subject,
            calendar=calendar,
            at=at,
        )
        for user_id in directory.users_with_email(conn, keyring, address)
    ]
