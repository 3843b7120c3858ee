"""Events posted by an external core (`POST /v1/events`): validated, de-duplicated by
`source` + `id`, and stored in the same outbox our own domains write to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import Connection

from tidings.events import record_event
from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError, Unprocessable
from tidings.kit.ids import new_id
from tidings.notify import repository
from tidings.notify.catalogue import EVENT_TYPES, validate_event_data
from tidings.notify.kinds import service as kinds
from tidings.notify.schemas import CloudEventIn, EventAccepted, EventBatchItem
from tidings.privacy.crypto import Keyring
from tidings.users import directory


class UnknownSubject(Unprocessable):
    """The event names a user we do not know."""

    code = "unknown-subject"
    title = "Unknown subject"


class InvalidEventData(AppError):
    """A known event type without the data fields it needs."""

    status = 422
    code = "invalid-event-data"
    title = "Invalid event data"

    def __init__(self, error: ValidationError | list[str]) -> None:
        fields = (
            [
                {"field": ".".join(["data", *(str(p) for p in e["loc"])]), "message": e["msg"]}
                for e in error.errors()
            ]
            if isinstance(error, ValidationError)
            else [{"field": f"data.{name}", "message": "Field required"} for name in error]
        )
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.extra = {"errors": fields}


ERASED_DROPPED = Counter(
    "tidings_events_dropped_erased_total",
    "Events posted for a user whose personal data was erased: accepted (202) and dropped.",
)


def accept_event(
    conn: Connection, keyring: Keyring, event: CloudEventIn, *, at: datetime
) -> EventAccepted:
    """Store the event once; the same `source` + `id` again answers as before, changing nothing."""
    known = event.type in EVENT_TYPES
    data = event.data
    if known:
        try:
            data = validate_event_data(event.type, event.data)
        except ValidationError as exc:
            raise InvalidEventData(exc) from exc
    else:  # an operator-registered kind (`/v1/kinds`) has its required fields checked too
        registered = kinds.active_kind(conn, event.type)
        if registered is not None:
            known = True
            missing = kinds.missing_fields(registered, data)
            if missing:
                raise InvalidEventData(missing)
    user_id = directory.find_user_id(conn, keyring, event.subject)
    if user_id is None:
        raise UnknownSubject(
            "subject must be a user's id or external_id that exists", field="subject"
        )

    def accepted(
        stored_as: str, *, duplicate: bool = False, dropped: bool = False
    ) -> EventAccepted:
        return EventAccepted(
            id=stored_as,
            source=event.source,
            event_id=event.id,
            type=event.type,
            user_id=user_id,
            duplicate=duplicate,
            known_type=known,
            dropped=dropped,
        )

    if directory.is_erased(conn, user_id):  # accepted, so the core does not retry; dropped
        ERASED_DROPPED.inc()
        return accepted("", dropped=True)
    outbox_id = new_id("evt")
    if not repository.insert_receipt(
        conn, source=event.source, event_id=event.id, outbox_id=outbox_id, at=at
    ):
        # Seen before (on PostgreSQL a racing copy is waited for here, then seen).
        previous = repository.receipt_for(conn, event.source, event.id)
        return accepted(previous or "", duplicate=True)
    record_event(
        conn,
        type=event.type,
        user_id=user_id,
        data=data,
        at=as_utc(event.time) if event.time else at,
        source=event.source,
        event_id=outbox_id,
    )
    return accepted(outbox_id)


def accept_batch_item(
    conn: Connection,
    keyring: Keyring,
    index: int,
    item: CloudEventIn | dict[str, Any],
    *,
    at: datetime,
) -> EventBatchItem:
    """One event of a batch: stored once, or its problem (an invalid event, an unknown
    subject) without stopping the others. `item` is the event, or the problem it already has."""
    if isinstance(item, dict):
        return EventBatchItem(index=index, status=item["status"], problem=item)
    try:
        accepted = accept_event(conn, keyring, item, at=at)
    except AppError as exc:
        return EventBatchItem(index=index, status=exc.status, problem=exc.problem())
    return EventBatchItem(index=index, status=202, event=accepted)
