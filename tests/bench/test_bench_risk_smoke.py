"""`tidings bench risk --json` runs as a command and ends with one JSON object of figures."""

from __future__ import annotations

import json
import math

from .support import run_bench


def test_bench_risk_prints_recall_false_positives_and_latency_as_its_last_line() -> None:
    done = run_bench("risk", "--json", "--transfers", "5000", "--seed", "3")
    assert done.returncode == 0, done.stderr

    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["transfers"] == 5_000
    assert figures["normal_transfers"] + figures["fraud_transfers"] == 5_000
    for name in (
        "recall_ratio",
        "false_positive_ratio",
        "takeover_recall_ratio",
        "model_recall_ratio",
        "model_false_positive_ratio",
    ):
        assert 0.0 <= figures[name] <= 1.0, name
    assert figures["fraud_transfers"] > 0
    assert figures["recall_ratio"] > 0.5
    assert figures["model_recall_ratio"] >= figures["recall_ratio"]  # the model only raises
    for name in ("score_p50_us", "score_p99_us", "model_score_p99_us"):
        assert math.isfinite(figures[name])
        assert figures[name] > 0
    assert figures["score_p99_us"] >= figures["score_p50_us"]
