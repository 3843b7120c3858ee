"""Operating the worker as separate processes: a bad provider setting stops `serve` and
`worker` before they start, and a worker process serves its own Prometheus metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import PgDatabase
from .support import (
    TIDINGS,
    cloud_event,
    cluster,
    cny,
    environment,
    free_port,
    migrate,
    ok,
    operator,
    wait_until,
)

pytestmark = [pytest.mark.e2e]

MISSPELT_SMS = '[{"type": "http", "url": "https://sms.example.com/v1", "api_kye": "k"}]'


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIDINGS_SMS_PROVIDERS", MISSPELT_SMS),
        ("TIDINGS_EMAIL_PROVIDERS", '[{"type": "smtp"}]'),
        ("TIDINGS_WEBHOOK_SECRET", "whsec_not-base64!"),
    ],
)
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]])
def test_bad_provider_setting_stops_the_process_naming_it(
    tmp_path: Path, command: list[str], variable: str, value: str
) -> None:
    env = environment(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var")
    migrate(env)
    env[variable] = value
    done = subprocess.run(
        [str(TIDINGS), *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert variable in done.stderr


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.mark.postgres
def test_worker_process_serves_its_own_delivery_metrics(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    env = environment(pg_database.url, tmp_path / "var")
    metrics_port = free_port()
    with cluster(tmp_path, env) as running:
        api = running.serve(worker=False)
        running.worker("--metrics-port", str(metrics_port))
        with operator(api.base_url or "") as client:
            user = ok(client.post("/v1/users", json={"external_id": "m-1", "name": "李雷"}), 201)
            ok(
                client.post(
                    "/v1/events",
                    json=cloud_event(
                        event_id="core-1",
                        type_="wallet.transfer.received",
                        subject="m-1",
                        data={"amount": cny(50_00), "counterparty": "韩梅梅"},
                    ),
                ),
                202,
            )
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        def inbox_sent() -> float:
            text = httpx.get(metrics_url, timeout=2).text
            sent = _samples(text, "tidings_deliveries_total")
            return sent.get((("channel", "inbox"), ("status", "sent")), 0.0)

        assert wait_until(inbox_sent, timeout=30, what="the worker's inbox metric", watch=running)
        worker_text = httpx.get(metrics_url, timeout=2).text
        assert _samples(worker_text, "tidings_event_to_delivered_seconds_count")
        # The API process does not deliver, so its own /metrics has no delivery counts.
        api_text = httpx.get(f"{api.base_url}/metrics", timeout=2).text
        assert not _samples(api_text, "tidings_deliveries_total")
        assert user["id"]
