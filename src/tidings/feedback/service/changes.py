""" "What we changed": operators publish a change; the users behind its linked tickets, and
those whose feedback in the last 90 days mentions its topics, are told (informational)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from tidings.feedback import events, repository
from tidings.feedback.exceptions import TicketNotFound
from tidings.feedback.schemas import ChangeIn, ChangeOut
from tidings.feedback.service import notices
from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.kit.tables import AnyRow
from tidings.users import directory

LOOKBACK = timedelta(days=90)


def _change_out(row: AnyRow, notified: int | None = None) -> ChangeOut:
    return ChangeOut(
        id=row.id,
        title=dict(row.title),
        body=dict(row.body),
        topics=list(row.topics),
        ticket_ids=list(row.ticket_ids),
        published_at=as_utc(row.published_at),
        notified=notified,
    )


def publish(conn: Connection, body: ChangeIn, *, changes_url: str, at: datetime) -> ChangeOut:
    owners = repository.users_of_tickets(conn, body.ticket_ids)
    missing = [t for t in body.ticket_ids if t not in owners]
    if missing:
        raise TicketNotFound(f"ticket {missing[0]} not found", field="ticket_ids")
    change_id = new_id("chg")
    values = {
        "id": change_id,
        "title": body.title.model_dump(by_alias=True, exclude_none=True),
        "body": body.body.model_dump(by_alias=True, exclude_none=True),
        "topics": list(body.topics),
        "ticket_ids": list(body.ticket_ids),
        "published_at": at,
    }
    repository.insert_change(conn, values)
    recipients = set(owners.values()) | repository.users_whose_feedback_mentions(
        conn, body.topics, at - LOOKBACK
    )
    profiles = directory.planning_profiles(conn, sorted(recipients))
    for user_id in sorted(recipients):
        profile = profiles.get(user_id)
        locale = profile.locale if profile is not None else "zh-CN"
        notices.record(
            conn,
            events.CHANGE_PUBLISHED,
            events.ChangePublished(
                change_id=change_id,
                title=body.title.pick(locale),
                url=f"{changes_url}#{change_id}",
            ),
            user_id=user_id,
            at=at,
        )
    return ChangeOut(
        id=change_id,
        title=values["title"],
        body=values["body"],
        topics=list(body.topics),
        ticket_ids=list(body.ticket_ids),
        published_at=at,
        notified=len(recipients),
    )


def list_changes(conn: Connection, *, limit: int, after_id: str | None) -> list[ChangeOut]:
    return [_change_out(r) for r in repository.list_changes(conn, limit=limit, after_id=after_id)]
