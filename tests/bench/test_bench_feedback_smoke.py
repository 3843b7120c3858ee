"""`tidings bench feedback` at a small size: every figure is there and plausible."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from tidings.bench import feedback


def test_bench_feedback_reports_latency_analysis_time_and_sentiment_accuracy() -> None:
    figures = feedback.run(
        console=Console(file=StringIO()), faq_entries=200, past_tickets=800, queries=50, texts=500
    )
    assert figures["analysis_texts"] == 500
    assert 0 < figures["suggest_p50_ms"] <= figures["suggest_p99_ms"]
    assert figures["analysis_s"] > 0
    assert figures["sentiment_accuracy"] >= 0.8
    assert figures["sentiment_held_out"] >= 60
