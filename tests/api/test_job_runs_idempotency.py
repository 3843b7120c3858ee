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


def test_a_user_token_is_refused_and_runs_nothing(client: TestClient, context: AppContext) -> None:
    clock = FixedClock(datetime(2026, 11, 3, 1, tzinfo=UTC))
    context.clock = clock
    owner = create_user(client)
    top_up(client, owner["wallet_id"], 8_800)
    clock.at = datetime(2026, 12, 2, 1, tzinfo=UTC)
    token = client.post(f"/v1/users/{owner['id']}/tokens").json()["token"]
    refused = client.post(
        RUNS, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "mine"}
    )
    assert refused.status_code == 403
    # Nothing ran, and the key was not taken: the operator's run with it does the work.
    run = client.post(RUNS, headers={"Idempotency-Key": "mine"})
    assert run.status_code == 202
    assert "Idempotent-Replayed" not in run.headers
    assert run.json()["statements"] == 1


def test_bad_input_is_4xx_naming_the_field_and_stores_no_answer(client: TestClient) -> None:
    key = {"Idempotency-Key": "bad-input"}
    for path, body, status, field in (
        (RUNS, {"as_of": "yesterday"}, 422, "as_of"),
        (RUNS, {"as_of": "2026-12-01T02:00:00Z", "when": 1}, 422, "when"),
        ("/v1/jobs/no.such.job/runs", None, 404, "name"),
    ):
        response = client.post(path, headers=key, json=body)
        assert response.status_code == status, response.text
        assert field in {error["field"] for error in response.json()["errors"]}, response.text
    # A refusal is not an answer to replay: the key still runs the job.
    run = client.post(RUNS, headers=key)
    assert run.status_code == 202
    assert "Idempotent-Replayed" not in run.headers


def test_without_a_key_each_call_runs(client: TestClient) -> None:
    first = client.post(RUNS)
    second = client.post(RUNS)
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in second.headers
