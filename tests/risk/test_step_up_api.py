"""Step-up verification over HTTP, on SQLite and PostgreSQL: a held transfer holds money and
posts nothing; the right code posts it; three wrong ones, or 15 minutes, cancel it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import assert_books_unchanged, cny
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.ledger.models import holds
from tidings.risk import events as security
from tidings.risk.models import audit_log
from tidings.wallets import events as wallet_events
from tidings.wallets.jobs import run_expire_holds
from tidings.wallets.models import transfers

from .conftest import Member, count_rows, events_of, later, pay, sent_code, wallet

LARGE = 600_000
"""6,000.00: above the 5,000.00 step-up limit."""


def held_payment(client: TestClient, member: Member) -> dict[str, Any]:
    response = pay(client, member, LARGE)
    assert response.status_code == 202, response.text
    body = dict(response.json())
    assert body["status"] == "pending_verification"
    return body


def verify(client: TestClient, member: Member, transfer_id: str, code: str) -> Any:
    return client.post(
        f"/v1/transfers/{transfer_id}/verification", json={"code": code}, headers=member.headers
    )


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_a_transfer_at_the_step_up_limit_is_held_not_posted(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    transfer = held_payment(client, alice)
    mine = wallet(client, alice.wallet_id)
    assert mine["balance"]["value"] == 1_000_000
    assert mine["available"]["value"] == 1_000_000 - LARGE
    assert mine["held"]["value"] == LARGE
    assert client.get(f"/v1/transfers/{transfer['id']}").json()["status"] == (
        "pending_verification"
    )
    assert events_of(engine, alice.id, wallet_events.PAYMENT_SUCCEEDED) == []
    code_event = events_of(engine, alice.id, security.VERIFICATION_CODE)[-1]
    assert code_event["amount"] == cny(LARGE)
    assert code_event["expires_in_minutes"] == 15
    code = sent_code(engine, alice.id)
    assert len(code) == 6
    assert code.isdigit()
    # The event carries the code sealed, never in clear.
    assert "code" not in code_event
    assert code not in str(code_event)
    # A large amount alone asks for the code; nothing looked odd, so no alarm besides it.
    assert events_of(engine, alice.id, security.TRANSACTION_SUSPICIOUS) == []
    # Only a keyed hash of the code is stored.
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT code_hash FROM step_up_verifications").scalar_one()
    assert code not in stored


def test_the_right_code_posts_the_transfer_and_its_notice(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    transfer = held_payment(client, alice)
    later(clock, minutes=2)
    code = sent_code(engine, alice.id)
    response = verify(client, alice, transfer["id"], code)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    mine = wallet(client, alice.wallet_id)
    assert mine["balance"]["value"] == mine["available"]["value"] == 1_000_000 - LARGE
    paid = events_of(engine, alice.id, wallet_events.PAYMENT_SUCCEEDED)
    assert [p["transfer_id"] for p in paid] == [transfer["id"]]
    assert paid[0]["balance_after"] == cny(1_000_000 - LARGE)
    items = client.get(f"/v1/wallets/{alice.wallet_id}/transactions").json()["items"]
    assert items[0]["transfer_id"] == transfer["id"]
    assert items[0]["amount"] == cny(-LARGE)
    # Once posted, the code cannot be used again.
    with assert_books_unchanged(client, [alice.wallet_id]):
        again = verify(client, alice, transfer["id"], code)
        assert again.status_code == 409
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_wrong_codes_count_down_and_the_third_cancels_and_releases(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    transfer = held_payment(client, alice)
    right = sent_code(engine, alice.id)
    bad = wrong(right)
    for left in (2, 1):
        response = verify(client, alice, transfer["id"], bad)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith("/verification-code-wrong")
        assert problem["attempts_left"] == left
        assert problem["errors"][0]["field"] == "code"
        assert wallet(client, alice.wallet_id)["held"]["value"] == LARGE
    third = verify(client, alice, transfer["id"], bad)
    assert third.status_code == 422
    assert third.json()["type"].endswith("/verification-failed")
    assert third.json()["attempts_left"] == 0
    mine = wallet(client, alice.wallet_id)
    assert mine["balance"]["value"] == mine["available"]["value"] == 1_000_000
    assert client.get(f"/v1/transfers/{transfer['id']}").json()["status"] == "cancelled"
    failed = events_of(engine, alice.id, security.VERIFICATION_FAILED)
    assert [f["transfer_id"] for f in failed] == [transfer["id"]]
    assert failed[0]["not_me_url"] == f"/v1/wallets/{alice.wallet_id}/freeze"
    # Even the right code is too late now.
    with assert_books_unchanged(client, [alice.wallet_id]):
        assert verify(client, alice, transfer["id"], right).status_code == 409
    assert events_of(engine, alice.id, wallet_events.PAYMENT_SUCCEEDED) == []


def test_a_retried_wrong_code_spends_one_attempt_and_answers_the_same_problem(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    transfer = held_payment(client, alice)
    url = f"/v1/transfers/{transfer['id']}/verification"
    body = {"code": wrong(sent_code(engine, alice.id))}
    headers = {**alice.headers, "Idempotency-Key": "verify-1"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (422, 422)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json() == first.json()
    assert first.json()["attempts_left"] == 2
    # The retry did not spend an attempt: the next wrong code still leaves one.
    assert verify(client, alice, transfer["id"], body["code"]).json()["attempts_left"] == 1


def test_an_unverified_hold_is_released_by_the_job_after_15_minutes(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    transfer = held_payment(client, alice)
    start = clock.at
    assert run_expire_holds(engine, as_of=later(clock, minutes=14, seconds=59))["expired"] == 0
    assert wallet(client, alice.wallet_id)["held"]["value"] == LARGE
    assert run_expire_holds(engine, as_of=start.replace(minute=start.minute + 15))["expired"] == 1
    mine = wallet(client, alice.wallet_id)
    assert mine["available"]["value"] == mine["balance"]["value"] == 1_000_000
    assert client.get(f"/v1/transfers/{transfer['id']}").json()["status"] == "expired"
    assert count_rows(engine, holds, status="active") == 0
    assert len(events_of(engine, alice.id, security.VERIFICATION_EXPIRED)) == 1
    # A second run finds nothing more to do.
    assert run_expire_holds(engine, as_of=clock.at)["expired"] == 0


def test_a_code_entered_after_expiry_is_refused_and_releases_the_money(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    transfer = held_payment(client, alice)
    later(clock, minutes=16)
    response = verify(client, alice, transfer["id"], sent_code(engine, alice.id))
    assert response.status_code == 410
    assert response.json()["type"].endswith("/verification-expired")
    assert wallet(client, alice.wallet_id)["available"]["value"] == 1_000_000


def test_the_job_runs_through_the_jobs_api(
    client: TestClient, alice: Member, clock: FixedClock
) -> None:
    held_payment(client, alice)
    later(clock, minutes=20)
    response = client.post("/v1/jobs/risk.expire_holds/runs", json={})
    assert response.status_code == 202, response.text
    assert wallet(client, alice.wallet_id)["held"]["value"] == 0


def test_a_held_transfer_needs_the_money_and_changes_nothing_without_it(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    with assert_books_unchanged(client, [alice.wallet_id], notices=1):  # payment.failed
        response = pay(client, alice, 2_000_000)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/insufficient-funds")
    assert count_rows(engine, transfers, status="pending_verification") == 0
    assert events_of(engine, alice.id, security.VERIFICATION_CODE) == []


def test_a_large_transfer_the_backend_makes_for_the_user_is_held_too(
    client: TestClient, engine: Engine, alice: Member, context: AppContext
) -> None:
    # The company's backend, holding the operator key, acts on the user's behalf: a stolen
    # session reaches us through it just the same, so the owner's code is still required.
    body = {"kind": "withdrawal", "source": alice.wallet_id, "amount": cny(LARGE)}
    response = client.post("/v1/transfers", json=body)
    assert response.status_code == 202, response.text
    assert wallet(client, alice.wallet_id)["available"]["value"] == 1_000_000 - LARGE
    # The backend relays the code the owner typed.
    code = sent_code(engine, alice.id)
    verified = client.post(
        f"/v1/transfers/{response.json()['id']}/verification", json={"code": code}
    )
    assert verified.status_code == 200, verified.text
    assert wallet(client, alice.wallet_id)["balance"]["value"] == 1_000_000 - LARGE
    # Where a banking core in front already scores transfers, the check can be turned off.
    context.settings.risk_scoring = False
    again = client.post("/v1/transfers", json={**body, "amount": cny(LARGE // 2)})
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "succeeded"


def test_a_replayed_held_transfer_answers_202_again(client: TestClient, alice: Member) -> None:
    body = {
        "kind": "withdrawal",
        "source": alice.wallet_id,
        "amount": cny(LARGE),
    }
    headers = {**alice.headers, "Idempotency-Key": "big-withdrawal-1"}
    first = client.post("/v1/transfers", json=body, headers=headers)
    again = client.post("/v1/transfers", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert wallet(client, alice.wallet_id)["held"]["value"] == LARGE


def test_verification_bad_input_is_a_problem_naming_the_field(
    client: TestClient, engine: Engine, alice: Member, bob: Member
) -> None:
    transfer = held_payment(client, alice)
    url = f"/v1/transfers/{transfer['id']}/verification"
    for body, field in (({"code": ""}, "code"), ({}, "code"), ({"code": 123456}, "code")):
        response = client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}
    # Someone else's transfer, or no such transfer, is simply not found.
    code = sent_code(engine, alice.id)
    assert client.post(url, json={"code": code}, headers=bob.headers).status_code == 404
    missing = "/v1/transfers/trf_01JD0000000000000000000000/verification"
    assert client.post(missing, json={"code": code}, headers=alice.headers).status_code == 404
    assert client.post("/v1/transfers/x/verification", json={"code": code}).status_code == 404
    # None of that spent an attempt.
    assert verify(client, alice, transfer["id"], code).status_code == 200


def test_every_step_of_a_verification_is_audited(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    transfer = held_payment(client, alice)
    verify(client, alice, transfer["id"], wrong(sent_code(engine, alice.id)))
    verify(client, alice, transfer["id"], sent_code(engine, alice.id))
    page = client.get("/v1/audit", params={"user_id": alice.id}).json()
    actions = [(e["action"], e["subject_id"]) for e in page["items"]]
    assert actions[:3] == [
        ("verification.verified", transfer["id"]),
        ("verification.wrong_code", transfer["id"]),
        ("transfer.step_up", transfer["id"]),
    ]
    step_up = page["items"][2]
    assert step_up["actor"] == f"user:{alice.id}"
    assert step_up["detail"]["amount"] == LARGE
    assert "amount_at_step_up_limit" in step_up["detail"]["reasons"]
    assert count_rows(engine, audit_log, user_id=alice.id) >= 4


def test_settings_move_the_step_up_limit(
    client: TestClient, context: AppContext, alice: Member
) -> None:
    context.settings.step_up_amount = 100_000
    assert pay(client, alice, 150_000).status_code == 202
