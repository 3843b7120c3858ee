"""`tidings bench credit`: the credit line's nightly run over a large book, on PostgreSQL.

A throw-away PostgreSQL database (`TIDINGS_BENCH_POSTGRES`, default
`postgresql://postgres@127.0.0.1:5432/postgres`, like the other benchmarks) is migrated and
filled set-based (`INSERT … SELECT generate_series`, never row by row through the service):
N active installments (default 1,000,000), three per drawdown, one drawdown per borrower
(user, main wallet with 2,000.00, credit line). By drawdown, for the run's day T (10:00 in
Asia/Shanghai):

* 3 % have their first installment due on T (1 % of installments), half of them with
  auto-debit enabled;
* 6 % have it overdue by 1 to 60 days (2 % of installments): already marked overdue as of
  T-1, with their penalty entries up to T-1 and the notice step they had reached, as a
  nightly run the day before would have left them;
* 3 % are due on T+1 and 3 % on T+3 (reminder days); the rest later.

So about 3 % of installments are due or overdue that day. The run is timed as the worker
runs it: `credit.auto_debit` first (repayments through the ledger, one transaction per
drawdown: reported on its own), then `credit.overdue` (overdue marking, penalty accrual,
overdue notices) and `credit.reminders` — those two together are the set-based nightly
figure (`nightly_s`, target under 60 s). Notices are queued in the outbox (the relay and
dispatcher are measured by `tidings bench notify`). Then the same moment is run again and
must queue nothing (`rerun_notices`).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import psycopg
from rich.console import Console
from sqlalchemy import func, select

from tidings.bench.support import BenchmarkError, bench_database, make_progress, step
from tidings.credit import jobs
from tidings.credit.models import credit_penalties
from tidings.events import outbox
from tidings.kit.db import make_engine, read_transaction
from tidings.kit.migrate import upgrade

DEFAULT_INSTALLMENTS: Final = 1_000_000
TIMEZONE: Final = "Asia/Shanghai"
RUN_DAY: Final = date(2027, 3, 15)
PRODUCT_ID: Final = "prd_01JF0000000000000000000000"


def _id(prefix: str, number: str) -> str:
    """SQL for a well-formed id from a number: `'usr_' || lpad(g::text, 26, '0')`."""
    return f"'{prefix}_' || lpad(({number})::text, 26, '0')"


def _generate(dsn: str, drawdowns: int) -> None:
    """The book, set-based. Category of a drawdown: g % 100."""
    t = f"DATE '{RUN_DAY.isoformat()}'"
    created = "TIMESTAMPTZ '2026-12-01 00:00:00+00'"
    category = "(g % 100)"
    first_due = f"""CASE
        WHEN {category} < 3 THEN {t}
        WHEN {category} < 9 THEN {t} - (1 + g % 60)
        WHEN {category} < 12 THEN {t} + 1
        WHEN {category} < 15 THEN {t} + 3
        ELSE {t} + 5 + g % 25 END"""
    statements = [
        f"""INSERT INTO users (id, main_wallet_id, external_id_enc, external_id_hash, name_enc,
              locale, timezone, currency, low_balance_threshold, created_at, updated_at)
            SELECT {_id("usr", "g")}, {_id("wal", "g")}, 'bench', md5(g::text), 'bench',
                   'zh-CN', '{TIMEZONE}', 'CNY', 10000, {created}, {created}
            FROM generate_series(1, {drawdowns}) g""",
        f"""INSERT INTO accounts (id, user_id, kind, currency, balance, held, allow_negative,
              created_at)
            SELECT {_id("acc", "g")}, {_id("usr", "g")}, 'wallet', 'CNY', 200000, 0, false,
                   {created}
            FROM generate_series(1, {drawdowns}) g""",
        f"""INSERT INTO wallets (id, user_id, account_id, kind, name, purpose, currency, status,
              created_at)
            SELECT {_id("wal", "g")}, {_id("usr", "g")}, {_id("acc", "g")}, 'main', 'main',
                   'main', 'CNY', 'open', {created}
            FROM generate_series(1, {drawdowns}) g""",
        f"""INSERT INTO credit_lines (id, user_id, product_id, currency, "limit", outstanding,
              status, auto_debit, created_at)
            SELECT {_id("cln", "g")}, {_id("usr", "g")}, '{PRODUCT_ID}', 'CNY', 2000000, 300000,
                   'active', ({category} < 3 AND g % 2 = 0), {created}
            FROM generate_series(1, {drawdowns}) g""",
        f"""INSERT INTO credit_drawdowns (id, line_id, user_id, currency, amount, fee,
              term_months, method, annual_rate_bp, penalty_bp_per_day, grace_days, timezone,
              start_date, interest_from, interest_base, status, wallet_id, created_at)
            SELECT {_id("drw", "g")}, {_id("cln", "g")}, {_id("usr", "g")}, 'CNY', 300000, 0,
                   3, 'equal_principal', 1080, 5, 0, '{TIMEZONE}',
                   ({first_due}) - 30, ({first_due}) - 30, 0, 'active', {_id("wal", "g")},
                   {created}
            FROM generate_series(1, {drawdowns}) g""",
        f"""INSERT INTO credit_installments (id, drawdown_id, user_id, timezone, n, due_date,
              penalty_from, principal, interest, status, overdue_as_of, penalty)
            SELECT {_id("ins", "(g - 1) * 3 + n")}, {_id("drw", "g")}, {_id("usr", "g")},
                   '{TIMEZONE}', n, due, due + 1, 100000, 1000,
                   CASE WHEN due < {t} THEN 'overdue' ELSE 'pending' END,
                   CASE WHEN due < {t} THEN {t} - 1 END,
                   CASE WHEN due < {t} - 1 THEN ({t} - 1 - due) * 51 ELSE 0 END
            FROM generate_series(1, {drawdowns}) g,
                 generate_series(1, 3) n,
                 LATERAL (SELECT ({first_due}) + (n - 1) * 30 AS due) d""",
        # what the run of T-1 left: penalty entries up to T-1 and the step reached then
        f"""INSERT INTO credit_penalties (installment_id, day, drawdown_id, line_id, amount,
              created_at)
            SELECT i.id, day::date, i.drawdown_id, 'cln_' || substr(i.drawdown_id, 5), 51,
                   {created}
            FROM credit_installments i,
                 generate_series(i.penalty_from, {t} - 1, INTERVAL '1 day') day
            WHERE i.status = 'overdue'""",
        f"""INSERT INTO credit_notices (installment_id, step, created_at)
            SELECT id, CASE WHEN {t} - 1 - due_date >= 30 THEN 'overdue_30'
                            WHEN {t} - 1 - due_date >= 7 THEN 'overdue_7'
                            WHEN {t} - 1 - due_date >= 3 THEN 'overdue_3'
                            ELSE 'overdue_1' END, {created}
            FROM credit_installments WHERE status = 'overdue' AND due_date < {t} - 1""",
        "ANALYZE",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _count(engine_url: str, table: str) -> int:
    engine = make_engine(engine_url)
    try:
        with read_transaction(engine) as conn:
            source = outbox if table == "outbox" else credit_penalties
            return int(conn.execute(select(func.count()).select_from(source)).scalar_one())
    finally:
        engine.dispose()


def run(*, console: Console, installments: int = DEFAULT_INSTALLMENTS) -> dict[str, float]:
    """Generate the book, run the nightly jobs for T once and again; the figures."""
    drawdowns = max(1, installments // 3)
    as_of = datetime(RUN_DAY.year, RUN_DAY.month, RUN_DAY.day, 10, tzinfo=ZoneInfo(TIMEZONE))
    as_of = as_of.astimezone(UTC)
    figures: dict[str, float] = {"installments": drawdowns * 3, "drawdowns": drawdowns}
    with (
        tempfile.TemporaryDirectory() as workdir,
        make_progress(console) as progress,
        bench_database("postgresql", Path(workdir)) as database,
    ):
        engine = make_engine(database.url)
        try:
            with step(progress, "migrate"):
                upgrade(engine)
            with step(progress, f"generate {drawdowns * 3:,} installments (set-based)"):
                started = time.perf_counter()
                _generate(database.url, drawdowns)
                figures["generate_s"] = round(time.perf_counter() - started, 2)
            events_before = _count(database.url, "outbox")
            penalties_before = _count(database.url, "penalties")

            with step(progress, "credit.auto_debit (through the ledger)"):
                started = time.perf_counter()
                debit = jobs.run_auto_debit(engine, as_of=as_of)
                elapsed = time.perf_counter() - started
            figures["auto_debit_s"] = round(elapsed, 2)
            figures["auto_debits"] = debit["auto_debits"]
            figures["auto_debit_refused"] = debit["auto_debit_refused"]
            figures["auto_debits_per_s"] = round(debit["auto_debits"] / elapsed, 1)

            with step(progress, "credit.overdue (marking, penalties, notices)"):
                started = time.perf_counter()
                overdue = jobs.run_overdue(engine, as_of=as_of)
                overdue_s = time.perf_counter() - started
            with step(progress, "credit.reminders (T-3, T-1, due day)"):
                started = time.perf_counter()
                reminders = jobs.run_reminders(engine, as_of=as_of)
                reminders_s = time.perf_counter() - started
            notices = overdue["overdue_notices"] + reminders["reminders"]
            figures.update(
                overdue_s=round(overdue_s, 2),
                reminders_s=round(reminders_s, 2),
                nightly_s=round(overdue_s + reminders_s, 2),
                overdue_marked=overdue["overdue_marked"],
                penalty_entries=overdue["penalty_entries"],
                overdue_notices=overdue["overdue_notices"],
                reminders=reminders["reminders"],
                notices_queued_per_s=round(notices / (overdue_s + reminders_s), 1),
            )
            with step(progress, "the same moment again (must queue nothing)"):
                started = time.perf_counter()
                again = jobs.run_overdue(engine, as_of=as_of)
                again_reminders = jobs.run_reminders(engine, as_of=as_of)
                figures["rerun_s"] = round(time.perf_counter() - started, 2)
            figures["rerun_notices"] = again["overdue_notices"] + again_reminders["reminders"]
            figures["rerun_penalty_entries"] = again["penalty_entries"]
            queued = _count(database.url, "outbox") - events_before
            figures["outbox_events_queued"] = queued
            written = _count(database.url, "penalties") - penalties_before
        finally:
            engine.dispose()
    expected_events = notices + debit["auto_debits"]  # each repayment is a notice too
    if queued != expected_events or written != overdue["penalty_entries"]:
        raise BenchmarkError(
            f"counts disagree: {queued} events queued, {expected_events} expected; "
            f"{written} penalty entries written, {overdue['penalty_entries']} reported"
        )
    if figures["rerun_notices"] or figures["rerun_penalty_entries"]:
        raise BenchmarkError("running the same moment twice queued something twice")
    return figures
