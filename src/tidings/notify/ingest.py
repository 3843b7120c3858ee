"""Events posted by an external core (`POST /v1/events`): validated, de-duplicated by
`source` + `id`, and stored in the same outbox our own domains write to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import Connection

from tidings.events import NewEvent, record_many
from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError, Unprocessable
from tidings.kit.ids import new_id
from tidings.notify import repository
from tidings.notify.catalogue import EVENT_TYPES, validate_event_data
from tidings.notify.kinds import service as kinds
from tidings.notify.kinds.service import CustomKind
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


Result = EventAccepted | AppError
"""One event's outcome in a batch: stored (or found stored before, or dropped), or why not."""


@dataclass(frozen=True, slots=True)
class _Storable:
    """An event that passed every check, for a user whose data is not erased."""

    index: int
    event: CloudEventIn
    user_id: str
    data: dict[str, Any]
    known: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.event.source, self.event.id)

    def accepted(self, stored_as: str, *, duplicate: bool) -> EventAccepted:
        return _accepted(self.event, self.user_id, self.known, stored_as, duplicate=duplicate)


def _accepted(
    event: CloudEventIn,
    user_id: str,
    known: bool,
    stored_as: str,
    *,
    duplicate: bool = False,
    dropped: bool = False,
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


def _checked_data(
    event: CloudEventIn, registered: dict[str, CustomKind]
) -> tuple[dict[str, Any], bool]:
    """The event's data as stored, and whether its type is known; raises when the data lacks
    what its type needs (a catalogue type, or an operator-registered kind, `/v1/kinds`)."""
    if event.type in EVENT_TYPES:
        try:
            return validate_event_data(event.type, event.data), True
        except ValidationError as exc:
            raise InvalidEventData(exc) from exc
    kind = registered.get(event.type)
    if kind is None:
        return event.data, False
    missing = kinds.missing_fields(kind, event.data)
    if missing:
        raise InvalidEventData(missing)
    return event.data, True


def accept_events(
    conn: Connection, keyring: Keyring, events: Sequence[CloudEventIn], *, at: datetime
) -> list[Result]:
    """Store each event once, in a few set-based statements for the whole batch: each result
    in order. The same `source` + `id` again (earlier, or twice in this batch) answers as
    before and changes nothing; a refused event does not stop the others (each is checked
    before anything of it is written); an erased user's event is accepted and dropped."""
    unknown = sorted({event.type for event in events} - EVENT_TYPES.keys())
    registered = kinds.active_kinds(conn, unknown) if unknown else {}
    subjects = directory.find_subjects(conn, keyring, sorted({e.subject for e in events}))
    results: list[Result | None] = [None] * len(events)
    firsts: dict[tuple[str, str], _Storable] = {}
    copies: list[_Storable] = []
    for index, event in enumerate(events):
        try:
            data, known = _checked_data(event, registered)
        except AppError as exc:
            results[index] = exc
            continue
        subject = subjects.get(event.subject)
        if subject is None:
            results[index] = UnknownSubject(
                "subject must be a user's id or external_id that exists", field="subject"
            )
        elif subject.erased:  # accepted, so the core does not retry; dropped
            ERASED_DROPPED.inc()
            results[index] = _accepted(event, subject.user_id, known, "", dropped=True)
        else:
            storable = _Storable(index, event, subject.user_id, data, known)
            if storable.key in firsts:
                copies.append(storable)
            else:
                firsts[storable.key] = storable
    stored_as = _store_once(conn, list(firsts.values()), at)
    for storable in firsts.values():
        outbox_id, duplicate = stored_as[storable.key]
        results[storable.index] = storable.accepted(outbox_id, duplicate=duplicate)
    for copy in copies:
        results[copy.index] = copy.accepted(stored_as[copy.key][0], duplicate=True)
    done = [result for result in results if result is not None]
    assert len(done) == len(events), "every event has its result"
    return done


def _store_once(
    conn: Connection, storables: list[_Storable], at: datetime
) -> dict[tuple[str, str], tuple[str, bool]]:
    """Receipts first (`ON CONFLICT DO NOTHING`), then the outbox rows of the new ones in one
    statement; by key: the outbox id, and whether it was stored before. Outbox ids follow
    the batch's order, so the relay and the bus see a user's events as they came."""
    outbox_ids = sorted(new_id("evt") for _ in storables)
    planned = {s.key: outbox_id for s, outbox_id in zip(storables, outbox_ids, strict=True)}
    new = repository.insert_receipts(
        conn, [(*key, outbox_id) for key, outbox_id in planned.items()], at=at
    )
    before = repository.receipts_for(conn, [key for key in planned if key not in new])
    record_many(
        conn,
        [
            NewEvent(
                id=planned[s.key],
                type=s.event.type,
                user_id=s.user_id,
                data=s.data,
                at=as_utc(s.event.time) if s.event.time else at,
                source=s.event.source,
            )
            for s in storables
            if s.key in new
        ],
    )
    return {
        key: (outbox_id, False) if key in new else (before.get(key, ""), True)
        for key, outbox_id in planned.items()
    }


def accept_event(
    conn: Connection, keyring: Keyring, event: CloudEventIn, *, at: datetime
) -> EventAccepted:
    """Store the event once (`accept_events`, a batch of one); raises what refuses it."""
    (result,) = accept_events(conn, keyring, [event], at=at)
    if isinstance(result, AppError):
        raise result
    return result


def accept_batch_items(
    conn: Connection,
    keyring: Keyring,
    items: Sequence[CloudEventIn | dict[str, Any]],
    *,
    at: datetime,
) -> list[EventBatchItem]:
    """A batch's events (`accept_events`), each stored once or with its problem; `items`
    holds the events, or the problem one already has."""
    events = [item for item in items if not isinstance(item, dict)]
    results = iter(accept_events(conn, keyring, events, at=at))
    answered: list[EventBatchItem] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            answered.append(EventBatchItem(index=index, status=item["status"], problem=item))
            continue
        result = next(results)
        if isinstance(result, AppError):
            answered.append(
                EventBatchItem(index=index, status=result.status, problem=result.problem())
            )
        else:
            answered.append(EventBatchItem(index=index, status=202, event=result))
    return answered
