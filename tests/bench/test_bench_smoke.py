"""The ledger benchmark runs end to end (service and raw phases, SQLite) and reports numbers;
`--phases` picks the phases from the command line."""

from __future__ import annotations

import io
import json
import math

from rich.console import Console

from tidings.bench import ledger

from .support import run_bench


def test_ledger_benchmark_reports_positive_figures_for_service_and_raw_on_sqlite() -> None:
    figures = ledger.run(
        databases=["sqlite"],
        seconds=0.5,
        console=Console(file=io.StringIO()),
        phases=("service", "raw"),
    )

    expected = {
        f"sqlite_{phase}_{figure}"
        for phase in ("service", "raw")
        for figure in ("transfers", "transfers_per_s", "p50_ms", "p99_ms")
    } | {"sqlite_service_vs_raw_ratio"}
    assert set(figures) == expected
    for name, value in figures.items():
        assert isinstance(value, int | float), name
        assert math.isfinite(value), name
        assert value > 0, (name, value)


def test_ledger_benchmark_times_scored_payments_with_and_without_the_model() -> None:
    figures = ledger.run(
        databases=["sqlite"],
        seconds=0.5,
        console=Console(file=io.StringIO()),
        phases=("scored", "model"),
    )
    for phase in ("scored", "model"):
        assert figures[f"sqlite_{phase}_transfers"] > 0
        assert 0 < figures[f"sqlite_{phase}_p50_ms"] <= figures[f"sqlite_{phase}_p99_ms"]


def test_bench_ledger_runs_only_the_phases_named_on_the_command_line() -> None:
    done = run_bench("ledger", "--phases", "raw", "--seconds", "0.5", "--json")
    assert done.returncode == 0, done.stderr

    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == {
        f"sqlite_raw_{figure}" for figure in ("transfers", "transfers_per_s", "p50_ms", "p99_ms")
    }


def test_bench_ledger_names_an_unknown_phase_and_runs_nothing() -> None:
    done = run_bench("ledger", "--phases", "raw,warp", "--json", timeout=120)

    assert done.returncode == 2
    assert "--phases" in done.stderr
    assert "warp" in done.stderr
    assert done.stdout == ""
