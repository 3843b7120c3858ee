"""The event bus loops of the worker, wired to NATS: the publisher (outbox → `TIDINGS`) and
the ingest consumer (`tidings.ingest.>` → outbox). Without `TIDINGS_NATS_URL` both only
wait for the worker to stop.

Each loop owns one NATS connection that reconnects for ever: a NATS restart or a lost
connection costs a pause, never an event (unacked publishes are sent again, unacked ingest
messages come back)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from tidings.app.context import AppContext, Loop
from tidings.bus import metrics, repository
from tidings.bus.acks import AckInbox
from tidings.bus.consumer import consume_round
from tidings.bus.publisher import publish_round
from tidings.bus.streams import (
    INGEST_CONSUMER,
    INGEST_CONSUMER_CONFIG,
    INGEST_STREAM,
    INGEST_SUBJECTS,
    ensure_streams,
)
from tidings.kit.db import read_transaction
from tidings.kit.wakeups import Channel, doorbell

log = structlog.get_logger(__name__)

RETRY_S = 1.0
"""Pause after a failed round (NATS or the database away) before the next try."""
FETCH_WAIT_S = 1.0
"""How long one ingest fetch waits for a message (and so how soon a stop is noticed)."""
STOP_CHECK_S = 0.25
"""How long an idle publisher waits for a ring before it looks whether the worker stops."""
LAG_EVERY_S = 1.0
"""How often the publisher counts the unpublished events for its gauge."""


async def connect(url: str, *, name: str) -> NatsClient:
    """A connection that reconnects for ever once made."""

    async def on_disconnect() -> None:
        log.warning("bus.nats.disconnected", connection=name)

    async def on_reconnect() -> None:
        log.info("bus.nats.reconnected", connection=name)

    async def on_error(exc: Exception) -> None:
        log.info("bus.nats.error", connection=name, error=type(exc).__name__)

    return await nats.connect(
        url,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def _pause(
    stop: threading.Event, seconds: float, *, woken: threading.Event | None = None
) -> None:
    """Sleep, but not past a stop, nor past a ring of `woken` (new outbox events): the ring
    is waited for in a thread, so a new event is published at once rather than at the next
    poll (polling every 50 ms was half the p99 outbox → stream latency at a steady rate)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if woken is None:
            await asyncio.sleep(min(0.05, left))
        elif await asyncio.to_thread(woken.wait, min(STOP_CHECK_S, left)):
            return


async def _with_nats(
    context: AppContext,
    stop: threading.Event,
    name: str,
    run: Callable[[NatsClient, JetStreamContext], Awaitable[None]],
) -> None:
    """Connect (trying again until it works or the worker stops), make the streams exist,
    run; any failure inside is logged and the run starts again on the same connection."""
    url = context.settings.nats_url
    assert url is not None
    connection: NatsClient | None = None
    try:
        while not stop.is_set():
            try:
                if connection is None or connection.is_closed:
                    connection = await connect(url, name=name)
                js = connection.jetstream()
                await ensure_streams(js)
                await run(connection, js)
            except Exception as exc:
                log.warning("bus.loop.retry", loop=name, error=type(exc).__name__, detail=str(exc))
                await _pause(stop, RETRY_S)
    finally:
        if connection is not None:
            await connection.close()


async def _publish(context: AppContext, stop: threading.Event) -> None:
    settings = context.settings
    counted_at = 0.0
    woken = doorbell(context.engine, Channel.OUTBOX).subscribe()

    async def run(connection: NatsClient, _: JetStreamContext) -> None:
        acks = AckInbox(connection)
        try:
            await publish_until_stopped(acks)
        finally:
            await acks.close()

    async def publish_until_stopped(acks: AckInbox) -> None:
        nonlocal counted_at
        while not stop.is_set():
            woken.clear()
            done = await publish_round(
                context.engine,
                acks,
                context.clock,
                limit=settings.bus_publish_batch,
                ack_timeout=settings.bus_ack_timeout_seconds,
                pause_before_mark=settings.bus_pause_before_mark_seconds,
            )
            if time.monotonic() - counted_at >= LAG_EVERY_S:
                with read_transaction(context.engine) as conn:
                    metrics.UNPUBLISHED.set(repository.count_unpublished(conn))
                counted_at = time.monotonic()
            if done.taken == 0:  # nothing to publish: sleep until an event is committed
                await _pause(stop, settings.worker_idle_ms / 1000, woken=woken)
            elif done.published < done.taken:  # NATS did not ack them all: let it recover
                await _pause(stop, RETRY_S)

    await _with_nats(context, stop, "tidings-bus-publisher", run)


async def _consume(context: AppContext, stop: threading.Event) -> None:
    settings = context.settings

    async def run(_: NatsClient, js: JetStreamContext) -> None:
        subscription = await js.pull_subscribe(
            INGEST_SUBJECTS,
            durable=INGEST_CONSUMER,
            stream=INGEST_STREAM,
            config=INGEST_CONSUMER_CONFIG,
        )
        while not stop.is_set():
            await consume_round(
                context.engine,
                context.keyring,
                js,
                subscription,
                context.clock,
                batch=settings.bus_ingest_batch,
                fetch_timeout=FETCH_WAIT_S,
                retry_delay=settings.bus_retry_delay_seconds,
            )

    await _with_nats(context, stop, "tidings-bus-ingest", run)


def bus_publisher(context: AppContext, stop: threading.Event) -> None:
    """Outbox → stream `TIDINGS`, while the worker runs (idle without a NATS URL)."""
    if context.settings.nats_url is None:
        stop.wait()
        return
    asyncio.run(_publish(context, stop))


def bus_ingest(context: AppContext, stop: threading.Event) -> None:
    """`tidings.ingest.>` → the outbox, while the worker runs (idle without a NATS URL)."""
    if context.settings.nats_url is None:
        stop.wait()
        return
    asyncio.run(_consume(context, stop))


def bus_loops() -> tuple[Loop, Loop]:
    """The bus's loops for the worker's registry."""
    return bus_publisher, bus_ingest
