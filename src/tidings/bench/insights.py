"""`tidings bench insights`: what the insights cost.

For each database, against one throw-away database:

- **spending**: `GET /v1/users/{id}/spending`'s service call (by category, wallet and month in
  turn, over the last year) for a user with 10,000 payments; p50 and p99.
- **budget**: service-layer payments (risk checks off) from a sub-wallet without a budget and
  from one with a budget, interleaved in one timed loop so both meet the same machine; the
  ratio of the two rates is what budget tracking leaves of the posting path.
- **suggestions**: the `insights.suggestions` job over 100,000 users with 30 days of history
  (a top-up and three payments each, every posting written; half of them consented to
  marketing, one in twenty turned personalisation off), generated set-based in SQL.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Connection, insert, text

from tidings.app.context import AppContext
from tidings.bench.ledger import _context, _funded_wallets, _pay
from tidings.bench.support import (
    DatabaseKind,
    Timings,
    bench_database,
    make_progress,
    run_timed,
    step,
)
from tidings.insights.jobs import run_suggestions
from tidings.insights.schemas import SpendingBy
from tidings.insights.service import spending
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.kit.migrate import upgrade
from tidings.kit.money import PositiveMoney
from tidings.wallets import service as wallets
from tidings.wallets.models import transfers
from tidings.wallets.schemas import (
    BudgetIn,
    Purpose,
    SubWalletCreate,
    TransferCreate,
    TransferKind,
)

SPENDING_PAYMENTS: Final = 10_000
SUGGESTION_USERS: Final = 100_000
CODES: Final = ("5814", "5411", "7011", "4511", "5651", "4121", "4900", "7832", "5912", "8220")
JOB_AS_OF: Final = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def run(
    *,
    databases: list[DatabaseKind] | tuple[DatabaseKind, ...],
    seconds: float,
    console: Console,
    users: int = SUGGESTION_USERS,
) -> dict[str, float]:
    """Every phase on each database; figures are prefixed `<db>_`."""
    figures: dict[str, float] = {}
    with make_progress(console) as progress:
        for kind in databases:
            figures.update(_run_on(kind, seconds=seconds, progress=progress, users=users))
    return figures


def _run_on(
    kind: DatabaseKind, *, seconds: float, progress: Progress, users: int
) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp,
        bench_database(kind, Path(tmp)) as database,
    ):
        context = _context(database, Path(tmp))
        try:
            with step(progress, f"{kind}: migrate a fresh database"):
                upgrade(context.engine)
            return {
                **_spending_phase(context, kind, seconds=seconds, progress=progress),
                **_budget_phase(context, kind, seconds=seconds, progress=progress),
                **_suggestions_phase(context, kind, users=users, progress=progress),
            }
        finally:
            context.engine.dispose()


# --- spending views ---------------------------------------------------------------------


def _spending_phase(
    context: AppContext, kind: DatabaseKind, *, seconds: float, progress: Progress
) -> dict[str, float]:
    with step(progress, f"{kind}: a user with {SPENDING_PAYMENTS:,} payments"):
        [payer] = _funded_wallets(context, 1, first=900)
        now = context.clock.now()
        picks = random.Random(16)
        rows = []
        for n in range(SPENDING_PAYMENTS):
            amount = picks.randint(100, 200_000)
            rows.append(
                {
                    "id": new_id("trf"),
                    "kind": "payment",
                    "status": "succeeded",
                    "user_id": payer.user_id,
                    "source_wallet_id": payer.wallet_id,
                    "amount": amount,
                    "currency": "CNY",
                    "merchant_name": "基准商户",
                    "merchant_category": CODES[n % len(CODES)],
                    "refunded_amount": amount // 2 if n % 10 == 0 else 0,
                    "created_at": now - timedelta(minutes=picks.randint(0, 365 * 24 * 60)),
                }
            )
        with write_transaction(context.engine) as conn:
            conn.execute(insert(transfers), rows)
        # `transfers` alone: on SQLite, statistics of a nearly empty ledger would have the
        # balance trigger scan `postings` for every entry the history below writes.
        _analyze(context, "transfers")
    views = itertools.cycle(list(SpendingBy))
    with read_transaction(context.engine) as conn:
        who = spending.reader(conn, payer.user_id)
    last = who.today(now)
    first = last - timedelta(days=364)

    def view() -> None:
        with read_transaction(context.engine) as conn:
            spending.spending(conn, who, first=first, last=last, by=next(views))

    timings = run_timed(
        view,
        seconds=seconds,
        progress=progress,
        description=f"{kind}: spending views",
        unit="views",
    )
    return {
        f"{kind}_spending_views": timings.count,
        f"{kind}_spending_p50_ms": round(timings.percentile_ms(50), 3),
        f"{kind}_spending_p99_ms": round(timings.percentile_ms(99), 3),
    }


# --- budget tracking on the posting path ------------------------------------------------


def _budget_phase(
    context: AppContext, kind: DatabaseKind, *, seconds: float, progress: Progress
) -> dict[str, float]:
    with step(progress, f"{kind}: two sub-wallets, one with a budget"):
        [owner] = _funded_wallets(context, 1, first=901)
        plain = _sub_wallet(context, owner.wallet_id, budget=None)
        budgeted = _sub_wallet(context, owner.wallet_id, budget=10**12)
        for wallet in (plain, budgeted):
            _allocate(context, owner.wallet_id, wallet)
            for _ in range(20):  # warm up
                _pay(context, wallet)
    without, with_budget = Timings(), Timings()
    turn = itertools.cycle([(plain, without), (budgeted, with_budget)])
    clock = time.perf_counter_ns

    def pay_in_turn() -> None:
        wallet, timings = next(turn)
        before = clock()
        _pay(context, wallet)
        timings.latencies_ns.append(clock() - before)

    both = run_timed(
        pay_in_turn,
        seconds=seconds,
        progress=progress,
        description=f"{kind}: payments with and without a budget",
        unit="transfers",
    )
    for timings in (without, with_budget):
        timings.elapsed_s = sum(timings.latencies_ns) / 1e9
    ratio = with_budget.per_second / without.per_second if without.per_second else 0.0
    return {
        f"{kind}_budget_payments": both.count,
        f"{kind}_without_budget_transfers_per_s": round(without.per_second, 1),
        f"{kind}_with_budget_transfers_per_s": round(with_budget.per_second, 1),
        f"{kind}_with_budget_p99_ms": round(with_budget.percentile_ms(99), 3),
        f"{kind}_budget_rate_ratio": round(ratio, 3),
    }


def _sub_wallet(context: AppContext, main: str, *, budget: int | None) -> str:
    data = SubWalletCreate(
        name="基准",
        purpose=Purpose.TRAVEL,
        budget=BudgetIn(limit=PositiveMoney(value=budget, currency="CNY"), period="month")
        if budget
        else None,
    )
    with write_transaction(context.engine) as conn:
        return wallets.open_sub_wallet(
            conn, parent_wallet_id=main, data=data, acting_user_id=None, at=context.clock.now()
        ).id


def _allocate(context: AppContext, main: str, sub: str) -> None:
    with write_transaction(context.engine) as conn:
        wallets.create_transfer(
            conn,
            context.keyring,
            TransferCreate(
                kind=TransferKind.ALLOCATION,
                source=main,
                destination=sub,
                amount=PositiveMoney(value=10**11, currency="CNY"),
            ),
            acting_user_id=None,
            at=context.clock.now(),
        )


# --- the suggestions job ------------------------------------------------------------------


def _suggestions_phase(
    context: AppContext, kind: DatabaseKind, *, users: int, progress: Progress
) -> dict[str, float]:
    with step(progress, f"{kind}: {users:,} users with 30 days of history"):
        started = time.perf_counter()
        with write_transaction(context.engine) as conn:
            for statement in _history_sql(conn, users):
                conn.execute(text(statement))
        generate_s = time.perf_counter() - started
        _analyze(context)
    with step(progress, f"{kind}: insights.suggestions over {users:,} users"):
        started = time.perf_counter()
        done = run_suggestions(context.engine, as_of=JOB_AS_OF)
        job_s = time.perf_counter() - started
        started = time.perf_counter()
        again = run_suggestions(context.engine, as_of=JOB_AS_OF)
        again_s = time.perf_counter() - started
    return {
        f"{kind}_suggestion_users": users,
        f"{kind}_suggestion_history_s": round(generate_s, 2),
        f"{kind}_suggestions_job_s": round(job_s, 3),
        f"{kind}_suggestions_sent": int(done["suggestions"]),
        f"{kind}_suggestions_rerun_s": round(again_s, 3),
        f"{kind}_suggestions_rerun_sent": int(again["suggestions"]),
    }


def _analyze(context: AppContext, table: str = "") -> None:
    with write_transaction(context.engine) as conn:
        conn.execute(text(f"ANALYZE {table}"))


def _history_sql(conn: Connection, users: int) -> list[str]:
    """Users 1…N, set-based: user u has a top-up and three payments in the 30 days before
    the job (every tenth one at hotels: a traveller), both legs of every entry posted (on
    SQLite the postings go before their entry, whose insert checks the balance)."""
    pg = conn.dialect.name == "postgresql"

    def ident(prefix: str, number: str) -> str:
        if pg:
            return f"'{prefix}_' || lpad(({number})::text, 26, '0')"
        return f"'{prefix}_' || printf('%026d', {number})"

    def hours_before(hours: str) -> str:
        base = JOB_AS_OF.strftime("%Y-%m-%d %H:%M:%S")
        if pg:
            return f"(TIMESTAMPTZ '{base}+00' - ({hours}) * INTERVAL '1 hour')"
        return f"strftime('%Y-%m-%d %H:%M:%f000', '{base}', '-' || ({hours}) || ' hours')"

    series = (
        f"generate_series(1, {users}) AS s(u)"
        if pg
        else f"(WITH RECURSIVE s(u) AS (SELECT 1 UNION ALL SELECT u + 1 FROM s WHERE u < {users})"
        " SELECT u FROM s) AS s"
    )
    moves = "(SELECT 0 AS j UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) AS m"
    k = "((u - 1) * 4 + j)"
    created = hours_before("720")
    at = hours_before("(u % 29) * 24 + (4 - j) * 5 + 1")
    amount = "CASE WHEN j = 0 THEN 100000 ELSE 1000 + (u * 7 + j * 13) % 9000 END"
    mcc = (
        "CASE WHEN u % 10 = 0 THEN '7011' WHEN (u + j) % 4 = 0 THEN '5651' "
        "WHEN (u + j) % 4 = 1 THEN '5814' WHEN (u + j) % 4 = 2 THEN '5411' ELSE '4121' END"
    )
    false, true = ("false", "true") if pg else ("0", "1")
    settlement, clearing = "sys_merchant_settlement_CNY_00", "sys_top_up_clearing_CNY_00"
    statements = [
        # Synthetic rows, every entry balanced by construction: PostgreSQL's per-row
        # triggers and foreign-key checks are skipped while they are written (this
        # transaction only), as a bulk load would.
        "SET LOCAL session_replication_role = replica" if pg else "SELECT 1",
        f"""INSERT INTO accounts (id, user_id, kind, currency, balance, held, allow_negative,
              created_at)
            VALUES ('{settlement}', NULL, 'merchant_settlement', 'CNY', 0, 0, {true}, {created}),
                   ('{clearing}', NULL, 'top_up_clearing', 'CNY', 0, 0, {true}, {created})
            ON CONFLICT (id) DO NOTHING""",
        f"""INSERT INTO users (id, main_wallet_id, external_id_enc, external_id_hash, name_enc,
              locale, timezone, currency, low_balance_threshold, created_at, updated_at)
            SELECT {ident("usr", "u")}, {ident("wal", "u")}, 'bench', 'h' || u, 'bench',
                   'zh-CN', 'Asia/Shanghai', 'CNY', 10000, {created}, {created}
            FROM {series}""",
        f"""INSERT INTO accounts (id, user_id, kind, currency, balance, held, allow_negative,
              created_at)
            SELECT {ident("acc", "u")}, {ident("usr", "u")}, 'wallet', 'CNY', 0, 0, {false},
                   {created}
            FROM {series}""",
        f"""INSERT INTO wallets (id, user_id, account_id, kind, name, purpose, currency, status,
              created_at)
            SELECT {ident("wal", "u")}, {ident("usr", "u")}, {ident("acc", "u")}, 'main', 'main',
                   'main', 'CNY', 'open', {created}
            FROM {series}""",
        f"""INSERT INTO transfers (id, kind, status, user_id, source_wallet_id,
              destination_wallet_id, amount, currency, merchant_name, merchant_category,
              refunded_amount, entry_id, created_at)
            SELECT {ident("trf", k)}, CASE WHEN j = 0 THEN 'top_up' ELSE 'payment' END,
                   'succeeded', {ident("usr", "u")},
                   CASE WHEN j = 0 THEN NULL ELSE {ident("wal", "u")} END,
                   CASE WHEN j = 0 THEN {ident("wal", "u")} END, {amount}, 'CNY',
                   CASE WHEN j = 0 THEN NULL ELSE 'bench' END,
                   CASE WHEN j = 0 THEN NULL ELSE {mcc} END, 0, NULL, {at}
            FROM {series}, {moves}""",
        f"""INSERT INTO postings (id, entry_id, account_id, amount, currency, balance_after,
              created_at)
            SELECT {ident("psa", k)}, {ident("ent", k)}, {ident("acc", "u")},
                   CASE WHEN j = 0 THEN {amount} ELSE -({amount}) END, 'CNY', 0, {at}
            FROM {series}, {moves}
            UNION ALL
            SELECT {ident("psb", k)}, {ident("ent", k)},
                   CASE WHEN j = 0 THEN '{clearing}' ELSE '{settlement}' END,
                   CASE WHEN j = 0 THEN -({amount}) ELSE {amount} END, 'CNY', 0, {at}
            FROM {series}, {moves}""",
        f"""INSERT INTO ledger_entries (id, kind, reference, created_at)
            SELECT {ident("ent", k)}, CASE WHEN j = 0 THEN 'top_up' ELSE 'payment' END,
                   {ident("trf", k)}, {at}
            FROM {series}, {moves}""",
        f"""INSERT INTO consent_events (id, user_id, channel, purpose, granted, method, actor,
              evidence, at)
            SELECT {ident("cns", "u")}, {ident("usr", "u")}, 'inbox', 'marketing', {true},
                   'import', 'bench', NULL, {created}
            FROM {series} WHERE u % 2 = 0""",
        f"""INSERT INTO consent_events (id, user_id, channel, purpose, granted, method, actor,
              evidence, at)
            SELECT {ident("cnp", "u")}, {ident("usr", "u")}, 'all', 'personalisation', {false},
                   'import', 'bench', NULL, {created}
            FROM {series} WHERE u % 20 = 0""",
    ]
    return statements
