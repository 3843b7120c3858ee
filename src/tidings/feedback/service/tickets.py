"""Tickets: opened from any channel, triaged, answered and resolved against SLA deadlines."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from tidings.config import Settings
from tidings.feedback import events, repository
from tidings.feedback.clock import BusinessCalendar, SlaTargets, deadlines, parse_periods
from tidings.feedback.exceptions import TicketClosed, TicketNotFound
from tidings.feedback.schemas import (
    MessageIn,
    MessageOut,
    SlaOut,
    SlaPolicyIn,
    SlaPolicyOut,
    TicketIn,
    TicketOut,
)
from tidings.feedback.service import notices
from tidings.feedback.triage import triage
from tidings.feedback.types import DONE, Author, Category, Channel, Priority, TicketStatus
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.users import directory

log = structlog.get_logger(__name__)

DEFAULT_TARGETS: dict[Priority, SlaTargets] = {
    Priority.URGENT: SlaTargets(timedelta(hours=1), timedelta(hours=8), around_the_clock=True),
    Priority.HIGH: SlaTargets(timedelta(hours=2), timedelta(hours=9), around_the_clock=False),
    Priority.NORMAL: SlaTargets(timedelta(hours=4), timedelta(hours=27), around_the_clock=False),
    Priority.LOW: SlaTargets(timedelta(hours=8), timedelta(hours=45), around_the_clock=False),
}
"""What the migration seeds (urgent 1 h / 8 h around the clock; high 2 h / 1 business day;
normal 4 h / 3 business days; low 8 h / 5 business days)."""


def business_calendar(settings: Settings) -> BusinessCalendar:
    return BusinessCalendar(
        timezone=settings.business_timezone, periods=parse_periods(settings.business_hours)
    )


def _targets(conn: Connection, priority: Priority) -> SlaTargets:
    row = repository.sla_policy(conn, priority.value)
    if row is None:
        return DEFAULT_TARGETS[priority]
    return SlaTargets(
        first_response=timedelta(minutes=row.first_response_minutes),
        resolution=timedelta(minutes=row.resolution_minutes),
        around_the_clock=bool(row.around_the_clock),
    )


def breached(row: AnyRow) -> bool:
    return row.first_response_breached_at is not None or row.resolution_breached_at is not None


def ticket_out(row: AnyRow, messages: list[AnyRow] | None = None) -> TicketOut:
    return TicketOut(
        id=row.id,
        user_id=row.user_id,
        channel=Channel(row.channel),
        subject=row.subject,
        body=row.body,
        category=Category(row.category),
        priority=Priority(row.priority),
        status=TicketStatus(row.status),
        created_at=as_utc(row.created_at),
        sla=SlaOut(
            first_response_due=as_utc(row.first_response_due),
            resolution_due=as_utc(row.resolution_due),
            first_response_at=row.first_response_at and as_utc(row.first_response_at),
            resolved_at=row.resolved_at and as_utc(row.resolved_at),
            breached=breached(row),
        ),
        messages=None
        if messages is None
        else [
            MessageOut(
                id=m.id, author=Author(m.author), body=m.body, created_at=as_utc(m.created_at)
            )
            for m in messages
        ],
    )


def open_ticket(
    conn: Connection,
    body: TicketIn,
    *,
    acting_user_id: str | None,
    calendar: BusinessCalendar,
    at: datetime,
) -> TicketOut:
    """Open a ticket: triaged (a security complaint is urgent), its deadlines stored."""
    directory.require_user(conn, body.user_id, acting_user_id=acting_user_id, field="user_id")
    category, priority = triage(subject=body.subject, body=body.body, category=body.category)
    due = deadlines(at, _targets(conn, priority), calendar)
    profile = directory.planning_profiles(conn, [body.user_id])[body.user_id]
    ticket_id = new_id("tkt")
    repository.insert_ticket(
        conn,
        {
            "id": ticket_id,
            "user_id": body.user_id,
            "channel": body.channel.value,
            "subject": body.subject,
            "body": body.body,
            "category": category.value,
            "priority": priority.value,
            "status": TicketStatus.OPEN.value,
            "locale": profile.locale,
            "created_at": at,
            "updated_at": at,
            "first_response_due": due.first_response_due,
            "resolution_due": due.resolution_due,
        },
    )
    log.info("feedback.ticket.opened", ticket_id=ticket_id, priority=priority.value)
    return get_ticket(conn, ticket_id, acting_user_id=None)


def visible_ticket(
    conn: Connection, ticket_id: str, acting_user_id: str | None, *, lock: bool = False
) -> AnyRow:
    row = repository.get_ticket(conn, ticket_id, lock=lock) if is_id(ticket_id, "tkt") else None
    return visible_or_raise(
        row, acting_user_id, TicketNotFound(f"ticket {ticket_id} not found", field="ticket_id")
    )


def get_ticket(conn: Connection, ticket_id: str, *, acting_user_id: str | None) -> TicketOut:
    row = visible_ticket(conn, ticket_id, acting_user_id)
    return ticket_out(row, repository.messages_of(conn, ticket_id))


def list_tickets(
    conn: Connection,
    *,
    user_id: str | None,
    status: TicketStatus | None,
    breached: bool | None,
    limit: int,
    after_id: str | None,
    after_deadline: tuple[datetime, str] | None = None,
) -> list[TicketOut]:
    """A user's tickets (newest first, after `after_id`), or the operator queue (nearest
    deadline first, after the `after_deadline` (deadline, id) of the previous page)."""
    rows = repository.list_tickets(
        conn,
        user_id=user_id,
        status=status.value if status else None,
        breached=breached,
        limit=limit,
        after_id=after_id,
        by_deadline=user_id is None,
        after_deadline=after_deadline,
    )
    return [ticket_out(r) for r in rows]


def next_deadline(ticket: TicketOut) -> datetime:
    """The deadline the queue orders a ticket by: its first response until answered, then
    its resolution."""
    sla = ticket.sla
    return sla.first_response_due if sla.first_response_at is None else sla.resolution_due


def add_message(
    conn: Connection,
    ticket_id: str,
    body: MessageIn,
    *,
    acting_user_id: str | None,
    at: datetime,
) -> MessageOut:
    """A message on the ticket. A user writes as the user; the first agent message is the
    first response (its clock stops) and tells the user (`followup.ticket.answered`)."""
    row = visible_ticket(conn, ticket_id, acting_user_id, lock=True)
    author = Author.USER if acting_user_id is not None else body.author
    if row.status == TicketStatus.CLOSED.value:
        raise TicketClosed(f"ticket {ticket_id} is closed")
    message_id = new_id("tkm")
    repository.insert_message(
        conn,
        {
            "id": message_id,
            "ticket_id": ticket_id,
            "author": author.value,
            "body": body.body,
            "created_at": at,
        },
    )
    values: dict[str, object] = {"updated_at": at}
    if author is Author.AGENT:
        values["status"] = (
            TicketStatus.PENDING.value if row.status == TicketStatus.OPEN.value else row.status
        )
        if row.first_response_at is None:
            values["first_response_at"] = at
            notices.record(
                conn,
                events.TICKET_ANSWERED,
                events.TicketAnswered(ticket_id=ticket_id, summary=_summary(body.body)),
                user_id=row.user_id,
                at=at,
            )
    elif row.status in (TicketStatus.PENDING.value, TicketStatus.RESOLVED.value):
        values["status"] = TicketStatus.OPEN.value
        values["resolved_at"] = None
    repository.update_ticket(conn, ticket_id, values)
    return MessageOut(id=message_id, author=author, body=body.body, created_at=at)


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def set_status(
    conn: Connection,
    ticket_id: str,
    status: TicketStatus,
    *,
    at: datetime,
    auto_closed: bool = False,
) -> TicketOut:
    """Move a ticket; resolving stops the resolution clock, and a resolved or closed ticket
    records `followup.ticket.resolved` (surveys may be triggered by it)."""
    row = visible_ticket(conn, ticket_id, None, lock=True)
    if row.status == TicketStatus.CLOSED.value and status is not TicketStatus.CLOSED:
        raise TicketClosed(f"ticket {ticket_id} is closed", field="status")
    values: dict[str, object] = {"status": status.value, "updated_at": at}
    done_before = TicketStatus(row.status) in DONE
    if status in DONE and row.resolved_at is None:
        values["resolved_at"] = at
    if status is TicketStatus.CLOSED:
        values["closed_at"] = at
        values["auto_closed"] = auto_closed
    if status not in DONE:
        values["resolved_at"] = None
    repository.update_ticket(conn, ticket_id, values)
    if status in DONE and not done_before:
        notices.record(
            conn,
            events.TICKET_RESOLVED,
            events.TicketResolved(
                ticket_id=ticket_id,
                category=row.category,
                channel=row.channel,
                auto_closed=auto_closed,
            ),
            user_id=row.user_id,
            at=at,
        )
    return get_ticket(conn, ticket_id, acting_user_id=None)


def list_policies(conn: Connection) -> list[SlaPolicyOut]:
    return [
        SlaPolicyOut(
            priority=Priority(r.priority),
            first_response_minutes=r.first_response_minutes,
            resolution_minutes=r.resolution_minutes,
            around_the_clock=bool(r.around_the_clock),
        )
        for r in repository.sla_policies_all(conn)
    ]


def save_policy(conn: Connection, priority: Priority, body: SlaPolicyIn) -> SlaPolicyOut:
    """Replace a priority's targets (new tickets use them; open ones keep their deadlines)."""
    repository.save_sla_policy(conn, priority.value, body.model_dump())
    return SlaPolicyOut(priority=priority, **body.model_dump())


@dataclass(frozen=True, slots=True)
class Breach:
    """One missed target, raised once."""

    ticket_id: str
    user_id: str
    priority: str
    target: str
    due: datetime


def mark_breaches(conn: Connection, *, now: datetime) -> list[Breach]:
    """Mark every newly missed target (first response, resolution) and record one operator
    alert event for each; a marked breach is never raised again."""
    found: list[Breach] = []
    for target, rows, due_column, mark in (
        (
            "first_response",
            repository.missed_first_responses(conn, now),
            "first_response_due",
            "first_response_breached_at",
        ),
        (
            "resolution",
            repository.missed_resolutions(conn, now),
            "resolution_due",
            "resolution_breached_at",
        ),
    ):
        for row in rows:
            due = as_utc(getattr(row, due_column))
            repository.update_ticket(conn, row.id, {mark: now})
            breach = Breach(row.id, row.user_id, row.priority, target, due)
            notices.record(
                conn,
                events.SLA_BREACHED,
                events.SlaBreached(
                    ticket_id=row.id, target=target, due=due.isoformat(), priority=row.priority
                ),
                user_id=None,
                at=now,
            )
            found.append(breach)
    return found


def close_quiet_pending(conn: Connection, *, now: datetime, after: timedelta) -> int:
    """Close pending tickets the user has not answered for `after` (auto-closed: never
    surveyed, never a suggestion source)."""
    rows = repository.quiet_pending(conn, now - after)
    for row in rows:
        set_status(conn, row.id, TicketStatus.CLOSED, at=now, auto_closed=True)
    return len(rows)


def _readable(text: str) -> str:
    """Text a user sent from outside (SMS, email) without what a typed ticket may not hold
    (control and invisible format characters such as bidi overrides): cleaned rather than
    refused, as nobody is there to type it again."""
    return "".join(
        c for c in text if c in "\n\r\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs")
    )


def ticket_from_inbound(
    conn: Connection,
    *,
    user_id: str,
    channel: Channel,
    body: str,
    subject: str | None,
    calendar: BusinessCalendar,
    at: datetime,
) -> str:
    """A ticket from a user's SMS or email (`followup.inbound.message`)."""
    text = _readable(body).strip()[:5000] or "(empty)"
    subject = _readable(subject or "").strip()[:100]
    ticket = open_ticket(
        conn,
        TicketIn.model_construct(
            user_id=user_id,
            channel=channel,
            subject=subject or None,
            body=text,
            category=None,
        ),
        acting_user_id=None,
        calendar=calendar,
        at=at,
    )
    return ticket.id
