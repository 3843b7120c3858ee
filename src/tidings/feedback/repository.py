"""Every query of the follow-up domain (SQLAlchemy Core, the same on SQLite and PostgreSQL).

The survey and inbound jobs read the outbox (another domain's table) set-based; they never
write it except through `tidings.events.record_event`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, insert, or_, select, update

from tidings.events import outbox
from tidings.feedback.models import (
    changes,
    deflections,
    faq_entries,
    outbox_cursors,
    outbox_seen,
    sla_policies,
    survey_invitations,
    survey_responses,
    surveys,
    ticket_messages,
    tickets,
)
from tidings.feedback.types import Author, TicketStatus
from tidings.kit.pagination import newest_first
from tidings.kit.tables import AnyRow, rows_where
from tidings.users.models import users

_OPEN = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)

# -- SLA policies --------------------------------------------------------------------------


def sla_policies_all(conn: Connection) -> list[AnyRow]:
    return list(conn.execute(select(sla_policies).order_by(sla_policies.c.priority)))


def sla_policy(conn: Connection, priority: str) -> AnyRow | None:
    return conn.execute(select(sla_policies).where(sla_policies.c.priority == priority)).first()


def save_sla_policy(conn: Connection, priority: str, values: dict[str, Any]) -> None:
    if sla_policy(conn, priority) is None:
        conn.execute(insert(sla_policies), {"priority": priority, **values})
    else:
        conn.execute(update(sla_policies).where(sla_policies.c.priority == priority).values(values))


# -- tickets -------------------------------------------------------------------------------


def insert_ticket(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(tickets), values)


def get_ticket(conn: Connection, ticket_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = select(tickets).where(tickets.c.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def update_ticket(conn: Connection, ticket_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(values))


def _breached_clause() -> Any:
    return or_(
        tickets.c.first_response_breached_at.is_not(None),
        tickets.c.resolution_breached_at.is_not(None),
    )


def list_tickets(
    conn: Connection,
    *,
    user_id: str | None = None,
    status: str | None = None,
    breached: bool | None = None,
    limit: int = 50,
    after_id: str | None = None,
    by_deadline: bool = False,
    after_deadline: tuple[datetime, str] | None = None,
) -> list[AnyRow]:
    """A user's tickets newest first, or the operator queue (`by_deadline`: the nearest
    deadline first, open tickets only unless a status is named; `after_deadline` is the
    (deadline, id) of the last ticket of the previous page)."""
    stmt = select(tickets)
    if user_id is not None:
        stmt = stmt.where(tickets.c.user_id == user_id)
    if status is not None:
        stmt = stmt.where(tickets.c.status == status)
    elif by_deadline:
        stmt = stmt.where(tickets.c.status.in_(_OPEN))
    if breached is not None:
        clause = _breached_clause()
        stmt = stmt.where(clause if breached else ~clause)
    if by_deadline:
        nearest = case(
            (tickets.c.first_response_at.is_(None), tickets.c.first_response_due),
            else_=tickets.c.resolution_due,
        )
        if after_deadline is not None:
            due, last_id = after_deadline
            stmt = stmt.where(
                or_(nearest > due, and_(nearest == due, tickets.c.id > last_id)),
            )
        stmt = stmt.order_by(nearest, tickets.c.id)
        return list(conn.execute(stmt.limit(limit)))
    return list(conn.execute(newest_first(stmt, tickets.c.id, before_id=after_id, limit=limit)))


def insert_message(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(ticket_messages), values)


def messages_of(conn: Connection, ticket_id: str) -> list[AnyRow]:
    return rows_where(conn, ticket_messages.c.ticket_id, ticket_id, order_by=ticket_messages.c.id)


def missed_first_responses(conn: Connection, now: datetime) -> list[AnyRow]:
    """Tickets whose first response is late (still none past the deadline, or given late)
    and not yet marked."""
    late = or_(
        and_(tickets.c.first_response_at.is_(None), tickets.c.status.in_(_OPEN)),
        tickets.c.first_response_at > tickets.c.first_response_due,
    )
    stmt = select(tickets).where(
        tickets.c.first_response_breached_at.is_(None),
        tickets.c.first_response_due < now,
        late,
    )
    return list(conn.execute(stmt.with_for_update(skip_locked=True)))


def missed_resolutions(conn: Connection, now: datetime) -> list[AnyRow]:
    late = or_(
        and_(tickets.c.resolved_at.is_(None), tickets.c.status.in_(_OPEN)),
        tickets.c.resolved_at > tickets.c.resolution_due,
    )
    stmt = select(tickets).where(
        tickets.c.resolution_breached_at.is_(None), tickets.c.resolution_due < now, late
    )
    return list(conn.execute(stmt.with_for_update(skip_locked=True)))


def quiet_pending(conn: Connection, before: datetime) -> list[AnyRow]:
    """Pending tickets nobody has touched since `before` (closed automatically)."""
    stmt = select(tickets).where(
        tickets.c.status == TicketStatus.PENDING.value, tickets.c.updated_at < before
    )
    return list(conn.execute(stmt.with_for_update(skip_locked=True)))


def resolved_answers(conn: Connection) -> list[AnyRow]:
    """Each resolved or closed ticket's question and its agents' answers (for suggestions)."""
    stmt = (
        select(
            tickets.c.id,
            tickets.c.subject,
            tickets.c.body,
            tickets.c.locale,
            ticket_messages.c.body.label("answer"),
        )
        .join(ticket_messages, ticket_messages.c.ticket_id == tickets.c.id)
        .where(
            tickets.c.status.in_([TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value]),
            tickets.c.auto_closed.is_(False),
            tickets.c.body != "",  # blanked: its user was erased
            ticket_messages.c.author == Author.AGENT.value,
        )
        .order_by(tickets.c.id, ticket_messages.c.id)
    )
    return list(conn.execute(stmt))


def knowledge_version(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever an FAQ entry is added, a ticket is resolved or answered, or a resolved
    ticket's text is blanked (its user erased: what they wrote must leave the index too)."""
    faq = conn.execute(select(func.count(), func.max(faq_entries.c.id))).one()
    blanked = func.sum(case((tickets.c.body == "", 1), else_=0))
    done = conn.execute(
        select(func.count(), func.max(tickets.c.updated_at), blanked).where(
            tickets.c.status.in_([TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value])
        )
    ).one()
    return (*faq, *done)


# -- the knowledge base --------------------------------------------------------------------


def insert_faq(conn: Connection, values: dict[str, Any] | list[dict[str, Any]]) -> None:
    conn.execute(insert(faq_entries), values)


def faq_all(
    conn: Connection, *, limit: int | None = None, after_id: str | None = None
) -> list[AnyRow]:
    stmt = select(faq_entries).order_by(faq_entries.c.id)
    if after_id is not None:
        stmt = stmt.where(faq_entries.c.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(conn.execute(stmt))


def get_faq(conn: Connection, faq_id: str) -> AnyRow | None:
    return conn.execute(select(faq_entries).where(faq_entries.c.id == faq_id)).first()


def insert_deflection(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(deflections), values)


def count_deflections(conn: Connection, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(
        deflections.c.created_at >= start, deflections.c.created_at < end
    )
    return int(conn.execute(stmt).scalar_one())


# -- surveys -------------------------------------------------------------------------------


def insert_survey(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(surveys), values)


def get_survey(conn: Connection, survey_id: str) -> AnyRow | None:
    return conn.execute(select(surveys).where(surveys.c.id == survey_id)).first()


def list_surveys(conn: Connection, *, active_only: bool = False) -> list[AnyRow]:
    stmt = select(surveys).order_by(surveys.c.id.desc())
    if active_only:
        stmt = stmt.where(surveys.c.active.is_(True))
    return list(conn.execute(stmt))


def cursor_position(conn: Connection, name: str) -> str | None:
    stmt = select(outbox_cursors.c.position).where(outbox_cursors.c.name == name)
    return conn.execute(stmt.with_for_update()).scalar_one_or_none()


def set_cursor(conn: Connection, name: str, position: str) -> None:
    if cursor_position(conn, name) is None:
        conn.execute(insert(outbox_cursors), {"name": name, "position": position})
    else:
        conn.execute(
            update(outbox_cursors).where(outbox_cursors.c.name == name).values(position=position)
        )


def unseen_events(
    conn: Connection, *, job: str, types: Iterable[str], after: str, limit: int
) -> list[AnyRow]:
    """Outbox events of these types after `after` (an id) that `job` has not handled."""
    seen = exists().where(outbox_seen.c.job == job, outbox_seen.c.event_id == outbox.c.id)
    stmt = (
        select(outbox.c.id, outbox.c.type, outbox.c.user_id, outbox.c.time, outbox.c.data)
        .where(outbox.c.id > after, outbox.c.type.in_(list(types)), ~seen)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def mark_seen(conn: Connection, job: str, event_ids: Sequence[str]) -> None:
    if event_ids:
        conn.execute(insert(outbox_seen), [{"job": job, "event_id": e} for e in event_ids])


def last_invited(conn: Connection, user_ids: Sequence[str]) -> dict[str, datetime]:
    """Each user's latest invitation by any survey."""
    if not user_ids:
        return {}
    stmt = (
        select(survey_invitations.c.user_id, func.max(survey_invitations.c.created_at))
        .where(survey_invitations.c.user_id.in_(list(user_ids)))
        .group_by(survey_invitations.c.user_id)
    )
    return {row[0]: row[1] for row in conn.execute(stmt)}


def existing_users(conn: Connection, user_ids: Sequence[str]) -> set[str]:
    if not user_ids:
        return set()
    stmt = select(users.c.id).where(users.c.id.in_(list(user_ids)))
    return set(conn.execute(stmt).scalars())


def insert_invitations(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(survey_invitations), rows)


def get_invitation(conn: Connection, invitation_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = select(survey_invitations).where(survey_invitations.c.id == invitation_id)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def open_invitations(conn: Connection, user_id: str, now: datetime) -> list[AnyRow]:
    stmt = (
        select(survey_invitations, surveys.c.name, surveys.c.questions)
        .join(surveys, surveys.c.id == survey_invitations.c.survey_id)
        .where(
            survey_invitations.c.user_id == user_id,
            survey_invitations.c.answered_at.is_(None),
            survey_invitations.c.expires_at > now,
        )
        .order_by(survey_invitations.c.id.desc())
    )
    return list(conn.execute(stmt))


def mark_answered(conn: Connection, invitation_id: str, at: datetime) -> bool:
    """True when this call answered the invitation (a second answer finds it answered)."""
    result = conn.execute(
        update(survey_invitations)
        .where(survey_invitations.c.id == invitation_id, survey_invitations.c.answered_at.is_(None))
        .values(answered_at=at)
    )
    return result.rowcount == 1


def insert_response(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(survey_responses), values)


def count_invited(conn: Connection, survey_id: str) -> int:
    stmt = select(func.count()).where(survey_invitations.c.survey_id == survey_id)
    return int(conn.execute(stmt).scalar_one())


def responses_of(conn: Connection, survey_id: str) -> list[AnyRow]:
    return rows_where(conn, survey_responses.c.survey_id, survey_id, order_by=survey_responses.c.id)


# -- analysis ------------------------------------------------------------------------------


def tickets_between(conn: Connection, start: datetime, end: datetime) -> list[AnyRow]:
    stmt = select(
        tickets.c.id, tickets.c.channel, tickets.c.category, tickets.c.subject, tickets.c.body
    ).where(tickets.c.created_at >= start, tickets.c.created_at < end)
    return list(conn.execute(stmt.order_by(tickets.c.id)))


def answer_texts_between(conn: Connection, start: datetime, end: datetime) -> list[AnyRow]:
    stmt = select(survey_responses.c.id, survey_responses.c.text).where(
        survey_responses.c.created_at >= start,
        survey_responses.c.created_at < end,
        survey_responses.c.text != "",
    )
    return list(conn.execute(stmt.order_by(survey_responses.c.id)))


# -- changes -------------------------------------------------------------------------------


def insert_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(changes), values)


def list_changes(conn: Connection, *, limit: int, after_id: str | None) -> list[AnyRow]:
    stmt = newest_first(select(changes), changes.c.id, before_id=after_id, limit=limit)
    return list(conn.execute(stmt))


def users_of_tickets(conn: Connection, ticket_ids: Sequence[str]) -> dict[str, str]:
    if not ticket_ids:
        return {}
    stmt = select(tickets.c.id, tickets.c.user_id).where(tickets.c.id.in_(list(ticket_ids)))
    return {row[0]: row[1] for row in conn.execute(stmt)}


def users_whose_feedback_mentions(
    conn: Connection, terms: Sequence[str], since: datetime
) -> set[str]:
    """Users whose tickets or survey answers since `since` mention any of `terms`."""
    if not terms:
        return set()
    in_tickets = select(tickets.c.user_id).where(
        tickets.c.created_at >= since,
        or_(*[func.lower(tickets.c.body).contains(t.lower(), autoescape=True) for t in terms]),
    )
    in_answers = select(survey_responses.c.user_id).where(
        survey_responses.c.created_at >= since,
        or_(
            *[
                func.lower(survey_responses.c.text).contains(t.lower(), autoescape=True)
                for t in terms
            ]
        ),
    )
    return set(conn.execute(in_tickets.union(in_answers)).scalars())
