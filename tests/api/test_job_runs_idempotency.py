"""`POST /v1/jobs/{name}/runs` honours `Idempotency-Key` as every state-changing POST does."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.helpers import create_user, top_up
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock

RUNS = "/v1/jobs/wallet.statements/runs"


def test_one_key_answers_the_first_run_again_and_another_body_is_409(
    client: TestClient, context: AppContext
) -> None:
    clock = FixedClock(datetime(2026, 11, 3, 1, tzinfo=UTC))
    context.clock = clock
    owner = create_user(client)
    top_up(client, owner["wallet_id"], 8_800)
    clock.at = datetime(2026, 12, 2, 1, tzinfo=UTC)
    key = {"Idempotency-Key": "statements-december"}

    first = client.post(RUNS, headers=key)  # as_of left out: now
    assert first.status_code == 202, first.text
    assert first.json()["statements"] == 1

    clock.at = datetime(2026, 12, 2, 5, tzinfo=UTC)
    again = client.post(RUNS, headers=key)
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the first run's moment, not a new one

    other = client.post(RUNS, headers=key, json={"as_of": "2026-12-01T02:00:00Z"})
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_without_a_key_each_call_runs_and_a_user_token_is_refused(
    client: TestClient,
) -> None:
    owner = create_user(client)
    token = client.post(f"/v1/users/{owner['id']}/tokens").json()["token"]
    refused = client.post(
        RUNS, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "mine"}
    )
    assert refused.status_code == 403
    assert client.post(RUNS).headers.get("Idempotent-Replayed") is None
