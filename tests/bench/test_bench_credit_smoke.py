"""The credit benchmark runs end to end on PostgreSQL with a small book, reports positive
figures, and its re-run of the same moment queues nothing."""

from __future__ import annotations

import io
import math
import os

import psycopg
import pytest
from rich.console import Console

from tidings.bench import credit
from tidings.bench.support import DEFAULT_POSTGRES, POSTGRES_ENV


def _postgres() -> bool:
    try:
        with psycopg.connect(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def test_credit_benchmark_runs_small_and_reports_the_nightly_figures() -> None:
    if not _postgres():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable and CI is set: the credit bench must run")
        pytest.skip("PostgreSQL is not reachable (set CI to make this a failure)")
    figures = credit.run(console=Console(file=io.StringIO()), installments=3_000)

    assert figures["installments"] == 3_000
    for name in (
        "generate_s",
        "auto_debit_s",
        "auto_debits",
        "auto_debits_per_s",
        "nightly_s",
        "overdue_marked",
        "penalty_entries",
        "reminders",
        "notices_queued_per_s",
    ):
        value = figures[name]
        assert math.isfinite(value), name
        assert value > 0, (name, value)
    assert figures["auto_debits"] == 20  # 2 % of 1,000 drawdowns are due today with auto-debit
    assert figures["auto_debit_refused"] == 0
    assert figures["rerun_notices"] == 0
    assert figures["rerun_penalty_entries"] == 0
    assert figures["outbox_events_queued"] == (
        figures["reminders"] + figures["overdue_notices"] + figures["auto_debits"]
    )
