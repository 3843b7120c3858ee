"""A background loop that keeps crashing backs off, is counted, and turns `/healthz` 503
naming it (never a healthy-looking service that delivers nothing)."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tidings.app.context import AppContext
from tidings.app.worker import Worker
from tidings.kit.health import HEALTHY_AFTER_S, MAX_BACKOFF_S, LoopHealth


def broken_dispatch(context: AppContext, stop: threading.Event) -> None:
    raise RuntimeError("provider settings unusable")


def _crashes(text: str, loop: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tidings_worker_loop_crashes_total" and sample.labels["loop"] == loop
    )


def test_crashing_loop_makes_healthz_503_naming_it(context: AppContext, client: TestClient) -> None:
    before = _crashes(client.get("/metrics").text, "broken_dispatch")
    assert client.get("/healthz").status_code == 200
    worker = Worker(context, loops=(broken_dispatch,))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not context.loop_health.failing() and time.monotonic() < deadline:
            time.sleep(0.01)
        health = client.get("/healthz")
    finally:
        worker.shutdown()
    assert health.status_code == 503
    body = health.json()
    assert body["type"].endswith("/loop-failing")
    assert "broken_dispatch" in body["detail"]
    assert body["loops"][0]["loop"] == "broken_dispatch"
    assert body["loops"][0]["error"] == "RuntimeError"
    assert _crashes(client.get("/metrics").text, "broken_dispatch") >= before + 1


def test_crashes_back_off_doubling_to_a_minute_and_reset_after_a_healthy_run() -> None:
    health = LoopHealth()
    error = RuntimeError("boom")
    waits = [health.crashed("relay", error, ran_for_s=0.1) for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, MAX_BACKOFF_S, MAX_BACKOFF_S]
    assert [failure.loop for failure in health.failing()] == ["relay"]
    assert health.failing()[0].crashes == 8
    assert health.crashed("relay", error, ran_for_s=HEALTHY_AFTER_S) == 1.0
    assert health.failing()[0].crashes == 1
