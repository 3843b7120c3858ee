"""The online model in production, on SQLite and PostgreSQL: with `TIDINGS_RISK_MODEL` on,
every scored transfer is observed; outcomes come from verified codes, operators and time;
the learning job trains a sealed model that every process loads and that steps up what the
rules allow once it has learned enough."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from tests.helpers import cny
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.kit.clock import FixedClock
from tidings.kit.db import write_transaction
from tidings.risk import learning
from tidings.risk.models import risk_model_observations, risk_models
from tidings.risk.online import ONLINE_MODEL, OnlineRiskModel

from .conftest import Member, count_rows, later, pay, sent_code

LARGE = 600_000


@pytest.fixture
def model_on(context: AppContext) -> AppContext:
    context.settings.risk_model = True
    return context


def observation(engine: Engine, transfer_id: str) -> Any:
    stmt = select(risk_model_observations).where(
        risk_model_observations.c.transfer_id == transfer_id
    )
    with engine.connect() as conn:
        return conn.execute(stmt).first()


def stored_model(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(risk_models)).first()


def learn(context: AppContext) -> dict[str, Any]:
    return run_job(context, "risk.learn_model", None)


def send(client: TestClient, member: Member, to: Member, value: int) -> Any:
    return client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": member.wallet_id,
            "destination": to.wallet_id,
            "amount": cny(value),
        },
        headers=member.headers,
    )


def put_outcome(client: TestClient, transfer_id: str, body: Any, **kwargs: Any) -> Any:
    return client.put(f"/v1/transfers/{transfer_id}/risk-outcome", json=body, **kwargs)


def test_with_the_model_off_no_transfer_is_observed(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    assert pay(client, alice, 12_000).status_code == 201
    assert count_rows(engine, risk_model_observations) == 0


def test_a_verified_step_up_is_learned_as_not_fraud(
    client: TestClient, engine: Engine, model_on: AppContext, alice: Member
) -> None:
    small = pay(client, alice, 12_000).json()
    seen = observation(engine, small["id"])
    assert seen.probability == 0.5  # no model yet: no opinion
    assert seen.fraudulent is None
    assert set(seen.features) >= {"log_amount", "new_payee", "rules_score"}

    held = pay(client, alice, LARGE)
    assert held.status_code == 202
    verified = client.post(
        f"/v1/transfers/{held.json()['id']}/verification",
        json={"code": sent_code(engine, alice.id)},
        headers=alice.headers,
    )
    assert verified.status_code == 200, verified.text
    outcome = observation(engine, held.json()["id"])
    assert (outcome.fraudulent, outcome.outcome_source) == (False, "verified")

    # Only the confirmed outcome is learned; the small payment waits to be settled.
    assert learn(model_on)["outcomes_learned"] == 1
    assert learn(model_on)["outcomes_learned"] == 0
    model = stored_model(engine)
    assert (model.version, model.outcomes_learned) == (1, 1)
    assert observation(engine, small["id"]).learned_at is None


def test_operators_record_outcomes_and_a_changed_one_is_learned_again(
    client: TestClient, engine: Engine, model_on: AppContext, alice: Member, bob: Member
) -> None:
    transfer = send(client, alice, bob, 30_000).json()
    recorded = put_outcome(client, transfer["id"], {"fraudulent": True})
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert body["transfer_id"] == transfer["id"]
    assert (body["fraudulent"], body["source"], body["probability"]) == (True, "operator", 0.5)
    assert learn(model_on)["outcomes_learned"] == 1

    # The chargeback was withdrawn: the correction is learned too.
    assert put_outcome(client, transfer["id"], {"fraudulent": False}).status_code == 200
    assert learn(model_on)["outcomes_learned"] == 1
    assert stored_model(engine).outcomes_learned == 2
    # The same outcome again changes nothing to learn.
    assert put_outcome(client, transfer["id"], {"fraudulent": False}).status_code == 200
    assert learn(model_on)["outcomes_learned"] == 0

    audit = client.get("/v1/audit", params={"action": "risk.outcome"}).json()["items"]
    assert [a["detail"]["fraudulent"] for a in audit] == [False, False, True]


def test_outcome_bad_input_is_a_problem_and_users_cannot_label(
    client: TestClient, engine: Engine, model_on: AppContext, alice: Member, bob: Member
) -> None:
    transfer = send(client, alice, bob, 30_000).json()
    for body in ({}, {"fraudulent": "perhaps"}, {"fraudulent": True, "extra": 1}):
        response = put_outcome(client, transfer["id"], body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        fields = {e["field"] for e in response.json()["errors"]}
        assert fields & {"fraudulent", "extra"}
    missing = put_outcome(client, "trf_01JDQZM0000000000000000000", {"fraudulent": True})
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/transfer-not-scored")
    own = put_outcome(client, transfer["id"], {"fraudulent": False}, headers=alice.headers)
    assert own.status_code == 403
    assert observation(engine, transfer["id"]).fraudulent is None


def test_money_that_moved_and_nobody_reported_counts_as_not_fraud_after_the_settle_days(
    client: TestClient, engine: Engine, model_on: AppContext, clock: FixedClock, alice: Member
) -> None:
    payment = pay(client, alice, 12_000).json()
    held = pay(client, alice, LARGE).json()
    later(clock, minutes=16)
    assert run_job(model_on, "risk.expire_holds", None)["expired"] == 1
    assert learn(model_on)["outcomes_learned"] == 0
    later(clock, days=29)
    assert learn(model_on)["outcomes_learned"] == 0
    later(clock, days=2)
    # The payment settles; the hold nobody verified proves nothing either way.
    assert learn(model_on)["outcomes_learned"] == 1
    settled = observation(engine, payment["id"])
    assert (settled.fraudulent, settled.outcome_source) == (False, "settled")
    assert observation(engine, held["id"]).learned_at is None
    # Both are forgotten after 180 days.
    later(clock, days=181)
    assert learn(model_on)["observations_forgotten"] == 2
    assert count_rows(engine, risk_model_observations) == 0


def test_a_trained_model_steps_up_what_the_rules_allow(
    client: TestClient,
    engine: Engine,
    model_on: AppContext,
    clock: FixedClock,
    alice: Member,
    bob: Member,
) -> None:
    # Teach a model that transfers to other people are fraud and shop payments are not,
    # from what the service itself observed of a few of each, hours apart.
    seen: list[tuple[dict[str, float], bool]] = []
    for _ in range(4):
        p2p = send(client, alice, bob, 30_000).json()["id"]
        shop = pay(client, alice, 12_000).json()["id"]
        seen += [
            (observation(engine, p2p).features, True),
            (observation(engine, shop).features, False),
        ]
        later(clock, hours=3)
    model = OnlineRiskModel()
    for _ in range(250):
        for features, fraudulent in seen:
            model.learn_features(dict(features), fraudulent=fraudulent)
    with write_transaction(engine) as conn:
        learning.install_model(conn, model_on.keyring, model, at=model_on.clock.now())
    model_on.risk_model = learning.ModelCache(model_on.keyring)  # a process starting now

    held = send(client, alice, bob, 30_000)
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "pending_verification"
    assert observation(engine, held.json()["id"]).probability >= 0.7
    assert pay(client, alice, 12_000).status_code == 201
    audit = client.get("/v1/audit", params={"action": "transfer.step_up"}).json()["items"]
    assert ONLINE_MODEL in audit[0]["detail"]["reasons"]

    # Turned off, the rules alone decide again.
    model_on.settings.risk_model = False
    assert send(client, alice, bob, 30_000).status_code == 201


def test_a_model_whose_seal_does_not_match_is_never_loaded(
    client: TestClient, engine: Engine, model_on: AppContext, alice: Member
) -> None:
    observed = pay(client, alice, 13_000).json()["id"]
    assert put_outcome(client, observed, {"fraudulent": True}).status_code == 200
    assert learn(model_on)["outcomes_learned"] == 1
    with engine.connect() as conn:
        assert learning.ModelCache(model_on.keyring).current(conn) is not None
    with write_transaction(engine) as conn:
        conn.execute(update(risk_models).values(state=b"\x80\x04K\x01."))  # not what we sealed
    with engine.connect() as conn:
        assert learning.ModelCache(model_on.keyring).current(conn) is None
    # A process starting now scores with the rules alone.
    model_on.risk_model = learning.ModelCache(model_on.keyring)
    payment = pay(client, alice, 12_500)
    assert payment.status_code == 201
    assert observation(engine, payment.json()["id"]).probability == 0.5
