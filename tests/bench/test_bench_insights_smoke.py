"""The insights benchmark runs end to end on SQLite (a short timed phase, 100 users for the
job) and reports positive figures; the job's second run of the same moment sends nothing."""

from __future__ import annotations

import io
import math

from rich.console import Console

from tidings.bench import insights


def test_insights_benchmark_reports_its_figures_and_sends_each_suggestion_once() -> None:
    figures = insights.run(
        databases=["sqlite"], seconds=0.3, console=Console(file=io.StringIO()), users=100
    )
    positive = (
        "spending_p50_ms",
        "spending_p99_ms",
        "without_budget_transfers_per_s",
        "with_budget_transfers_per_s",
        "budget_rate_ratio",
        "suggestions_job_s",
    )
    for name in positive:
        value = figures[f"sqlite_{name}"]
        assert math.isfinite(value), name
        assert value > 0, (name, value)
    # Every tenth user travels; half consented to offers; one in twenty turned it off.
    assert figures["sqlite_suggestions_sent"] == 5
    assert figures["sqlite_suggestions_rerun_sent"] == 0
