"""CloudEvents on the bus: our events out in structured mode (the CloudEvents SDK's JSON
format, the data spliced in as stored), and ingest messages read the way `POST /v1/events`
reads a request (structured, or binary with `ce-` headers), so both doors validate alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tidings.api.errors import validation_problem
from tidings.api.strict import validate_json_value
from tidings.bus.streams import event_subject
from tidings.bus.types import OutboxEvent
from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError, Unprocessable
from tidings.notify.cloudevents_http import HEADER_PREFIX, STRUCTURED, events_from_http
from tidings.notify.schemas import CloudEventIn

MSG_ID = "Nats-Msg-Id"
CONTENT_TYPE = "Content-Type"


class OneEventPerMessage(Unprocessable):
    """A batch (a JSON array) where the bus takes one event per message."""

    code = "one-event-per-message"
    title = "One event per message"


@dataclass(frozen=True, slots=True)
class BusMessage:
    """What goes on the stream for one outbox event."""

    subject: str
    headers: dict[str, str]
    payload: bytes


def to_message(event: OutboxEvent) -> BusMessage:
    """The event as a structured CloudEvent (JSON format, as the CloudEvents SDK writes it);
    `Nats-Msg-Id` = its id, so JetStream stores a re-published copy once. `partitionkey`
    (the partitioning extension) is the user. The data goes out as the outbox stored it,
    never decoded and encoded again: that was a third of the publisher's time."""
    attributes: dict[str, str] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": rfc3339(event.time),
        "datacontenttype": "application/json",
    }
    if event.subject is not None:
        attributes["subject"] = event.subject
    if event.user_id is not None:
        attributes["partitionkey"] = event.user_id
    head = json.dumps(attributes)
    return BusMessage(
        subject=event_subject(event.type),
        headers={MSG_ID: event.id, CONTENT_TYPE: STRUCTURED},
        payload=f'{head[:-1]}, "data": {event.data_json}}}'.encode(),
    )


def rfc3339(at: datetime) -> str:
    """A CloudEvents `time`: UTC, with `Z` (as the SDK writes it)."""
    return as_utc(at).isoformat().removesuffix("+00:00") + "Z"


def read_ingest(headers: Mapping[str, str] | None, body: bytes) -> CloudEventIn:
    """The event of one ingest message, validated as `POST /v1/events` validates it; raises
    `AppError` (its `problem()` says why) for anything else. A message without a media type
    and without `ce-` headers is read as a structured event."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    if "content-type" not in lowered and f"{HEADER_PREFIX}specversion" not in lowered:
        lowered["content-type"] = STRUCTURED
    received = events_from_http(lowered, body)
    if received.batch:
        raise OneEventPerMessage("publish each event as its own message", field="body")
    try:
        return validate_json_value(CloudEventIn, received.events[0])
    except ValidationError as exc:
        raise InvalidIngestEvent(validation_problem(list(exc.errors()))) from exc


class InvalidIngestEvent(AppError):
    """The event fails the same checks a `POST /v1/events` body fails (422, fields named)."""

    status = 422
    code = "validation"
    title = "Invalid request"

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem["detail"]))
        self.extra = {"errors": problem["errors"]}
