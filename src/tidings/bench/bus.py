"""`tidings bench bus`: the event bus's throughput and latency against a real NATS server.

The benchmark starts a `nats-server -js` of its own (a free port, a store in a temporary
directory; never the machine's shared server) and, per database, a throw-away database
with a few hundred users. Three phases:

- **publish** (`<db>_publish_events_per_s`): N `wallet.payment.succeeded` events sit in the
  outbox; the clock runs while publisher rounds (as the worker runs them, the default batch)
  take them to stream `TIDINGS` and mark them, until none is left. Checked: the stream holds
  exactly N messages.
- **ingest** (`<db>_ingest_events_per_s`): M structured CloudEvents wait on
  `tidings.ingest.bench`; the clock runs from starting the ingest consumer and the relay
  (the worker's loops, in this process) until the first poll (20 ms apart) that finds a
  committed notice for every one of them.
- **steady** (`<db>_steady_…`): four producers write one event per transaction each,
  together a steady 500 events/s for `seconds` (one alone cannot commit that often on a
  busy PostgreSQL), while the publisher loop runs with its default settings; a JetStream
  ordered consumer notes when each event reaches the stream. Latency runs from the event's
  outbox `time` to that moment (`_p50_ms`, `_p99_ms`, `_max_ms`).

Every process shares this host's CPUs (`host_cpus`, `host_load_avg_1m` say how busy it was).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select, update

from tidings.app.bus import bus_ingest, bus_publisher
from tidings.app.context import AppContext
from tidings.app.notify import notify_loops
from tidings.app.worker import Worker

# The notify benchmark's users, cursor, event and producer: one way to make bench data.
from tidings.bench.notify import (
    BenchUser,
    _create_users,
    _Cursor,
    _Producer,
    _record_payment,
)
from tidings.bench.notify import _context as bench_context
from tidings.bench.support import (
    BenchmarkError,
    DatabaseKind,
    Timings,
    bench_database,
    free_port,
    make_progress,
    step,
)
from tidings.bus.acks import AckInbox
from tidings.bus.publisher import publish_round
from tidings.bus.status import status_at, stream_state
from tidings.bus.streams import EVENTS_STREAM, ensure_streams
from tidings.events import outbox
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.migrate import upgrade
from tidings.notify.models import notifications

PUBLISH_TARGET_PER_S: Final = 5_000
INGEST_TARGET_PER_S: Final = 1_000
STEADY_RATE: Final = 500.0
PRODUCERS: Final = 4
USERS: Final = 500
POLL_S: Final = 0.02
STALL_S: Final = 60.0


def run(
    *,
    databases: Sequence[DatabaseKind],
    seconds: float,
    console: Console,
    sizes: Sizes | None = None,
) -> dict[str, float]:
    """The three phases on each database; figures are prefixed with the database's name.
    `sizes` defaults to what `seconds` calls for (smaller only for a smoke test)."""
    sizes = sizes or Sizes.for_seconds(seconds)
    figures: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    with (
        make_progress(console) as progress,
        tempfile.TemporaryDirectory(prefix="tidings-bench-bus-") as tmp,
        nats_server(Path(tmp)) as url,
    ):
        for kind in databases:
            figures.update(_run_on(kind, Path(tmp) / kind, url, sizes, progress))
    figures["host_cpus"] = os.cpu_count() or 0
    figures["host_load_avg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    return figures


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each phase does."""

    users: int
    publish_events: int
    ingest_events: int
    steady_events: int

    @classmethod
    def for_seconds(cls, seconds: float) -> Sizes:
        return cls(
            users=USERS,
            publish_events=max(5_000, round(PUBLISH_TARGET_PER_S * seconds / 2)),
            ingest_events=max(2_000, round(INGEST_TARGET_PER_S * seconds / 2)),
            steady_events=max(1, round(STEADY_RATE * seconds)),
        )


@contextmanager
def nats_server(workdir: Path) -> Iterator[str]:
    """A `nats-server -js` of this run's own; its URL."""
    binary = shutil.which("nats-server")
    if binary is None:
        raise BenchmarkError("nats-server is not installed (apt-get install nats-server)")
    port = free_port()
    store = workdir / "jetstream"
    args = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    with (workdir / "nats.log").open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"nats://127.0.0.1:{port}"
    try:
        _wait_answering(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    async def quiet(_: Exception) -> None:
        """Not up yet: no traceback, try again."""

    async def probe() -> None:
        connection = await nats.connect(
            url, allow_reconnect=False, connect_timeout=1, error_cb=quiet
        )
        await connection.close()

    deadline = time.monotonic() + 15
    while True:
        try:
            asyncio.run(probe())
            return
        except Exception as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchmarkError(f"nats-server did not start: {exc}") from exc
            time.sleep(0.1)


def _run_on(
    kind: DatabaseKind, workdir: Path, url: str, sizes: Sizes, progress: Progress
) -> dict[str, float]:
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        with step(progress, f"{kind}: create and migrate a fresh database"):
            database = stack.enter_context(bench_database(kind, workdir))
            context = bench_context(database, workdir)
            stack.callback(context.engine.dispose)
            context.settings.nats_url = url
            upgrade(context.engine)
        people = _create_users(context, sizes.users, progress=progress, label=kind)
        cursor = _Cursor(people)
        figures = _publish_phase(context, cursor, sizes.publish_events, progress, kind)
        figures |= _ingest_phase(context, people, sizes.ingest_events, progress, kind)
        figures |= _steady_phase(context, cursor, sizes.steady_events, progress, kind)
        return figures


def _settle_outbox(context: AppContext) -> None:
    """What an earlier phase left in the outbox counts as relayed and published."""
    with write_transaction(context.engine) as conn:
        now = context.clock.now()
        conn.execute(update(outbox).where(outbox.c.relayed_at.is_(None)).values(relayed_at=now))
        conn.execute(
            update(outbox).where(outbox.c.bus_published_at.is_(None)).values(bus_published_at=now)
        )


def _stream_messages(url: str) -> int:
    return stream_state(asyncio.run(status_at(url)), EVENTS_STREAM).messages


def _publish_phase(
    context: AppContext, cursor: _Cursor, events: int, progress: Progress, kind: str
) -> dict[str, float]:
    with step(progress, f"{kind}: {events:,} events into the outbox"):
        for start in range(0, events, 1_000):
            with write_transaction(context.engine) as conn:
                for _ in range(min(1_000, events - start)):
                    _record_payment(conn, cursor.take(), context.clock.now())
    url = context.settings.nats_url
    assert url is not None
    before = _stream_messages(url)

    async def drain() -> float:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            await ensure_streams(js)
            acks = AckInbox(connection)
            started = time.perf_counter()
            while (
                await publish_round(
                    context.engine,
                    acks,
                    context.clock,
                    limit=context.settings.bus_publish_batch,
                    ack_timeout=context.settings.bus_ack_timeout_seconds,
                )
            ).taken:
                pass
            return time.perf_counter() - started
        finally:
            await connection.close()

    with step(progress, f"{kind}: publish them to stream {EVENTS_STREAM}"):
        elapsed = asyncio.run(drain())
    stored = _stream_messages(url) - before
    if stored != events:
        raise BenchmarkError(f"{kind}: {events:,} events published, the stream holds {stored:,}")
    return {
        f"{kind}_publish_events": events,
        f"{kind}_publish_events_per_s": round(events / elapsed, 1),
    }


def _ingest_phase(
    context: AppContext, people: list[BenchUser], events: int, progress: Progress, kind: str
) -> dict[str, float]:
    _settle_outbox(context)
    url = context.settings.nats_url
    assert url is not None

    async def load() -> None:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            await ensure_streams(js)
            acks = []
            for n in range(events):
                user = people[n % len(people)]
                event = {
                    "specversion": "1.0",
                    "id": f"bench-{kind}-{n}",
                    "source": "urn:bench:core",
                    "type": "wallet.payment.succeeded",
                    "subject": user.user_id,
                    "data": {
                        "wallet_id": user.wallet_id,
                        "transfer_id": f"core-trf-{n}",
                        "amount": {"value": 1_280, "currency": "CNY"},
                        "balance_after": {"value": 1_000_000, "currency": "CNY"},
                        "merchant": {"name": "Bench Coffee", "category": "5814"},
                    },
                }
                acks.append(
                    await js.publish_async("tidings.ingest.bench", json.dumps(event).encode())
                )
            await asyncio.gather(*acks)
        finally:
            await connection.close()

    with step(progress, f"{kind}: {events:,} CloudEvents onto tidings.ingest.bench"):
        asyncio.run(load())
    with read_transaction(context.engine) as conn:
        notices_before = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
    relay = notify_loops()[0]
    worker = Worker(context, loops=(relay, bus_ingest))
    task = progress.add_task(f"{kind}: ingest to committed notices", total=events, detail="")
    started = time.perf_counter()
    worker.start()
    try:
        done, last_change, seen = 0, time.monotonic(), -1
        while done < events:
            time.sleep(POLL_S)
            with read_transaction(context.engine) as conn:
                done = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
                done -= notices_before
            progress.update(task, completed=done)
            if done != seen:
                seen, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                raise BenchmarkError(f"{kind}: ingest stalled at {done:,} of {events:,} notices")
        elapsed = time.perf_counter() - started
    finally:
        worker.shutdown()
    return {
        f"{kind}_ingest_events": events,
        f"{kind}_ingest_events_per_s": round(events / elapsed, 1),
    }


class _StreamWatcher(threading.Thread):
    """An ordered JetStream consumer of `tidings.events.>`: when each event id arrived."""

    def __init__(self, url: str) -> None:
        super().__init__(name="bench-stream-watcher", daemon=True)
        self.url = url
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._watch())
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.ready.set()

    async def _watch(self) -> None:
        connection = await nats.connect(self.url)

        async def arrived(message: Msg) -> None:
            msg_id = (message.headers or {}).get("Nats-Msg-Id")
            if msg_id is not None:
                self.arrived.setdefault(msg_id, time.time())

        js = connection.jetstream()
        await js.subscribe(
            "tidings.events.>", cb=arrived, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        self.ready.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.01)
        await connection.close()


def _steady_phase(
    context: AppContext, cursor: _Cursor, events: int, progress: Progress, kind: str
) -> dict[str, float]:
    _settle_outbox(context)
    url = context.settings.nats_url
    assert url is not None
    watcher = _StreamWatcher(url)
    watcher.start()
    watcher.ready.wait(15)
    if watcher.error is not None:
        raise BenchmarkError(f"{kind}: cannot watch the stream: {watcher.error}")
    worker = Worker(context, loops=(bus_publisher,))
    producers = [
        _Producer(context, cursor, events=share, rate=STEADY_RATE / PRODUCERS)
        for share in (events // PRODUCERS + (n < events % PRODUCERS) for n in range(PRODUCERS))
    ]
    task = progress.add_task(f"{kind}: steady {STEADY_RATE:.0f} events/s", total=events, detail="")
    worker.start()
    try:
        for producer in producers:
            producer.start()
        last_change, seen = time.monotonic(), -1
        while True:
            time.sleep(POLL_S)
            produced = [event for producer in producers for event in producer.snapshot()]
            arrived = sum(1 for p in produced if p.event_id in watcher.arrived)
            progress.update(task, completed=arrived)
            if not any(p.is_alive() for p in producers) and arrived == len(produced):
                break
            if arrived != seen:
                seen, last_change = arrived, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                raise BenchmarkError(f"{kind}: the stream stalled at {arrived:,} events")
    finally:
        worker.shutdown()
        watcher.stop.set()
        watcher.join(10)
    for producer in producers:
        if producer.error is not None:
            raise BenchmarkError(f"{kind}: a producer failed: {producer.error}")
    latencies = Timings(
        elapsed_s=max(producer.elapsed_s for producer in producers),
        latencies_ns=[round((watcher.arrived[p.event_id] - p.at) * 1e9) for p in produced],
    )
    return {
        f"{kind}_steady_events": len(produced),
        f"{kind}_steady_events_per_s": round(latencies.per_second, 1),
        f"{kind}_steady_p50_ms": round(latencies.percentile_ms(50), 2),
        f"{kind}_steady_p99_ms": round(latencies.percentile_ms(99), 2),
        f"{kind}_steady_max_ms": round(latencies.percentile_ms(100), 2),
    }
