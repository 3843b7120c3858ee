"""The bus benchmark runs end to end on SQLite with small sizes and its own NATS server, and
reports positive figures (each phase checks that nothing was lost on the way)."""

from __future__ import annotations

import io
import math

from rich.console import Console

from tests.bus.support import nats_binary
from tidings.bench import bus


def test_bus_benchmark_reports_positive_figures() -> None:
    nats_binary()  # with CI set, a missing nats-server is a failure
    figures = bus.run(
        databases=["sqlite"],
        seconds=0.2,
        console=Console(file=io.StringIO()),
        sizes=bus.Sizes(users=40, publish_events=300, ingest_events=120, steady_events=60),
    )
    assert figures["sqlite_publish_events"] == 300
    assert figures["sqlite_ingest_events"] == 120
    assert figures["sqlite_steady_events"] == 60
    for name in ("publish_events_per_s", "ingest_events_per_s", "steady_p99_ms"):
        value = figures[f"sqlite_{name}"]
        assert math.isfinite(value), name
        assert value > 0, (name, value)
