"""What `tidings bus status` shows: each stream's state, the ingest consumer's, the lag."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tidings.bus.streams import INGEST_CONSUMER, INGEST_STREAM, STREAMS


@dataclass(frozen=True, slots=True)
class StreamState:
    name: str
    exists: bool
    subjects: list[str]
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    consumers: int = 0
    duplicate_window_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ConsumerState:
    name: str
    stream: str
    exists: bool
    pending: int = 0
    """Messages in the stream the consumer has not been given yet."""
    ack_pending: int = 0
    """Given out and not acked yet (being worked on, or by a consumer that died)."""
    redelivered: int = 0
    delivered_seq: int = 0
    ack_floor_seq: int = 0


@dataclass(frozen=True, slots=True)
class BusStatus:
    streams: list[StreamState]
    consumer: ConsumerState

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def read_status(js: JetStreamContext) -> BusStatus:
    """Read, never create: a missing stream or consumer is shown as missing."""
    streams = []
    for config in STREAMS:
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            streams.append(StreamState(config.name, exists=False, subjects=config.subjects or []))
            continue
        state = info.state
        streams.append(
            StreamState(
                name=config.name,
                exists=True,
                subjects=list(info.config.subjects or []),
                messages=state.messages,
                bytes=state.bytes,
                first_seq=state.first_seq,
                last_seq=state.last_seq,
                consumers=state.consumer_count,
                duplicate_window_s=info.config.duplicate_window,
            )
        )
    try:
        consumer = await js.consumer_info(INGEST_STREAM, INGEST_CONSUMER)
    except NotFoundError:
        return BusStatus(streams, ConsumerState(INGEST_CONSUMER, INGEST_STREAM, exists=False))
    return BusStatus(
        streams,
        ConsumerState(
            name=INGEST_CONSUMER,
            stream=INGEST_STREAM,
            exists=True,
            pending=consumer.num_pending or 0,
            ack_pending=consumer.num_ack_pending or 0,
            redelivered=consumer.num_redelivered or 0,
            delivered_seq=consumer.delivered.stream_seq if consumer.delivered else 0,
            ack_floor_seq=consumer.ack_floor.stream_seq if consumer.ack_floor else 0,
        ),
    )


async def status_at(url: str, *, connect_timeout: float = 3) -> BusStatus:
    """Connect (once, no reconnecting), read the status, disconnect."""
    connection = await nats.connect(
        url, allow_reconnect=False, connect_timeout=connect_timeout, max_reconnect_attempts=0
    )
    try:
        return await read_status(connection.jetstream())
    finally:
        await connection.close()


def stream_state(status: BusStatus, name: str) -> StreamState:
    return next(stream for stream in status.streams if stream.name == name)
