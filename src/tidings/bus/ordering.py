"""Per-user order on the stream, as a plain decision over the events of one batch."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.bus.types import OutboxEvent


def publish_waves(events: Sequence[OutboxEvent]) -> list[list[OutboxEvent]]:
    """Split a batch (in outbox order) into waves: the first event of every ordering key,
    then the second of each, and so on. A wave is published at once and its acks awaited
    before the next, so a user's event is sent only after the one before it is stored:
    the stream keeps each user's order even when a publish fails or NATS restarts."""
    waves: list[list[OutboxEvent]] = []
    position: dict[str, int] = {}
    for event in events:
        index = position.get(event.order_key, 0)
        position[event.order_key] = index + 1
        if index == len(waves):
            waves.append([])
        waves[index].append(event)
    return waves
