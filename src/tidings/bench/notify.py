"""`tidings bench notify`: how fast outbox events become delivered notices, and how late.

Each database gets one throw-away database, a few thousand users who chose inbox + SMS for
transactional notices, a local SMS provider stub reached over real HTTP (an asyncio server
in its own process, answering 200 `{"id": …}` at once and counting requests by
`Idempotency-Key`), and real `tidings worker` processes. Two phases:

- **backlog** (`<db>_<n>w_…`): K `wallet.payment.succeeded` events (two deliveries each:
  inbox and SMS) appear in the outbox in one commit while the workers idle; the clock runs
  from that commit until the first poll (20 ms apart) that finds every event relayed and no
  delivery open. K is what one worker at the target rate (1,000 deliveries/s) would drain
  in `seconds`. PostgreSQL runs it with one worker process, then with two sharing one
  backlog; SQLite with one (`tidings worker` says to run one only). Every run is checked:
  each event has its notice and its inbox row, each SMS reached the stub, every delivery
  ended `sent` (`_lost` counts what did not), no SMS was requested twice (stub requests
  against distinct `Idempotency-Key`s: `_sent_twice`), and none reached the stub without
  being recorded as sent (`_sms_unrecorded`). A run that loses or repeats anything fails
  the benchmark (after printing the figures).
- **steady** (`<db>_steady_…`): fresh worker processes (one on SQLite, two on PostgreSQL),
  warmed up with a few events; producer threads here (`PRODUCER_LANES`, each taking every
  n-th slot of one schedule) write one event per transaction at a steady 200 events/s
  (`--rate`) for `seconds` (`_events_per_s` is the rate they achieved). Latency runs from
  the event's outbox `time` to *delivered*: for SMS the stub's receive time, for the inbox
  the moment its row is committed, seen by a watcher polling every 10 ms (so up to 10 ms
  late).
  `_p50_ms`/`_p99_ms`/`_max_ms` cover both channels, `_sms_…` and `_inbox_…` split them,
  and `_sent_at_…` is measured to `deliveries.sent_at` instead, which the dispatcher stamps
  before it sends and before it commits its batch. `_worker_cpu_ms_per_event` is the CPU
  the worker processes used from the first event until the last delivery, per event, and
  `_postgresql_cpu_ms_per_event` that of the database's PostgreSQL backends (all of them:
  the producers' and the watcher's too) when PostgreSQL runs on this host.

All clocks are this host's wall clock, and every process runs here and shares its CPUs:
`host_cpus` and `host_load_avg_1m` (the higher of the 1-minute load averages at the start
and at the end) say how busy it was.

The databases start fresh, as a new deployment's would: PostgreSQL's planner knows nothing
of `deliveries` until autovacuum has vacuumed or analyzed it, and the benchmark never does
that for it (`postgresql_<n>w_planner_stats_at_start`/`_at_end` say whether autovacuum had,
when the backlog appeared and when it was drained).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Final, cast

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress, TaskID
from sqlalchemy import Connection, Engine, bindparam, create_engine, func, select, text

from tidings.app.context import AppContext
from tidings.bench.serving import ProcessTree, Server, running_server, tidings_executable
from tidings.bench.support import (
    BENCH_DATA_KEY,
    BENCH_LOOKUP_KEY,
    BenchDatabase,
    BenchmarkError,
    DatabaseKind,
    Timings,
    bench_database,
    create_bench_user,
    make_progress,
    run_timed,
    step,
)
from tidings.config import Settings
from tidings.events import outbox, record_event
from tidings.kit.clock import SystemClock, as_utc
from tidings.kit.db import make_engine, normalise_url, read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.kit.migrate import upgrade
from tidings.notify import preferences
from tidings.notify.channels.config import SMS_VARIABLE
from tidings.notify.models import deliveries, inbox_items, notifications
from tidings.notify.schemas import PreferencesIn
from tidings.notify.types import Category, ChannelName
from tidings.privacy.crypto import Keyring
from tidings.wallets.events import PAYMENT_SUCCEEDED

TARGET_DELIVERIES_PER_S: Final = 1_000
"""The issue's target for one worker process; sizes the backlog, never the verdict."""
DELIVERIES_PER_EVENT: Final = 2
"""Inbox and SMS: what every bench user chose for transactional notices."""
MIN_BACKLOG_EVENTS: Final = 500
DEFAULT_USERS: Final = 2_000
SMS_PER_USER_BUDGET: Final = 40
"""The planner allows 50 SMS per number per day (`PlannerPolicy.sms_daily_limit`); we stay
well below, or the planner would suppress SMS and the run would measure that instead."""
USERS_PER_TRANSACTION: Final = 250
STEADY_RATE: Final = 200.0
"""Events per second in the steady phase by default (`--rate 500` is issue #21's load)."""
WARM_UP_EVENTS: Final = 20
"""Delivered before the steady clock starts: templates compiled, connections open."""
WORKER_COUNTS: Final[dict[DatabaseKind, tuple[int, ...]]] = {
    "sqlite": (1,),  # one writer process: `tidings worker` says to run one only
    "postgresql": (1, 2),
}
STEADY_WORKERS: Final[dict[DatabaseKind, int]] = {"sqlite": 1, "postgresql": 2}
"""Worker processes in the steady phase (the issue's load: 500 events/s on two)."""
DRAINING_EVENTS: Final = 5_000
"""One user's backlog while the API is measured beside the worker draining it."""
DRAINING_TOP_UP: Final = {"value": 100, "currency": "CNY"}
DRAIN_POLL_S: Final = 0.02
WATCH_POLL_S: Final = 0.01
PRODUCER_LANES: Final = 4
LOCAL_HOSTS: Final = frozenset({None, "", "localhost", "127.0.0.1", "::1"})
STALL_S: Final = 60.0
"""No progress at all for this long means a wedged or dead worker, not a slow one."""
WORKER_READY_S: Final = 60.0
READY_MARKER: Final = b"worker running"
WORKER_TUNABLES: Final = frozenset(
    {
        "TIDINGS_DISPATCH_BATCH",
        "TIDINGS_RELAY_BATCH",
        "TIDINGS_WORKER_IDLE_MS",
        "TIDINGS_WORKER_LINGER_MS",
        "TIDINGS_DELIVERY_LEASE_SECONDS",
    }
)
"""The only inherited `TIDINGS_*` variables a bench worker sees (to try other settings);
anything else (a real provider, a status webhook) would change what is measured."""
PAYMENT: Final = {"value": 1_280, "currency": "CNY"}
BENCH_ADMIN_KEY: Final = "bench-notify-admin-key-0123456789abcdefghij"
MERCHANT: Final = {"name": "Bench Coffee", "category": "5814"}


@dataclass(frozen=True, slots=True)
class BenchUser:
    user_id: str
    wallet_id: str


def run(
    *,
    databases: Sequence[DatabaseKind],
    seconds: float,
    console: Console,
    backlog_events: int | None = None,
    users: int | None = None,
    steady_rate: float | None = None,
    idle_seconds: float | None = None,
    draining: bool = True,
) -> dict[str, float]:
    """The phases on each database; figures are prefixed `<db>_<n>w_`, `<db>_steady_`,
    `<db>_idle_` (when `idle_seconds`) and `sqlite_api_while_draining_` (when `draining`)."""
    if backlog_events is None:
        backlog_events = max(
            MIN_BACKLOG_EVENTS, round(TARGET_DELIVERIES_PER_S * seconds / DELIVERIES_PER_EVENT)
        )
    steady_rate = steady_rate or STEADY_RATE
    steady_events = max(1, round(steady_rate * seconds))
    figures: dict[str, float] = {}
    problems: list[str] = []
    load_before = os.getloadavg()[0]
    with make_progress(console) as progress, SmsStub() as stub:
        for kind in databases:
            runs = len(WORKER_COUNTS[kind])
            per_user = backlog_events * runs + steady_events + WARM_UP_EVENTS
            needed = -(-per_user // SMS_PER_USER_BUDGET)
            plan = _Plan(
                kind=kind,
                backlog_events=backlog_events,
                steady_events=steady_events,
                steady_rate=steady_rate,
                users=max(users if users is not None else DEFAULT_USERS, needed),
                idle_seconds=idle_seconds,
                draining=draining and kind == "sqlite",
                seconds=seconds,
            )
            found, trouble = _run_on(plan, stub=stub, progress=progress)
            figures.update(found)
            problems += trouble
    # Every process here shares the host's CPUs: a busy host reads as a slow worker.
    figures["host_cpus"] = os.cpu_count() or 0
    figures["host_load_avg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    if problems:
        from tidings.bench import figures_table

        console.print(figures_table("notify", figures))
        raise BenchmarkError("notices were lost or sent twice: " + "; ".join(problems))
    return figures


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: DatabaseKind
    backlog_events: int
    steady_events: int
    steady_rate: float
    users: int
    idle_seconds: float | None
    draining: bool
    seconds: float


def _run_on(
    plan: _Plan, *, stub: SmsStub, progress: Progress
) -> tuple[dict[str, float], list[str]]:
    kind = plan.kind
    figures: dict[str, float] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        with step(progress, f"{kind}: create a fresh database"):
            database = stack.enter_context(bench_database(kind, workdir))
        context = _context(database, workdir)
        stack.callback(context.engine.dispose)
        with step(progress, f"{kind}: migrate"):
            upgrade(context.engine)
        people = _create_users(context, plan.users, progress=progress, label=kind)
        rig = _Rig(context, database, workdir, _Cursor(people), stub, progress)
        for workers in WORKER_COUNTS[kind]:
            found, trouble = _backlog_phase(rig, events=plan.backlog_events, workers=workers)
            figures.update(found)
            problems += trouble
        found, trouble = _steady_phase(rig, events=plan.steady_events, rate=plan.steady_rate)
        figures.update(found)
        problems += trouble
        if plan.idle_seconds is not None:
            figures.update(_idle_phase(rig, seconds=plan.idle_seconds))
        if plan.draining:
            figures.update(_draining_phase(rig, seconds=plan.seconds))
    return figures, problems


def _context(database: BenchDatabase, workdir: Path) -> AppContext:
    settings = Settings(
        database_url=database.url,
        var_dir=workdir / "var",
        data_key=SecretStr(BENCH_DATA_KEY),
        lookup_key=SecretStr(BENCH_LOOKUP_KEY),
        status_webhook_url=None,
    )
    keyring = Keyring.from_specs(data_key_spec=BENCH_DATA_KEY, lookup_key_b64=BENCH_LOOKUP_KEY)
    return AppContext(
        settings=settings, engine=make_engine(database.url), keyring=keyring, clock=SystemClock()
    )


def _create_users(
    context: AppContext, count: int, *, progress: Progress, label: str
) -> list[BenchUser]:
    """Users through the service layer, a few hundred per transaction, each choosing inbox +
    SMS for transactional notices (the default is inbox + push, and they have no push token)."""
    task = progress.add_task(
        f"{label}: create {count:,} users (payments by inbox + SMS)", total=count, detail=""
    )
    choice = PreferencesIn(channels={Category.TRANSACTIONAL: [ChannelName.INBOX, ChannelName.SMS]})
    created: list[BenchUser] = []
    for start in range(0, count, USERS_PER_TRANSACTION):
        with write_transaction(context.engine) as conn:
            now = context.clock.now()
            for n in range(start, min(count, start + USERS_PER_TRANSACTION)):
                user = create_bench_user(
                    conn,
                    context,
                    external_id=f"bench-notify-{n}",
                    name=f"通知用户{n}",
                    phone=f"+86139{n:08d}",
                    at=now,
                )
                preferences.update_preferences(
                    conn, context.keyring, user.id, choice, actor="bench", at=now
                )
                created.append(BenchUser(user.id, user.wallet_id))
        progress.update(task, completed=len(created))
    return created


class _Cursor:
    """Hands out users round-robin, so consecutive events belong to different users (a user's
    notices on one channel go out in order, one at a time)."""

    def __init__(self, people: list[BenchUser]) -> None:
        self._people = people
        self._next = 0

    def take(self) -> BenchUser:
        user = self._people[self._next % len(self._people)]
        self._next += 1
        return user


def _record_payment(conn: Connection, user: BenchUser, at: datetime) -> str:
    """One `payment.succeeded` event of `user` in the outbox; its event id."""
    data = {
        "wallet_id": user.wallet_id,
        "transfer_id": new_id("trf"),
        "amount": PAYMENT,
        "balance_after": {"value": 1_000_000, "currency": "CNY"},
        "merchant": MERCHANT,
        "occurred_at": at.isoformat(),
    }
    return record_event(conn, type=PAYMENT_SUCCEEDED, user_id=user.user_id, data=data, at=at)


def _record_payments(context: AppContext, cursor: _Cursor, events: int) -> None:
    """`events` payments of the next users, written to the outbox in one commit."""
    with write_transaction(context.engine) as conn:
        for _ in range(events):
            _record_payment(conn, cursor.take(), context.clock.now())


# --- the SMS provider stub, in a process of its own ------------------------------------

STUB_FLAG: Final = "--sms-stub"
STATS_PATH: Final = b"/_stats"


@dataclass(frozen=True, slots=True)
class StubCounts:
    requests: int
    first_seen: dict[str, float]
    """Idempotency-Key → when the first request with it arrived (epoch seconds)."""


class _StubState:
    def __init__(self) -> None:
        self.requests = 0
        self.first_seen: dict[str, float] = {}

    def take(self) -> bytes:
        """What arrived since the last look, as JSON; counting starts afresh."""
        body = json.dumps({"requests": self.requests, "first_seen": self.first_seen})
        self.requests, self.first_seen = 0, {}
        return body.encode()


class _StubProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 for the SMS adapter: read a request (headers, `Content-Length`
    body), answer at once, keep the connection for the next one. `POST` anything is an SMS
    (200 `{"id": …}`); `GET /_stats` returns and resets the counts."""

    def __init__(self, state: _StubState) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            request_line, *headers = self.buffer[:end].split(b"\r\n")
            length, key = 0, ""
            for line in headers:
                name, _, value = line.partition(b":")
                match name.strip().lower():
                    case b"content-length":
                        length = int(value)
                    case b"idempotency-key":
                        key = value.strip().decode("latin-1")
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            self.buffer = self.buffer[end + 4 + length :]
            if request_line.split(b" ")[1:2] == [STATS_PATH]:
                body = self.state.take()
            else:
                received = time.time()
                self.state.requests += 1
                self.state.first_seen.setdefault(key, received)
                body = b'{"id":"stub-%d"}' % self.state.requests
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
            )


def serve_stub() -> None:
    """The stub process: listen on a free port, print it, answer until terminated."""

    async def serve() -> None:
        state = _StubState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _StubProtocol(state), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class SmsStub:
    """A local SMS provider (`"type": "http"` in `TIDINGS_SMS_PROVIDERS`) that accepts
    everything at once, remembering when each `Idempotency-Key` first arrived and how many
    requests came in all. It is an asyncio server in its own process (a few tens of
    microseconds a request), so it never competes with a worker for a GIL."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/sms"

    def providers_json(self) -> str:
        return json.dumps([{"type": "http", "url": self.url, "api_key": "bench-sms-key"}])

    def __enter__(self) -> SmsStub:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tidings.bench.notify", STUB_FLAG], stdout=subprocess.PIPE
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            _stop(self._process)
            raise BenchmarkError(f"the SMS stub did not start (it printed {line!r})")
        self._port = int(line)
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            _stop(self._process)
            if self._process.stdout is not None:
                self._process.stdout.close()

    def take(self) -> StubCounts:
        """What arrived since the last `take`; counting starts afresh."""
        response = httpx.get(f"http://127.0.0.1:{self._port}/_stats", timeout=30)
        raw = response.raise_for_status().json()
        return StubCounts(int(raw["requests"]), dict(raw["first_seen"]))


# --- `tidings worker` processes -----------------------------------------------------

_worker_numbers = count(1)


@dataclass
class WorkerProcesses:
    """`tidings worker` processes, each logging to its own file."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise BenchmarkError(
                    f"`tidings worker` exited with {process.returncode}:\n{_tail(log)}"
                )

    def tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{_tail(log)}" for log in self.logs)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _worker_env(database: BenchDatabase, workdir: Path, stub: SmsStub) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TIDINGS_") or name in WORKER_TUNABLES
    }
    return {
        **inherited,
        "TIDINGS_DATABASE_URL": database.url,
        "TIDINGS_VAR_DIR": str(workdir / "var"),
        "TIDINGS_DATA_KEY": BENCH_DATA_KEY,
        "TIDINGS_LOOKUP_KEY": BENCH_LOOKUP_KEY,
        "TIDINGS_LOG_LEVEL": "WARNING",
        SMS_VARIABLE: stub.providers_json(),
    }


@dataclass(frozen=True, slots=True)
class _Rig:
    """One database's benchmark: what every phase starts its processes from and writes to."""

    context: AppContext
    database: BenchDatabase
    workdir: Path
    cursor: _Cursor
    stub: SmsStub
    progress: Progress


@contextmanager
def running_workers(rig: _Rig, *, count: int) -> Iterator[WorkerProcesses]:
    """`count` `tidings worker` processes, each idle and ready, until the block ends."""
    label = rig.database.kind
    env = _worker_env(rig.database, rig.workdir, rig.stub)
    workers = WorkerProcesses()
    try:
        with step(rig.progress, f"{label}: start {count} `tidings worker` process(es)"):
            for _ in range(count):
                log_path = rig.workdir / f"worker-{next(_worker_numbers)}.log"
                with log_path.open("wb") as log:
                    workers.processes.append(
                        subprocess.Popen(
                            [tidings_executable(), "worker"],
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
                workers.logs.append(log_path)
            _wait_ready(workers)
        yield workers
    finally:
        for process in workers.processes:
            _stop(process)


def _wait_ready(workers: WorkerProcesses) -> None:
    deadline = time.monotonic() + WORKER_READY_S
    waiting = list(workers.logs)
    while waiting:
        workers.check_alive()
        waiting = [log for log in waiting if READY_MARKER not in log.read_bytes()]
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"`tidings worker` not ready within {WORKER_READY_S:.0f} s:\n{workers.tails()}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- progress and checks ----------------------------------------------------------------


def _busy(engine: Engine) -> tuple[bool, bool]:
    """(an event waits for the relay, a delivery is still open): two index probes in one
    statement, so one snapshot (a relayed event always has its deliveries)."""
    query = select(
        select(outbox.c.id).where(outbox.c.relayed_at.is_(None)).exists(),
        select(deliveries.c.id).where(deliveries.c.status.in_(("pending", "sending"))).exists(),
    )
    with read_transaction(engine) as conn:
        unrelayed, open_ = conn.execute(query).one()
    return bool(unrelayed), bool(open_)


def _sent(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        query = select(func.count()).where(deliveries.c.status == "sent")
        return int(conn.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class _Drained:
    elapsed_s: float
    relayed_s: float
    """When the outbox was first seen empty, from the start."""


def _drain(
    engine: Engine,
    workers: WorkerProcesses,
    *,
    started: float,
    baseline_sent: int,
    progress: Progress,
    task: TaskID,
) -> _Drained:
    """Wait until every event is relayed and no delivery is open; times from `started`
    (a `perf_counter` reading) to the poll that first saw it done (polls are 20 ms apart and
    cheap; the sent count for the progress bar, a bigger query, runs every half second)."""
    last_sent = -1
    last_change = next_count = time.monotonic()
    relayed_s: float | None = None
    while True:
        polled = time.perf_counter()
        unrelayed, open_ = _busy(engine)
        if not unrelayed and relayed_s is None:
            relayed_s = polled - started
        if not unrelayed and not open_:
            elapsed = polled - started
            sent = _sent(engine) - baseline_sent
            progress.update(task, completed=sent, detail=_rate(sent, elapsed))
            return _Drained(elapsed_s=elapsed, relayed_s=relayed_s or elapsed)
        if time.monotonic() >= next_count:
            sent = _sent(engine) - baseline_sent
            progress.update(task, completed=sent, detail=_rate(sent, polled - started))
            if sent != last_sent:
                last_sent, last_change = sent, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                raise BenchmarkError(
                    f"no delivery for {STALL_S:.0f} s; worker logs:\n{workers.tails()}"
                )
            workers.check_alive()
            next_count = time.monotonic() + 0.5
        time.sleep(DRAIN_POLL_S)


def _rate(sent: int, elapsed: float) -> str:
    return f"{sent / elapsed:,.0f} deliveries/s" if elapsed > 0 else ""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    sms_sent: frozenset[str]
    inbox: int
    notifications: int
    deliveries: int
    sent: int


def _snapshot(engine: Engine) -> _Snapshot:
    with read_transaction(engine) as conn:
        sms = conn.execute(
            select(deliveries.c.id).where(
                deliveries.c.channel == ChannelName.SMS.value, deliveries.c.status == "sent"
            )
        ).scalars()
        sms_sent = frozenset(sms)
        inbox = conn.execute(select(func.count()).select_from(inbox_items)).scalar_one()
        notices = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
        total = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        sent = conn.execute(select(func.count()).where(deliveries.c.status == "sent")).scalar_one()
    return _Snapshot(sms_sent, int(inbox), int(notices), int(total), int(sent))


def _integrity(
    prefix: str, *, events: int, before: _Snapshot, after: _Snapshot, stub: StubCounts
) -> tuple[dict[str, float], list[str]]:
    """Every event made one notice, one inbox row and one SMS at the provider, once."""
    new_sms = after.sms_sent - before.sms_sent
    arrived = set(stub.first_seen)
    inbox_missing = events - (after.inbox - before.inbox)
    sms_missing = events - len(new_sms & arrived)
    not_sent = (after.deliveries - before.deliveries) - (after.sent - before.sent)
    figures: dict[str, float] = {
        f"{prefix}_lost": inbox_missing + sms_missing + not_sent,
        f"{prefix}_sent_twice": stub.requests - len(arrived),
        f"{prefix}_sms_unrecorded": len(arrived - new_sms),
    }
    problems = []
    if after.notifications - before.notifications != events:
        problems.append(
            f"{prefix}: {after.notifications - before.notifications} notices for {events} events"
        )
    if inbox_missing:
        problems.append(f"{prefix}: {inbox_missing} events without their inbox row")
    if sms_missing:
        problems.append(f"{prefix}: {sms_missing} SMS deliveries never reached the provider")
    if not_sent:
        problems.append(f"{prefix}: {not_sent} deliveries ended other than sent")
    if figures[f"{prefix}_sent_twice"]:
        problems.append(f"{prefix}: {figures[f'{prefix}_sent_twice']:.0f} SMS requests repeated")
    if figures[f"{prefix}_sms_unrecorded"]:
        problems.append(f"{prefix}: {len(arrived - new_sms)} SMS sent but not recorded as sent")
    return figures, problems


# --- backlog: throughput ----------------------------------------------------------------


def _backlog_phase(rig: _Rig, *, events: int, workers: int) -> tuple[dict[str, float], list[str]]:
    context, stub, progress = rig.context, rig.stub, rig.progress
    kind = rig.database.kind
    prefix = f"{kind}_{workers}w"
    with running_workers(rig, count=workers) as running:
        phase_cost = _start_metering(context.engine, running)
        before = _snapshot(context.engine)
        stub.take()
        with step(progress, f"{kind}: write {events:,} events to the outbox in one commit"):
            _record_payments(context, rig.cursor, events)
            started = time.perf_counter()  # the backlog is visible from here on
        stats_at_start = _has_statistics(context.engine)
        task = progress.add_task(
            f"{kind}: {workers} worker(s) drain {events * DELIVERIES_PER_EVENT:,} deliveries",
            total=events * DELIVERIES_PER_EVENT,
            detail="",
        )
        drained = _drain(
            context.engine,
            running,
            started=started,
            baseline_sent=before.sent,
            progress=progress,
            task=task,
        )
        cost = phase_cost()
    after = _snapshot(context.engine)
    delivered = after.sent - before.sent
    figures: dict[str, float] = {
        f"{prefix}_events": events,
        f"{prefix}_deliveries": delivered,
        f"{prefix}_seconds": round(drained.elapsed_s, 3),
        f"{prefix}_relay_seconds": round(drained.relayed_s, 3),
        f"{prefix}_events_per_s": round(events / drained.elapsed_s, 1),
        f"{prefix}_deliveries_per_s": round(delivered / drained.elapsed_s, 1),
        f"{prefix}_worker_peak_rss_mb": cost.workers_peak_rss_mb,
        f"{prefix}_worker_cpu_ms_per_delivery": round(
            1000 * cost.workers_cpu_s / max(delivered, 1), 3
        ),
    }
    if cost.server_cpu_s is not None:
        figures[f"{prefix}_postgresql_cpu_ms_per_delivery"] = round(
            1000 * cost.server_cpu_s / max(delivered, 1), 3
        )
    stats_at_end = _has_statistics(context.engine)
    if stats_at_start is not None and stats_at_end is not None:
        figures[f"{prefix}_planner_stats_at_start"] = int(stats_at_start)
        figures[f"{prefix}_planner_stats_at_end"] = int(stats_at_end)
    if workers > 1:
        figures[f"{prefix}_deliveries_per_s_per_worker"] = round(
            delivered / drained.elapsed_s / workers, 1
        )
    checked, problems = _integrity(
        prefix, events=events, before=before, after=after, stub=stub.take()
    )
    figures.update(checked)
    return figures, problems


def _has_statistics(engine: Engine) -> bool | None:
    """On PostgreSQL, whether the planner knows how big `deliveries` is (autovacuum has
    vacuumed or analyzed it: the benchmark never does); the claim query's plan turns on it.
    None on SQLite, which keeps no statistics unless told to."""
    if engine.dialect.name != "postgresql":
        return None
    query = text("SELECT reltuples >= 0 FROM pg_class WHERE relname = 'deliveries'")
    with read_transaction(engine) as conn:
        return bool(conn.execute(query).scalar_one_or_none())


# --- steady: latency --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Produced:
    event_id: str
    user_id: str
    at: float
    """The event's outbox `time`, epoch seconds."""


class _Producer:
    """Writes one event per transaction at `rate` per second, on schedule (it catches up
    after a slow commit instead of drifting), from `PRODUCER_LANES` threads that each take
    every n-th slot of the schedule: a commit waits for the WAL flush, several milliseconds
    on a busy disk, and one thread alone fell behind 500 events/s (~170/s measured)."""

    def __init__(self, context: AppContext, cursor: _Cursor, *, events: int, rate: float) -> None:
        self.context = context
        self.cursor = cursor
        self.events = events
        self.rate = rate
        self.produced: list[_Produced] = []
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.elapsed_s = 0.0
        self.lanes = [
            threading.Thread(target=self._lane, args=(lane,), name=f"bench-producer-{lane}")
            for lane in range(PRODUCER_LANES)
        ]
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        for lane in self.lanes:
            lane.daemon = True
            lane.start()

    def is_alive(self) -> bool:
        return any(lane.is_alive() for lane in self.lanes)

    def join(self, timeout: float | None = None) -> None:
        """Wait for every lane (each up to `timeout`)."""
        for lane in self.lanes:
            lane.join(timeout)

    def _lane(self, first: int) -> None:
        try:
            for n in range(first, self.events, PRODUCER_LANES):
                delay = self.started + n / self.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                with self.lock:
                    user = self.cursor.take()
                at = datetime.now(UTC)
                with write_transaction(self.context.engine) as conn:
                    event_id = _record_payment(conn, user, at)
                with self.lock:
                    self.produced.append(_Produced(event_id, user.user_id, at.timestamp()))
                    self.elapsed_s = max(self.elapsed_s, time.perf_counter() - self.started)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def snapshot(self) -> list[_Produced]:
        with self.lock:
            return list(self.produced)

    def produced_since(self, start: int) -> list[_Produced]:
        """The events produced after the first `start`, in the order they were recorded."""
        with self.lock:
            return self.produced[start:]


_INBOX_OF_EVENTS: Final = (
    select(notifications.c.event_id)
    .join(inbox_items, inbox_items.c.notification_id == notifications.c.id)
    .where(notifications.c.event_id.in_(bindparam("event_ids", expanding=True)))
)


WATCHER_PLANS: Final = (
    "-c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off"
    " -c max_parallel_workers_per_gather=0"
)
"""The watcher's sessions on PostgreSQL plan its poll as index look-ups: the benchmark never
analyzes its fresh tables (the workers' plans must be a new deployment's), and without
statistics the planner reads both tables whole for 100 event ids (20 ms after 15,000 events
instead of 0.4 ms), a load on the machine that grows with the history."""


@contextmanager
def _watcher_engine(context: AppContext, database: BenchDatabase) -> Iterator[Engine]:
    """The inbox watcher's engine: on PostgreSQL one connection of its own with
    `WATCHER_PLANS`, on SQLite the benchmark's (whose planner takes the indexes anyway)."""
    if database.kind == "sqlite":
        yield context.engine
        return
    engine = create_engine(
        normalise_url(database.url), pool_size=1, connect_args={"options": WATCHER_PLANS}
    )
    try:
        yield engine
    finally:
        engine.dispose()


class _InboxWatcher(threading.Thread):
    """Polls every 10 ms for the inbox rows of the produced events not seen yet, and notes
    when each was first seen: the inbox's *delivered*.

    It asks by event id (one index probe per event in flight), not for inbox ids above the
    last one seen: ids are made before their batch commits, so a second worker's batch can
    commit below an id already seen (and be missed), and the planner may read the whole
    table for an id range (10 ms a poll after 15,000 events, on a fresh database's stats).
    """

    def __init__(self, engine: Engine, producer: _Producer) -> None:
        super().__init__(name="bench-inbox-watcher", daemon=True)
        self.engine = engine
        self.producer = producer
        self.taken = 0
        self.waiting: set[str] = set()
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.poll()
                self.stop.wait(WATCH_POLL_S)
            self.poll()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def poll(self) -> None:
        fresh = self.producer.produced_since(self.taken)
        self.taken += len(fresh)
        self.waiting.update(produced.event_id for produced in fresh)
        if not self.waiting:
            return
        with read_transaction(self.engine) as conn:
            found = list(conn.scalars(_INBOX_OF_EVENTS, {"event_ids": sorted(self.waiting)}))
        now = time.time()
        for event_id in found:
            self.seen[event_id] = now
        self.waiting.difference_update(found)


def _warm_up(
    context: AppContext,
    cursor: _Cursor,
    workers: WorkerProcesses,
    *,
    progress: Progress,
    label: str,
) -> None:
    with step(progress, f"{label}: warm up the worker with {WARM_UP_EVENTS} events") as task:
        baseline = _sent(context.engine)
        _record_payments(context, cursor, WARM_UP_EVENTS)
        _drain(
            context.engine,
            workers,
            started=time.perf_counter(),
            baseline_sent=baseline,
            progress=progress,
            task=task,
        )


def _steady_phase(rig: _Rig, *, events: int, rate: float) -> tuple[dict[str, float], list[str]]:
    context, cursor, stub, progress = rig.context, rig.cursor, rig.stub, rig.progress
    kind = rig.database.kind
    prefix = f"{kind}_steady"
    workers = STEADY_WORKERS[kind]
    with (
        running_workers(rig, count=workers) as running,
        _watcher_engine(context, rig.database) as watcher_engine,
    ):
        _warm_up(context, cursor, running, progress=progress, label=kind)
        phase_cost = _start_metering(context.engine, running)
        before = _snapshot(context.engine)
        stub.take()
        phase_start = datetime.now(UTC)
        producer = _Producer(context, cursor, events=events, rate=rate)
        watcher = _InboxWatcher(watcher_engine, producer)
        seconds = events / rate
        task = progress.add_task(
            f"{kind}: {rate:,.0f} events/s for {seconds:,.0f} s, {workers} worker(s)",
            total=events,
            detail="",
        )
        producer.start()
        watcher.start()
        try:
            while producer.is_alive():
                producer.join(0.1)
                running.check_alive()
                progress.update(task, completed=len(producer.snapshot()))
            if producer.error is not None:
                raise BenchmarkError(f"the producer failed: {producer.error!r}")
            progress.update(
                task, completed=events, detail=f"{events / producer.elapsed_s:,.0f} events/s"
            )
            drain_task = progress.add_task(
                f"{kind}: wait for the last deliveries", total=None, detail=""
            )
            _drain(
                context.engine,
                running,
                started=time.perf_counter(),
                baseline_sent=0,
                progress=progress,
                task=drain_task,
            )
            progress.update(drain_task, total=1, completed=1, detail="")
            cost = phase_cost()
            deadline = time.monotonic() + 5
            while len(watcher.seen) < events and time.monotonic() < deadline:
                time.sleep(WATCH_POLL_S)
        finally:
            watcher.stop.set()
            watcher.join()
    if watcher.error is not None:
        raise BenchmarkError(f"the inbox watcher failed: {watcher.error!r}")
    after = _snapshot(context.engine)
    arrived = stub.take()
    figures = _latency_figures(
        prefix,
        context.engine,
        produced=producer.produced,
        since=phase_start,
        inbox_seen=watcher.seen,
        sms_arrived=arrived.first_seen,
        elapsed_s=producer.elapsed_s,
    )
    figures[f"{prefix}_workers"] = workers
    figures[f"{prefix}_worker_cpu_ms_per_event"] = round(1000 * cost.workers_cpu_s / events, 3)
    if cost.server_cpu_s is not None:
        figures[f"{prefix}_postgresql_cpu_ms_per_event"] = round(
            1000 * cost.server_cpu_s / events, 3
        )
    checked, problems = _integrity(prefix, events=events, before=before, after=after, stub=arrived)
    figures.update(checked)
    return figures, problems


def _server_cpu_s(engine: Engine) -> dict[int, float]:
    """PostgreSQL (on this host): each backend of the benchmark's database → the CPU seconds
    it has used. Empty on SQLite and for a server elsewhere (its pids are not ours)."""
    if engine.dialect.name != "postgresql" or engine.url.host not in LOCAL_HOSTS:
        return {}
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    with read_transaction(engine) as conn:
        return {pid: ProcessTree(pid).cpu_s() for pid in conn.execute(query).scalars()}


def _server_cpu_since(engine: Engine, at_start: dict[int, float]) -> float | None:
    """The CPU seconds PostgreSQL's backends have used since `at_start` (`_server_cpu_s`);
    None where it cannot be read."""
    at_end = _server_cpu_s(engine)
    if not at_end:
        return None
    return sum(used - at_start.get(pid, 0.0) for pid, used in at_end.items())


@dataclass(frozen=True, slots=True)
class _PhaseCost:
    """What a phase cost the machine, read alike by every phase so their figures compare."""

    workers_cpu_s: float
    workers_peak_rss_mb: float
    server_cpu_s: float | None
    """PostgreSQL's backends on this host; None on SQLite or a server elsewhere."""


def _start_metering(engine: Engine, running: WorkerProcesses) -> Callable[[], _PhaseCost]:
    """Count the workers' and PostgreSQL's CPU from now; the function returned reads the cost."""
    trees = [ProcessTree(process.pid) for process in running.processes]
    workers_at_start = sum(tree.cpu_s() for tree in trees)
    server_at_start = _server_cpu_s(engine)

    def cost() -> _PhaseCost:
        return _PhaseCost(
            workers_cpu_s=sum(tree.cpu_s() for tree in trees) - workers_at_start,
            workers_peak_rss_mb=max(tree.peak_rss_mb() for tree in trees),
            server_cpu_s=_server_cpu_since(engine, server_at_start),
        )

    return cost


# --- idle: a server with nothing to do ----------------------------------------------------


def _server_with_worker(rig: _Rig, *, label: str) -> AbstractContextManager[Server]:
    """`tidings serve` with its worker in the same process, sending SMS to the stub."""
    return running_server(
        rig.database.url,
        rig.workdir,
        admin_key=BENCH_ADMIN_KEY,
        progress=rig.progress,
        label=f"{rig.database.kind}: {label}",
        worker=True,
        env=_worker_env(rig.database, rig.workdir, rig.stub),
    )


def _idle_phase(rig: _Rig, *, seconds: float) -> dict[str, float]:
    """`tidings serve` (API and worker) with nothing to do: the share of one core it uses."""
    kind = rig.database.kind
    with (
        _server_with_worker(rig, label="idle server") as server,
        step(rig.progress, f"{kind}: watch the idle server's CPU for {seconds:,.0f} s"),
    ):
        time.sleep(1.0)  # start-up work (the first scheduler round) is not idling
        before = server.process.cpu_s()
        time.sleep(seconds)
        used = server.process.cpu_s() - before
    return {
        f"{kind}_idle_seconds": seconds,
        f"{kind}_idle_serve_cpu_pct_of_core": round(100 * used / seconds, 2),
    }


# --- the API beside a worker draining one user's backlog ----------------------------------


def _draining_phase(rig: _Rig, *, seconds: float) -> dict[str, float]:
    """`tidings serve` with its worker in the same process; one user's `DRAINING_EVENTS`
    payments land in the outbox in one commit, and top-ups go in over HTTP, one after the
    other, for `seconds` while the worker drains them: how long an API write waits."""
    context, progress = rig.context, rig.progress
    kind = rig.database.kind
    prefix = f"{kind}_api_while_draining"
    owner, payer = rig.cursor.take(), rig.cursor.take()
    with (
        _server_with_worker(rig, label="server with its worker") as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {BENCH_ADMIN_KEY}"},
            timeout=60,
        ) as client,
    ):

        def top_up() -> None:
            response = client.post(
                "/v1/transfers",
                json={"kind": "top_up", "destination": payer.wallet_id, "amount": DRAINING_TOP_UP},
            )
            if response.status_code != 201:
                raise BenchmarkError(f"a top-up answered {response.status_code}: {response.text}")

        for _ in range(WARM_UP_EVENTS):
            top_up()
        with (
            step(progress, f"{kind}: one user's {DRAINING_EVENTS:,} events in one commit"),
            write_transaction(context.engine) as conn,
        ):
            for _ in range(DRAINING_EVENTS):
                _record_payment(conn, owner, context.clock.now())
        before = _sent(context.engine)
        timings = run_timed(
            top_up,
            seconds=seconds,
            progress=progress,
            description=f"{kind}: top-ups over HTTP while the worker drains",
            unit="top-ups",
        )
        drained = _sent(context.engine) - before
    return {
        f"{prefix}_backlog_events": DRAINING_EVENTS,
        f"{prefix}_deliveries_sent": drained,
        f"{prefix}_top_ups": timings.count,
        f"{prefix}_p50_ms": round(timings.percentile_ms(50), 3),
        f"{prefix}_p99_ms": round(timings.percentile_ms(99), 3),
        f"{prefix}_max_ms": round(timings.percentile_ms(100), 3),
    }


def _latency_figures(
    prefix: str,
    engine: Engine,
    *,
    produced: list[_Produced],
    since: datetime,
    inbox_seen: dict[str, float],
    sms_arrived: dict[str, float],
    elapsed_s: float,
) -> dict[str, float]:
    when = {p.event_id: p.at for p in produced}
    query = (
        select(
            notifications.c.event_id,
            deliveries.c.id,
            deliveries.c.channel,
            deliveries.c.sent_at,
        )
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(notifications.c.created_at >= since, deliveries.c.status == "sent")
    )
    with read_transaction(engine) as conn:
        rows = [row for row in conn.execute(query) if row.event_id in when]

    def ns(seconds: float) -> int:
        return max(0, round(seconds * 1e9))

    sms, inbox, stamped = Timings(), Timings(), Timings()
    for row in rows:
        at = when[row.event_id]
        stamped.latencies_ns.append(ns(as_utc(row.sent_at).timestamp() - at))
        if row.channel == ChannelName.SMS.value and row.id in sms_arrived:
            sms.latencies_ns.append(ns(sms_arrived[row.id] - at))
        elif row.channel == ChannelName.INBOX.value and row.event_id in inbox_seen:
            inbox.latencies_ns.append(ns(inbox_seen[row.event_id] - at))
    both = Timings(latencies_ns=sms.latencies_ns + inbox.latencies_ns)
    return {
        f"{prefix}_events": len(produced),
        f"{prefix}_events_per_s": round(len(produced) / elapsed_s, 1) if elapsed_s else 0.0,
        f"{prefix}_deliveries": both.count,
        f"{prefix}_deliveries_unobserved": len(rows) - both.count,
        f"{prefix}_p50_ms": round(both.percentile_ms(50), 1),
        f"{prefix}_p99_ms": round(both.percentile_ms(99), 1),
        f"{prefix}_max_ms": round(both.percentile_ms(100), 1),
        f"{prefix}_sms_p50_ms": round(sms.percentile_ms(50), 1),
        f"{prefix}_sms_p99_ms": round(sms.percentile_ms(99), 1),
        f"{prefix}_inbox_p50_ms": round(inbox.percentile_ms(50), 1),
        f"{prefix}_inbox_p99_ms": round(inbox.percentile_ms(99), 1),
        f"{prefix}_sent_at_p50_ms": round(stamped.percentile_ms(50), 1),
        f"{prefix}_sent_at_p99_ms": round(stamped.percentile_ms(99), 1),
    }


if __name__ == "__main__" and sys.argv[1:] == [STUB_FLAG]:
    serve_stub()
