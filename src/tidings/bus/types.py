"""The typed rows and outcomes the bus passes between its layers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One outbox row on its way to the stream."""

    id: str
    source: str
    type: str
    subject: str | None
    user_id: str | None
    time: datetime
    data_json: str
    """The event's data as the outbox stores it (a JSON object), never decoded on the way."""

    @property
    def order_key(self) -> str:
        """Events with the same key reach the stream in outbox order: the user's, or, for
        an event about no user, its own id (nothing to keep in order with)."""
        return self.user_id or self.id


class IngestOutcome(StrEnum):
    """What became of one message taken from `tidings.ingest.>`."""

    ACCEPTED = "accepted"
    """Stored in the outbox as a new event."""
    DUPLICATE = "duplicate"
    """The same `source` + `id` was stored before; nothing changed."""
    DEAD_LETTERED = "dead_lettered"
    """Refused (not a valid event); put on the dead-letter subject with its problem."""
    RETRY = "retry"
    """The database could not take it now; redelivered later."""
