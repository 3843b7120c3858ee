"""The streams, subjects and durable consumer of the bus, made to exist on start."""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = structlog.get_logger(__name__)

EVENTS_STREAM = "TIDINGS"
EVENTS_PREFIX = "tidings.events"
INGEST_STREAM = "TIDINGS_INGEST"
INGEST_SUBJECTS = "tidings.ingest.>"
INGEST_CONSUMER = "tidings-ingest"
DEAD_STREAM = "TIDINGS_DEAD"
DEAD_INGEST_SUBJECT = "tidings.dead.ingest"

DUPLICATE_WINDOW_S = 3600.0
"""JetStream drops a second message with the same `Nats-Msg-Id` within this window: longer
than any retry of ours, so a publish repeated after a crash is never stored twice."""
INGEST_ACK_WAIT_S = 30.0
"""A message not acked within this time (a consumer that died) is delivered again."""

STREAMS = (
    StreamConfig(
        name=EVENTS_STREAM,
        subjects=[f"{EVENTS_PREFIX}.>"],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
        description="Every event Tidings records, as structured CloudEvents.",
    ),
    StreamConfig(
        name=INGEST_STREAM,
        subjects=[INGEST_SUBJECTS],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
        description="CloudEvents for Tidings to take in, as POST /v1/events does.",
    ),
    StreamConfig(
        name=DEAD_STREAM,
        subjects=["tidings.dead.>"],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
        description="Ingest messages Tidings refused, each with its problem detail.",
    ),
)

INGEST_CONSUMER_CONFIG = ConsumerConfig(
    durable_name=INGEST_CONSUMER,
    ack_policy=AckPolicy.EXPLICIT,
    ack_wait=INGEST_ACK_WAIT_S,
    filter_subject=INGEST_SUBJECTS,
    description="Tidings' ingest: acked after the event is committed (or dead-lettered).",
)


def event_subject(event_type: str) -> str:
    """`payment.succeeded` → `tidings.events.payment.succeeded`."""
    return f"{EVENTS_PREFIX}.{event_type}"


async def ensure_streams(js: JetStreamContext) -> None:
    """Create each stream that is missing; one that exists is left as its operator set it."""
    for config in STREAMS:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("bus.stream.created", stream=config.name)
