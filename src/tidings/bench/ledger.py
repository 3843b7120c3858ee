"""`tidings bench ledger`: how fast money moves, and what each layer above the database costs.

For each database three phases run against one throw-away database:

- **service**: payments through `wallets.service.create_transfer`, one per transaction, in
  this process; what a request costs without HTTP. The books alone: risk checks off.
- **scored**: the same with the risk rules on (their signals read from the database for
  every payment), as production runs.
- **model**: the same with the online model too (a model trained on 5,000 transfers of the
  synthetic stream, consulted and observed for every payment).
- **raw**: the same rows written with the DB-API driver and nothing else (two balance
  updates, two postings, the ledger entry, the transfer, the outbox event); the floor the
  service layer is measured against (`<db>_service_vs_raw_ratio`).
- **concurrent** (PostgreSQL): N threads, each its own connection and its own payers, all
  paying the one merchant, for N = 1, 2, 4, 8: service-layer payments
  (`postgresql_concurrent_n<N>_…`) and the raw-SQL baseline at the same N
  (`postgresql_concurrent_raw_n<N>_…`); the scaling curve of one database.
- **http**: the real server in a subprocess (`tidings serve --no-worker`) driven by `wrk`
  with 16 connections, 4,000 payers each paying a few times (the risk rules on, as in
  production; a payment they hold for a one-time code is counted apart,
  `…_held_for_a_code`, not as a payment); what an integrator sees. On PostgreSQL also
  with 32 connections, on one server process and on two (`postgresql_http_<P>p_c32_…`).
  Each run reports the server's CPU per payment and its peak RSS.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import bindparam, text

from tidings.app.context import AppContext
from tidings.bench.serving import check_wrk, run_wrk, running_server
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
from tidings.kit.clock import SystemClock
from tidings.kit.db import make_engine, read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.kit.migrate import upgrade
from tidings.kit.money import PositiveMoney
from tidings.ledger import service as ledger
from tidings.ledger.service import SystemAccount, system_account_id
from tidings.privacy.crypto import Keyring
from tidings.risk import learning
from tidings.risk.online import OnlineRiskModel
from tidings.risk.scoring import assess_transfer
from tidings.risk.stepup import UNSCORED, StepUpPolicy
from tidings.risk.synthetic import Pattern, stream
from tidings.wallets import service as wallets
from tidings.wallets.schemas import Merchant, TransferCreate, TransferKind

PHASES: Final = ("service", "scored", "model", "raw", "concurrent", "http")
"""Every phase, in the order they run."""

CURRENCY: Final = "CNY"
PAYMENT: Final = 1_280
"""12.80 CNY: a coffee, far below the step-up amount and never near the low-balance line."""
TOP_UP: Final = 10**12
"""Enough that no run drains a wallet, and no more than one transfer may move
(`TIDINGS_MAX_AMOUNT`)."""
SERVICE_USERS: Final = 8
HTTP_USERS: Final = 4_000
"""Payers of each HTTP run. Distinct people paying at a human pace: at 1,200 payments/s for
10 s each pays three times, below the risk rules' velocity burst (4 in 10 minutes), so the
run measures the path of a payment that succeeds (a held one is counted apart), and
concurrent payments rarely queue on one row."""
USERS_PER_TRANSACTION: Final = 200
"""Set-up only: payers are made this many to a transaction."""
WARM_UP: Final = 50
"""Untimed operations first: statement caches, prepared statements, the system account."""
WRK_THREADS: Final = 2
WRK_CONNECTIONS: Final = 16
MERCHANT_NAME: Final = "Bench Coffee"
MERCHANT_CATEGORY: Final = "5814"
MODEL_TRAINING_TRANSFERS: Final = 5_000
SCORED_USERS: Final = 300
HISTORY_PER_USER: Final = 30
"""Scored payments cycle through this many users, each with this much history: the rules'
queries read a realistic 90 days, not thousands of benchmark payments of eight wallets."""


@dataclass(frozen=True, slots=True)
class BenchWallet:
    """A funded wallet, with the ids the raw baseline needs to write its rows directly."""

    wallet_id: str
    user_id: str
    account_id: str


def run(
    *,
    databases: Sequence[DatabaseKind],
    seconds: float,
    console: Console,
    phases: Collection[str] = PHASES,
) -> dict[str, float]:
    """Run the chosen phases on each database; figures are prefixed `<db>_<phase>_`."""
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    wrk = check_wrk() if "http" in phases else None
    figures: dict[str, float] = {}
    with make_progress(console) as progress:
        for kind in databases:
            figures.update(
                _run_on(kind, seconds=seconds, progress=progress, phases=phases, wrk=wrk)
            )
    return figures


def _run_on(
    kind: DatabaseKind,
    *,
    seconds: float,
    progress: Progress,
    phases: Collection[str],
    wrk: str | None,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        with step(progress, f"{kind}: create a fresh database"):
            database = stack.enter_context(bench_database(kind, workdir))
        context = _context(database, workdir)
        try:
            with step(progress, f"{kind}: migrate"):
                upgrade(context.engine)
            with step(progress, f"{kind}: create and top up {SERVICE_USERS} users"):
                funded = _funded_wallets(context, SERVICE_USERS)
                for wallet in itertools.islice(itertools.cycle(funded), WARM_UP):
                    _pay(context, wallet.wallet_id)
            service: Timings | None = None
            if "service" in phases:
                service = _payments_phase(
                    context,
                    funded,
                    UNSCORED,
                    seconds=seconds,
                    progress=progress,
                    description=f"{kind}: service-layer payments",
                )
                figures.update(_timing_figures(f"{kind}_service", service))
            for number, phase in enumerate(("scored", "model")):
                if phase in phases:
                    timings = _scored_phase(
                        context,
                        kind=kind,
                        with_model=phase == "model",
                        first=SERVICE_USERS + number * SCORED_USERS,
                        seconds=seconds,
                        progress=progress,
                    )
                    figures.update(_timing_figures(f"{kind}_{phase}", timings))
            if "raw" in phases:
                raw = _raw_phase(database, funded, seconds=seconds, progress=progress)
                figures.update(_timing_figures(f"{kind}_raw", raw))
                if service is not None and raw.per_second:
                    figures[f"{kind}_service_vs_raw_ratio"] = round(
                        service.per_second / raw.per_second, 3
                    )
            if "concurrent" in phases and kind == "postgresql":
                figures.update(
                    _concurrent_phase(context, database, funded, seconds=seconds, progress=progress)
                )
        finally:
            context.engine.dispose()
        if "http" in phases:
            assert wrk is not None
            figures.update(
                _http_phase(database, workdir, wrk=wrk, seconds=seconds, progress=progress)
            )
        with step(progress, f"{kind}: check the ledger balances"):
            _check_ledger(database)
    return figures


def _context(database: BenchDatabase, workdir: Path) -> AppContext:
    settings = Settings(
        database_url=database.url,
        var_dir=workdir / "var",
        admin_key=SecretStr("bench-admin-key-0123456789abcdefghijklmnop"),
        data_key=SecretStr(BENCH_DATA_KEY),
        lookup_key=SecretStr(BENCH_LOOKUP_KEY),
    )
    keyring = Keyring.from_specs(data_key_spec=BENCH_DATA_KEY, lookup_key_b64=BENCH_LOOKUP_KEY)
    return AppContext(
        settings=settings,
        engine=make_engine(database.url),
        keyring=keyring,
        clock=SystemClock(),
    )


def _funded_wallets(
    context: AppContext, count: int, *, first: int = 0, at: datetime | None = None
) -> list[BenchWallet]:
    """Users made through the service layer, as an integrator's would be, each topped up."""
    funded = []
    at = at or context.clock.now()
    numbers = range(first, first + count)
    for start in range(0, count, USERS_PER_TRANSACTION):
        with write_transaction(context.engine) as conn:
            for n in numbers[start : start + USERS_PER_TRANSACTION]:
                user = create_bench_user(
                    conn,
                    context,
                    external_id=f"bench-service-{n}",
                    name=f"基准用户{n}",
                    phone=f"138{n:08d}",
                    email=f"bench{n}@example.com",
                    at=at,
                )
                wallets.create_transfer(
                    conn,
                    context.keyring,
                    TransferCreate(
                        kind=TransferKind.TOP_UP,
                        destination=user.wallet_id,
                        amount=PositiveMoney(value=TOP_UP, currency=CURRENCY),
                    ),
                    acting_user_id=None,
                    at=at,
                )
                funded.append(BenchWallet(user.wallet_id, user.id, ""))
    return _with_account_ids(context, funded)


def _with_account_ids(context: AppContext, funded: list[BenchWallet]) -> list[BenchWallet]:
    """The raw phase writes accounts directly, so it needs each wallet's account id."""
    query = text("SELECT id, account_id FROM wallets WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with read_transaction(context.engine) as conn:
        rows = conn.execute(query, {"ids": [w.wallet_id for w in funded]})
        accounts = {row.id: row.account_id for row in rows}
    return [BenchWallet(w.wallet_id, w.user_id, accounts[w.wallet_id]) for w in funded]


def _pay(
    context: AppContext,
    wallet_id: str,
    policy: StepUpPolicy = UNSCORED,
    *,
    at: datetime | None = None,
) -> None:
    """One payment in its own write transaction, as the HTTP handler runs it minus HTTP."""
    with write_transaction(context.engine) as conn:
        wallets.create_transfer(
            conn,
            context.keyring,
            TransferCreate(
                kind=TransferKind.PAYMENT,
                source=wallet_id,
                amount=PositiveMoney(value=PAYMENT, currency=CURRENCY),
                merchant=Merchant(name=MERCHANT_NAME, category=MERCHANT_CATEGORY),
            ),
            acting_user_id=None,
            at=at or context.clock.now(),
            step_up=policy,
        )


def _payments_phase(
    context: AppContext,
    funded: Sequence[BenchWallet],
    policy: StepUpPolicy,
    *,
    seconds: float,
    progress: Progress,
    description: str,
) -> Timings:
    cycle = itertools.cycle([w.wallet_id for w in funded])
    return run_timed(
        lambda: _pay(context, next(cycle), policy),
        seconds=seconds,
        progress=progress,
        description=description,
        unit="transfers",
    )


def _users_with_history(context: AppContext, *, first: int) -> list[BenchWallet]:
    """Scored payers as the rules meet them: accounts 90 days old, each with a history of
    `HISTORY_PER_USER` payments over the last 60 days (what the risk queries read)."""
    now = context.clock.now()
    people = _funded_wallets(context, SCORED_USERS, first=first, at=now - timedelta(days=90))
    step_back = timedelta(days=60) / HISTORY_PER_USER
    for n in range(HISTORY_PER_USER):
        for person in people:
            _pay(context, person.wallet_id, at=now - (HISTORY_PER_USER - n) * step_back)
    return people


def _scored_phase(
    context: AppContext,
    *,
    kind: DatabaseKind,
    with_model: bool,
    first: int,
    seconds: float,
    progress: Progress,
) -> Timings:
    """Payments scored by the rules (and the online model): payers of the phase's own, so one
    phase's payments do not become the next one's history."""
    with step(
        progress, f"{kind}: {SCORED_USERS} users with {HISTORY_PER_USER} payments of history"
    ):
        people = _users_with_history(context, first=first)
    if with_model:
        with step(progress, f"{kind}: train and install an online model"):
            _install_trained_model(context)
    by = "the rules and the online model" if with_model else "the risk rules"
    return _payments_phase(
        context,
        people,
        StepUpPolicy(model=context.risk_model if with_model else None),
        seconds=seconds,
        progress=progress,
        description=f"{kind}: payments scored by {by}",
    )


def _install_trained_model(context: AppContext) -> None:
    """A model that has learned enough to be consulted for real (predictions, not a shrug)."""
    model = OnlineRiskModel()
    for signals, pattern in stream(1, MODEL_TRAINING_TRANSFERS):
        assessment = assess_transfer(signals)
        model.learn(signals, assessment, fraudulent=pattern is not Pattern.NORMAL)
    with write_transaction(context.engine) as conn:
        learning.install_model(conn, context.keyring, model, at=context.clock.now())


def _timing_figures(prefix: str, timings: Timings) -> dict[str, float]:
    return {
        f"{prefix}_transfers": timings.count,
        f"{prefix}_transfers_per_s": round(timings.per_second, 1),
        f"{prefix}_p50_ms": round(timings.percentile_ms(50), 3),
        f"{prefix}_p99_ms": round(timings.percentile_ms(99), 3),
    }


# --- raw-SQL baseline -------------------------------------------------------------------

_SETTLEMENT_SHARDS = sorted(
    {
        system_account_id(SystemAccount.MERCHANT_SETTLEMENT, CURRENCY, spread_by=str(n))
        for n in range(1000)
    }
)
"""Every shard of merchant settlement, as the service spreads payments over them."""

_SQLITE_STATEMENTS: Final = {
    # The service opens system accounts on first use; the baseline must not depend on that.
    "settlement_account": (
        "INSERT INTO accounts (id, user_id, kind, currency, balance, held, allow_negative,"
        " created_at) VALUES (?, NULL, ?, ?, 0, 0, ?, ?) ON CONFLICT (id) DO NOTHING"
    ),
    "apply": "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance",
    "posting": (
        "INSERT INTO postings (id, entry_id, account_id, amount, currency, balance_after,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "entry": "INSERT INTO ledger_entries (id, kind, reference, created_at) VALUES (?, ?, ?, ?)",
    "transfer": (
        "INSERT INTO transfers (id, kind, status, user_id, source_wallet_id, amount, currency,"
        " merchant_name, merchant_category, entry_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "event": (
        "INSERT INTO outbox (id, source, type, subject, user_id, time, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
}
_POSTGRES_STATEMENTS: Final = {
    name: statement.replace("?", "%s") for name, statement in _SQLITE_STATEMENTS.items()
}


@dataclass(frozen=True, slots=True)
class _RawTransfer:
    """One payment's values, made the same way the service makes them."""

    at: datetime
    entry_id: str
    transfer_id: str
    posting_ids: tuple[str, str]
    settlement: str

    @classmethod
    def new(cls) -> _RawTransfer:
        transfer_id = new_id("trf")
        return cls(
            at=datetime.now(UTC),
            entry_id=new_id("ent"),
            transfer_id=transfer_id,
            posting_ids=(new_id("pst"), new_id("pst")),
            settlement=system_account_id(
                SystemAccount.MERCHANT_SETTLEMENT, CURRENCY, spread_by=transfer_id
            ),
        )


def _event_data(raw: _RawTransfer, wallet: BenchWallet, balance_after: int) -> dict[str, Any]:
    money = {"value": PAYMENT, "currency": CURRENCY}
    return {
        "amount": money,
        "transfer_id": raw.transfer_id,
        "occurred_at": raw.at.isoformat(),
        "wallet_id": wallet.wallet_id,
        "balance_after": {"value": balance_after, "currency": CURRENCY},
        "merchant": {"name": MERCHANT_NAME, "category": MERCHANT_CATEGORY},
    }


def _raw_phase(
    database: BenchDatabase,
    funded: Sequence[BenchWallet],
    *,
    seconds: float,
    progress: Progress,
) -> Timings:
    cycle = itertools.cycle(funded)
    with _raw_payer(database) as pay:
        for wallet in itertools.islice(cycle, WARM_UP):
            pay(wallet)
        return run_timed(
            lambda: pay(next(cycle)),
            seconds=seconds,
            progress=progress,
            description=f"{database.kind}: raw DB-API payments",
            unit="transfers",
        )


def _raw_payer(database: BenchDatabase) -> AbstractContextManager[Callable[[BenchWallet], None]]:
    if database.kind == "sqlite":
        return _sqlite_payer(database)
    return _postgres_payer(database)


@contextmanager
def _sqlite_payer(database: BenchDatabase) -> Iterator[Callable[[BenchWallet], None]]:
    """A payment in plain `sqlite3`, connection set up as `kit.db` sets up the engine's."""
    assert database.sqlite_path is not None
    connect = sqlite3.connect(database.sqlite_path, isolation_level=None, timeout=30)
    with closing(connect) as conn:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            conn.execute(pragma)
        sql = _SQLITE_STATEMENTS
        for shard in _SETTLEMENT_SHARDS:
            conn.execute(
                sql["settlement_account"],
                (shard, SystemAccount.MERCHANT_SETTLEMENT.value, CURRENCY, True,
                 datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")),
            )  # fmt: skip

        def pay(wallet: BenchWallet) -> None:
            raw = _RawTransfer.new()
            # SQLAlchemy's SQLite DateTime stores this text form; write the same.
            stamp = raw.at.strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Account-id order, as `ledger.post_entry` applies legs: acc_… before sys_….
                (wallet_balance,) = conn.execute(
                    sql["apply"], (-PAYMENT, wallet.account_id)
                ).fetchone()
                (settled,) = conn.execute(sql["apply"], (PAYMENT, raw.settlement)).fetchone()
                # Postings before their entry: the entry's trigger checks they balance.
                conn.executemany(
                    sql["posting"],
                    [
                        (raw.posting_ids[0], raw.entry_id, wallet.account_id, -PAYMENT, CURRENCY,
                         wallet_balance, stamp),
                        (raw.posting_ids[1], raw.entry_id, raw.settlement, PAYMENT, CURRENCY,
                         settled, stamp),
                    ],
                )  # fmt: skip
                conn.execute(sql["entry"], (raw.entry_id, "payment", raw.transfer_id, stamp))
                conn.execute(
                    sql["transfer"],
                    (raw.transfer_id, "payment", "succeeded", wallet.user_id, wallet.wallet_id,
                     PAYMENT, CURRENCY, MERCHANT_NAME, MERCHANT_CATEGORY, raw.entry_id, stamp),
                )  # fmt: skip
                conn.execute(
                    sql["event"],
                    (new_id("evt"), "tidings", "wallet.payment.succeeded", wallet.user_id,
                     wallet.user_id, stamp, json.dumps(_event_data(raw, wallet, wallet_balance))),
                )  # fmt: skip
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        yield pay


@contextmanager
def _postgres_payer(database: BenchDatabase) -> Iterator[Callable[[BenchWallet], None]]:
    """A payment in plain psycopg: one transaction, the same statements, one commit."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        sql = _POSTGRES_STATEMENTS
        for shard in _SETTLEMENT_SHARDS:
            conn.execute(
                sql["settlement_account"],
                (shard, SystemAccount.MERCHANT_SETTLEMENT.value, CURRENCY, True, datetime.now(UTC)),
            )

        def pay(wallet: BenchWallet) -> None:
            raw = _RawTransfer.new()
            with conn.transaction():
                wallet_balance = _scalar(conn.execute(sql["apply"], (-PAYMENT, wallet.account_id)))
                settled = _scalar(conn.execute(sql["apply"], (PAYMENT, raw.settlement)))
                with conn.cursor() as cursor:
                    cursor.executemany(
                        sql["posting"],
                        [
                            (raw.posting_ids[0], raw.entry_id, wallet.account_id, -PAYMENT,
                             CURRENCY, wallet_balance, raw.at),
                            (raw.posting_ids[1], raw.entry_id, raw.settlement, PAYMENT, CURRENCY,
                             settled, raw.at),
                        ],
                    )  # fmt: skip
                conn.execute(sql["entry"], (raw.entry_id, "payment", raw.transfer_id, raw.at))
                conn.execute(
                    sql["transfer"],
                    (raw.transfer_id, "payment", "succeeded", wallet.user_id, wallet.wallet_id,
                     PAYMENT, CURRENCY, MERCHANT_NAME, MERCHANT_CATEGORY, raw.entry_id, raw.at),
                )  # fmt: skip
                conn.execute(
                    sql["event"],
                    (new_id("evt"), "tidings", "wallet.payment.succeeded", wallet.user_id,
                     wallet.user_id, raw.at, Jsonb(_event_data(raw, wallet, wallet_balance))),
                )  # fmt: skip

        yield pay


def _scalar(cursor: psycopg.Cursor[Any]) -> int:
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


# --- many connections at once ---------------------------------------------------------

CONCURRENCY: Final = (1, 2, 4, 8)
"""Threads in the concurrent phase, each with its own connection."""

Payer = Callable[[BenchWallet], None]


def _concurrent_phase(
    context: AppContext,
    database: BenchDatabase,
    funded: Sequence[BenchWallet],
    *,
    seconds: float,
    progress: Progress,
) -> dict[str, float]:
    """Service-layer and raw payments from N threads at once; thread t pays from wallets t,
    t + N, … (two threads never wait on one wallet; every one pays the same merchant)."""

    @contextmanager
    def service_payer() -> Iterator[Payer]:
        yield lambda wallet: _pay(context, wallet.wallet_id)

    payers: dict[str, Callable[[], AbstractContextManager[Payer]]] = {
        "concurrent": service_payer,
        "concurrent_raw": lambda: _raw_payer(database),
    }
    figures: dict[str, float] = {}
    for threads in CONCURRENCY:
        for name, make in payers.items():
            with step(progress, f"{database.kind}: {name} payments, {threads} thread(s)"):
                timings = _run_threads(make, funded, threads=threads, seconds=seconds)
            figures.update(_timing_figures(f"{database.kind}_{name}_n{threads}", timings))
    return figures


def _run_threads(
    make_payer: Callable[[], AbstractContextManager[Payer]],
    funded: Sequence[BenchWallet],
    *,
    threads: int,
    seconds: float,
) -> Timings:
    """`threads` threads paying back to back for `seconds`, started together."""
    ready = threading.Barrier(threads + 1)
    latencies: list[list[int]] = [[] for _ in range(threads)]
    clock = time.perf_counter_ns
    deadline = [0]
    failures: list[BaseException] = []

    def work(number: int) -> None:
        try:
            with make_payer() as pay:
                mine = itertools.cycle(funded[number::threads])
                for wallet in itertools.islice(mine, WARM_UP // threads + 1):
                    pay(wallet)
                ready.wait()
                own = latencies[number]
                while (before := clock()) < deadline[0]:
                    pay(next(mine))
                    own.append(clock() - before)
        except BaseException as exc:  # reported after the others finish
            failures.append(exc)
            ready.abort()

    started_threads = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in started_threads:
        thread.start()
    try:
        deadline[0] = clock() + int(seconds * 1e9) + 10**12  # until everyone is ready
        ready.wait()
        started = clock()
        deadline[0] = started + int(seconds * 1e9)
    except threading.BrokenBarrierError:
        started = clock()
    for thread in started_threads:
        thread.join()
    if failures:
        raise BenchmarkError(f"a paying thread failed: {failures[0]!r}") from failures[0]
    return Timings(
        elapsed_s=(clock() - started) / 1e9,
        latencies_ns=[latency for own in latencies for latency in own],
    )


# --- HTTP under wrk ---------------------------------------------------------------------


HTTP_FIRST_USER: Final = 100_000
"""HTTP payers are numbered from here (their external ids and phones)."""


def _http_payers(database: BenchDatabase, workdir: Path, *, first: int) -> list[str]:
    """`HTTP_USERS` funded wallets, made through the service layer before the server starts
    (made over HTTP, they took longer than the run they set up)."""
    context = _context(database, workdir)
    try:
        return [w.wallet_id for w in _funded_wallets(context, HTTP_USERS, first=first)]
    finally:
        context.engine.dispose()


def _warm_up_over_http(base_url: str, admin_key: str, wallet_ids: list[str]) -> None:
    """A few untimed payments: the server's statement caches and the merchant's accounts."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as client:
        for wallet_id in wallet_ids[:WARM_UP]:
            _ok(
                client.post(
                    "/v1/transfers",
                    json={
                        "kind": "payment",
                        "source": wallet_id,
                        "amount": {"value": PAYMENT, "currency": CURRENCY},
                        "merchant": {"name": MERCHANT_NAME, "category": MERCHANT_CATEGORY},
                    },
                )
            )


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 201:
        raise BenchmarkError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


HTTP_RUNS: Final[dict[DatabaseKind, tuple[tuple[int, int], ...]]] = {
    # One writer across processes (`<database>.writer` gives their transactions turns): a
    # second process runs what a payment does outside its transaction beside the first.
    "sqlite": ((1, WRK_CONNECTIONS), (2, WRK_CONNECTIONS)),
    "postgresql": ((1, WRK_CONNECTIONS), (1, 32), (2, 32)),
}
"""(server processes, wrk connections) of each HTTP run; every payment of every run pays the
one merchant (its settlement spread over shards), so the runs also show that a popular
merchant's 16 or 32 concurrent payers do not queue on one account."""


def _http_phase(
    database: BenchDatabase,
    workdir: Path,
    *,
    wrk: str,
    seconds: float,
    progress: Progress,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for number, (processes, connections) in enumerate(HTTP_RUNS[database.kind]):
        default = number == 0
        prefix = f"{database.kind}_http" + ("" if default else f"_{processes}p_c{connections}")
        figures.update(
            _http_run(
                database,
                workdir,
                wrk=wrk,
                seconds=seconds,
                progress=progress,
                prefix=prefix,
                processes=processes,
                connections=connections,
                first_user=HTTP_FIRST_USER + number * HTTP_USERS,
            )
        )
    return figures


def _http_run(
    database: BenchDatabase,
    workdir: Path,
    *,
    wrk: str,
    seconds: float,
    progress: Progress,
    prefix: str,
    processes: int,
    connections: int,
    first_user: int,
) -> dict[str, float]:
    admin_key = new_id("key") + "-bench-operator"
    label = f"{database.kind}, {processes} process(es)"
    with step(progress, f"{label}: create and top up {HTTP_USERS:,} payers"):
        wallet_ids = _http_payers(database, workdir, first=first_user)
    with running_server(
        database.url,
        workdir,
        admin_key=admin_key,
        progress=progress,
        label=label,
        processes=processes,
        # The risk rules on, as in production (`running_server` turns them off for the
        # other benchmarks, whose repetitive payments would look like fraud).
        env={"TIDINGS_RISK_SCORING": "true"},
    ) as server:
        with step(progress, f"{label}: warm up"):
            _warm_up_over_http(server.base_url, admin_key, wallet_ids)
        cpu_before = server.process.cpu_s()
        result = run_wrk(
            wrk,
            server.base_url,
            script="wrk_payments.lua",
            env={
                "TIDINGS_BENCH_WALLETS": ",".join(wallet_ids),
                "TIDINGS_BENCH_ADMIN_KEY": admin_key,
                "TIDINGS_BENCH_AMOUNT": str(PAYMENT),
            },
            seconds=seconds,
            threads=WRK_THREADS,
            connections=connections,
            progress=progress,
            description=f"{label}: HTTP payments, wrk -c{connections}",
        )
        cpu_s = server.process.cpu_s() - cpu_before
        peak_rss = server.process.peak_rss_mb()
    return {
        f"{prefix}_payments": result.succeeded,
        f"{prefix}_payments_per_s": round(result.succeeded_per_s, 1),
        f"{prefix}_held_for_a_code": result.held,
        f"{prefix}_p50_ms": round(result.p50_ms, 3),
        f"{prefix}_p99_ms": round(result.p99_ms, 3),
        f"{prefix}_max_ms": round(result.max_ms, 3),
        f"{prefix}_errors": result.non2xx + result.socket_errors,
        # Server CPU per request: what a busy, shared machine does not blur.
        f"{prefix}_server_cpu_ms_per_payment": round(1000 * cpu_s / max(1, result.requests), 3),
        f"{prefix}_server_peak_rss_mb": peak_rss,
    }


def _check_ledger(database: BenchDatabase) -> None:
    """Every phase must leave a ledger that balances, or its figures mean nothing."""
    engine = make_engine(database.url)
    try:
        with read_transaction(engine) as conn:
            result = ledger.trial_balance(conn)
    finally:
        engine.dispose()
    if not result.ok:
        raise BenchmarkError(
            f"{database.kind}: the ledger does not balance after the benchmark "
            f"(totals {result.totals}, unbalanced entries {result.unbalanced_entries[:5]})"
        )
