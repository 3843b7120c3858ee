"""`tidings bench risk`: how well and how fast the risk rules decide, on a labelled stream.

The stream is `risk.synthetic.stream` (normal users with daily rhythms and legitimate oddities,
injected takeovers, card testing and mules). A fraudulent transfer counts as caught when the
decision is step-up or block; a legitimate one held or refused is a false positive. Recall is
per transfer (the first probe of a card-testing burst counts as missed), not per incident.

The default policy was tuned on seed 1; the default seed here is another one, so the figures
are not measured on the data the thresholds were chosen on. Only `assess_transfer` is timed
(perf_counter_ns around each call); generating the stream is reported separately.
"""

from __future__ import annotations

import time
from typing import Final

from rich.console import Console

from tidings.bench.support import make_progress
from tidings.risk.scoring import DEFAULT_POLICY, RiskPolicy, assess_transfer
from tidings.risk.signals import RiskDecision
from tidings.risk.synthetic import FRAUD_PATTERNS, Pattern, stream

DEFAULT_TRANSFERS: Final = 1_000_000
DEFAULT_SEED: Final = 2026
TUNING_SEED: Final = 1
"""The seed the default policy's thresholds were chosen on; reported figures use another."""
REFRESH_EVERY: Final = 20_000


def _percentile_us(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of sorted nanoseconds, in microseconds."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * q // 100))
    return round(ordered[int(rank) - 1] / 1_000, 2)


def run(
    *,
    console: Console,
    transfers: int = DEFAULT_TRANSFERS,
    seed: int = DEFAULT_SEED,
    policy: RiskPolicy = DEFAULT_POLICY,
) -> dict[str, float]:
    """Score `transfers` synthetic transfers of stream `seed`; figures carry units in names."""
    totals = dict.fromkeys(Pattern, 0)
    caught = dict.fromkeys(Pattern, 0)
    blocked = dict.fromkeys(Pattern, 0)
    latencies = [0] * transfers
    clock = time.perf_counter_ns
    allow = RiskDecision.ALLOW
    block = RiskDecision.BLOCK
    count = 0
    started = time.perf_counter()
    with make_progress(console) as progress:
        task = progress.add_task(
            f"scoring {transfers:,} synthetic transfers (seed {seed})", total=transfers, detail=""
        )
        for signals, label in stream(seed, transfers):
            before = clock()
            decision = assess_transfer(signals, policy=policy).decision
            latencies[count] = clock() - before
            count += 1
            totals[label] += 1
            if decision is not allow:
                caught[label] += 1
                if decision is block:
                    blocked[label] += 1
            if count % REFRESH_EVERY == 0:
                progress.update(task, completed=count, detail=f"{count:,}")
        progress.update(task, completed=count, detail=f"{count:,}")
    elapsed = time.perf_counter() - started
    del latencies[count:]
    latencies.sort()

    figures: dict[str, float] = {"transfers": count, "seed": seed}
    normal = totals[Pattern.NORMAL]
    figures["normal_transfers"] = normal
    fraud_total = fraud_caught = 0
    for pattern in FRAUD_PATTERNS:
        figures[f"{pattern}_transfers"] = totals[pattern]
        figures[f"{pattern}_recall_ratio"] = _ratio(caught[pattern], totals[pattern])
        fraud_total += totals[pattern]
        fraud_caught += caught[pattern]
    figures["fraud_transfers"] = fraud_total
    figures["recall_ratio"] = _ratio(fraud_caught, fraud_total)
    figures["false_positive_ratio"] = _ratio(caught[Pattern.NORMAL], normal)
    figures["blocked_legitimate_ratio"] = _ratio(blocked[Pattern.NORMAL], normal)
    figures["fraud_blocked_ratio"] = _ratio(
        sum(blocked[pattern] for pattern in FRAUD_PATTERNS), fraud_total
    )
    figures["score_p50_us"] = _percentile_us(latencies, 50)
    figures["score_p99_us"] = _percentile_us(latencies, 99)
    figures["score_p99_ms"] = round(figures["score_p99_us"] / 1_000, 4)
    figures["score_max_us"] = _percentile_us(latencies, 100)
    figures["scoring_total_s"] = round(sum(latencies) / 1e9, 3)
    figures["run_s"] = round(elapsed, 2)
    return figures


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 5) if whole else 0.0
