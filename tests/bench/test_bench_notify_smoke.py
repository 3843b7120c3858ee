"""The notify benchmark runs end to end on SQLite (a small backlog, half a second of steady
load) and reports positive figures with nothing lost or sent twice."""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console

from tidings.bench import notify

CHECKS = ("lost", "sent_twice", "sms_unrecorded")


def _run_small(**options: Any) -> dict[str, float]:
    """Half a second of steady load for 60 users, on SQLite."""
    return notify.run(
        databases=["sqlite"], seconds=0.5, console=Console(file=io.StringIO()), users=60, **options
    )


def test_notify_benchmark_delivers_every_notice_once_and_reports_positive_figures() -> None:
    figures = _run_small(backlog_events=150, draining=False)

    throughput = (
        "events",
        "deliveries",
        "seconds",
        "events_per_s",
        "deliveries_per_s",
        "worker_cpu_ms_per_delivery",
    )
    latency = ("p50_ms", "p99_ms", "max_ms", "sms_p99_ms", "inbox_p99_ms", "sent_at_p99_ms")
    expected_positive = {f"sqlite_1w_{name}" for name in throughput} | {
        f"sqlite_steady_{name}"
        for name in ("events", "events_per_s", "deliveries", "worker_cpu_ms_per_event", *latency)
    }
    assert expected_positive <= set(figures)
    for name in expected_positive:
        value = figures[name]
        assert isinstance(value, int | float), name
        assert math.isfinite(value), name
        assert value > 0, (name, value)
    assert figures["sqlite_1w_deliveries"] == 2 * 150
    assert figures["sqlite_steady_deliveries"] == 2 * figures["sqlite_steady_events"]
    assert figures["sqlite_steady_deliveries_unobserved"] == 0
    for phase in ("1w", "steady"):
        for check in CHECKS:
            assert figures[f"sqlite_{phase}_{check}"] == 0, (phase, check, figures)


def test_notify_benchmark_reports_idle_cpu_and_the_api_beside_a_draining_worker() -> None:
    figures = _run_small(backlog_events=20, idle_seconds=1.0)

    assert figures["sqlite_idle_seconds"] == 1.0
    assert 0 <= figures["sqlite_idle_serve_cpu_pct_of_core"] < 100
    assert figures["sqlite_api_while_draining_backlog_events"] == 5_000
    assert figures["sqlite_api_while_draining_top_ups"] > 0
    for name in ("p50_ms", "p99_ms", "max_ms"):
        assert figures[f"sqlite_api_while_draining_{name}"] > 0, name
    assert figures["sqlite_1w_worker_peak_rss_mb"] > 0
