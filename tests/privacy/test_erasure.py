"""Erasure: refused while money or credit remains; otherwise nothing of the person is left,
and the books are exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.conftest import DATA_KEY, LOOKUP_KEY
from tests.credit.support import draw, open_line
from tests.helpers import cny, create_user, deliver_everything, transfer
from tests.privacy.conftest import Person, ciphertexts_of, give_feedback, make_person, text_values
from tests.risk.conftest import count_rows
from tests.web.conftest import browser_for, sign_in
from tidings.app.context import AppContext
from tidings.app.notify import relay_once
from tidings.cli.main import app as cli
from tidings.config import Settings, get_settings
from tidings.events import outbox, record_event
from tidings.feedback.models import tickets
from tidings.kit.db import read_transaction, write_transaction
from tidings.ledger import service as ledger
from tidings.notify.models import deliveries, inbox_items, notifications
from tidings.notify.planner import PlannerPolicy
from tidings.privacy.userkeys import PREFIX, FreeText
from tidings.risk.models import audit_log
from tidings.wallets.models import transfers

REASON = {"reason": "PIPL art. 47 request #4711"}


def erase(client: TestClient, person: Person) -> dict[str, Any]:
    response = client.post(f"/v1/users/{person.id}/erasure", json=REASON)
    assert response.status_code == 200, response.text
    return dict(response.json())


def books(engine: Engine) -> tuple[bool, dict[str, int], int]:
    with read_transaction(engine) as conn:
        trial = ledger.trial_balance(conn)
        count = conn.execute(select(func.count()).select_from(transfers)).scalar_one()
    return trial.ok, trial.totals, count


def test_erasure_with_money_left_is_409_and_changes_nothing(
    client: TestClient, context: AppContext, engine: Engine
) -> None:
    person = make_person(client, context, keep=1)
    assert_refused_unchanged(client, engine, person, "balance-not-zero")


def assert_refused_unchanged(client: TestClient, engine: Engine, person: Person, code: str) -> None:
    """Erasure is 409 `code`, and no text or JSON value anywhere, nor the books, changed."""
    before, books_before = text_values(engine), books(engine)
    response = client.post(f"/v1/users/{person.id}/erasure", json=REASON)
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith(f"/{code}")
    assert text_values(engine) == before
    assert books(engine) == books_before
    assert client.get(f"/v1/users/{person.id}").json()["status"] == "active"


def record_top_up_event(context: AppContext, person: Person) -> None:
    """An event the service itself records for the person (a notice follows)."""
    with write_transaction(context.engine) as conn:
        record_event(
            conn,
            type="wallet.top_up.succeeded",
            user_id=person.id,
            data={"wallet_id": person.wallet_id, "amount": {"value": 100, "currency": "CNY"}},
            at=context.clock.now(),
        )


def ledger_check(settings: Settings) -> dict[str, Any]:
    """`tidings ledger check --json` as a shell runs it, on the test's database."""
    get_settings.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TIDINGS_DATABASE_URL", settings.database_url)
            env.setenv("TIDINGS_DATA_KEY", DATA_KEY)
            env.setenv("TIDINGS_LOOKUP_KEY", LOOKUP_KEY)
            result = CliRunner().invoke(cli, ["ledger", "check", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_erasure_with_credit_owed_is_409_and_changes_nothing(
    client: TestClient, context: AppContext, engine: Engine
) -> None:
    person = make_person(client, context)
    line = open_line(client, {"id": person.id})
    draw(client, line["id"], 10_000)
    spent = transfer(client, kind="withdrawal", source=person.wallet_id, amount=cny(10_000))
    assert spent["status"] == "succeeded", spent  # no money left, the debt remains
    assert_refused_unchanged(client, engine, person, "credit-outstanding")


def test_after_erasure_nothing_of_the_person_remains_and_the_books_stay(
    client: TestClient,
    context: AppContext,
    engine: Engine,
    settings: Settings,
    person: Person,
    tmp_path: Path,
) -> None:
    said = give_feedback(client, person)
    note = "请退款到尾号8899的卡"  # the operator's keyed request: its stored answer names them
    ticket = {"user_id": person.id, "channel": "app", "body": note}
    keyed = client.post("/v1/tickets", json=ticket, headers={"Idempotency-Key": "tk-8899"})
    assert keyed.status_code == 201, keyed.text
    said += (note,)
    deliver_everything(context)
    browser = browser_for(client)
    sign_in(client, browser, person.id)
    record_top_up_event(context, person)  # a notice planned but not yet sent
    relay_once(context, PlannerPolicy())
    assert count_rows(engine, deliveries, user_id=person.id, status="pending")
    sealed = ciphertexts_of(engine, person.id)
    with read_transaction(engine) as conn:
        sealed += [m for m in conn.execute(select(transfers.c.memo)).scalars() if m]
    books_before = books(engine)
    checked_before = ledger_check(settings)
    answer = erase(client, person)
    assert answer["status"] == "erased"
    assert "transfers" in answer["retained"]

    secrets = (*person.secrets, *said, *sealed)
    leftovers = [
        (where, secret)
        for where, value in text_values(engine)
        for secret in secrets
        if secret in value
    ]
    assert leftovers == []
    assert books(engine) == books_before
    assert books_before[0] is True
    checked = ledger_check(settings)
    assert checked["ok"] is True
    assert checked["totals"] == checked_before["totals"]
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database or "")
        stored = b"".join(
            p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
        )
        assert [s for s in secrets if s.encode() in stored] == []
    # a retry of the keyed request runs nothing again, and answers without their data
    tickets_before = count_rows(engine, tickets)
    retried = client.post("/v1/tickets", json=ticket, headers={"Idempotency-Key": "tk-8899"})
    assert retried.status_code == 409, retried.text
    assert retried.json()["type"].endswith("/user-erased")
    assert note not in retried.text
    assert count_rows(engine, tickets) == tickets_before
    # pending deliveries cancelled, the page session ended
    assert count_rows(engine, deliveries, user_id=person.id, status="pending") == 0
    assert count_rows(engine, deliveries, user_id=person.id, reason="erased")
    assert browser.get("/app/").status_code in (303, 401)
    browser.close()

    shown = client.get(f"/v1/users/{person.id}").json()
    assert shown["status"] == "erased"
    assert shown["name"] == ""
    assert shown["phone"] is None
    # tokens revoked
    assert client.get(f"/v1/users/{person.id}", headers=person.headers).status_code == 401
    # the account takes no new personal data nor token
    renamed = client.patch(f"/v1/users/{person.id}", json={"name": "欧阳锋锐"})
    assert renamed.status_code == 409
    assert renamed.json()["type"].endswith("/user-erased")
    assert client.post(f"/v1/users/{person.id}/tokens").status_code == 409
    assert client.post(f"/v1/users/{person.id}/web-links").status_code == 409
    text_values_after_erasure = text_values(engine)
    rewired = client.put(
        f"/v1/users/{person.id}/preferences",
        json={"webhook_url": "https://hooks.example.com/x", "marketing_consent": {"sms": True}},
    )
    assert rewired.status_code == 409
    assert rewired.json()["type"].endswith("/user-erased")
    assert text_values(engine) == text_values_after_erasure
    # the phone and external id may sign up again
    again = create_user(client, phone=person.secrets[1], external_id=person.secrets[3])
    assert again["id"] != person.id
    # audited with who and why
    with read_transaction(engine) as conn:
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "privacy.erased")).one()
    assert audit.actor == "operator"
    assert audit.detail == {"reason": REASON["reason"]}
    assert audit.user_id == person.id


def test_an_event_posted_for_an_erased_user_is_accepted_and_dropped(
    client: TestClient, engine: Engine, context: AppContext, person: Person
) -> None:
    erase(client, person)
    events_before = count_rows(engine, outbox)
    event = {
        "specversion": "1.0",
        "id": "core-1",
        "source": "core-banking",
        "type": "core.loyalty.points",
        "subject": person.id,
        "data": {"points": 10},
    }
    dropped_before = dropped(client)
    response = client.post("/v1/events", json=event)
    assert response.status_code == 202, response.text
    assert response.json()["dropped"] is True
    assert count_rows(engine, outbox) == events_before
    assert dropped(client) == dropped_before + 1


def dropped(client: TestClient) -> float:
    """`tidings_events_dropped_erased_total` as /metrics shows it (the counter is global)."""
    [line] = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("tidings_events_dropped_erased_total ")
    ]
    return float(line.split()[1])


def test_erasure_needs_an_operator_and_a_reason(
    client: TestClient, context: AppContext, person: Person
) -> None:
    other = make_person(client, context)
    mine = client.post(f"/v1/users/{person.id}/erasure", json=REASON, headers=person.headers)
    assert mine.status_code == 403
    theirs = client.post(f"/v1/users/{other.id}/erasure", json=REASON, headers=person.headers)
    assert theirs.status_code in (403, 404)
    missing = client.post(f"/v1/users/{person.id}/erasure", json={})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["reason"]
    blank = client.post(f"/v1/users/{person.id}/erasure", json={"reason": "  "})
    assert blank.status_code == 422
    assert [e["field"] for e in blank.json()["errors"]] == ["reason"]
    assert client.post("/v1/users/usr_nobody/erasure", json=REASON).status_code == 404
    for user_id in (person.id, other.id):
        assert client.get(f"/v1/users/{user_id}").json()["status"] == "active"
    assert client.get(f"/v1/users/{person.id}", headers=person.headers).status_code == 200


def test_a_repeated_idempotency_key_replays_and_another_body_is_409(
    client: TestClient, person: Person
) -> None:
    headers = {"Idempotency-Key": "erase-1"}
    first = client.post(f"/v1/users/{person.id}/erasure", json=REASON, headers=headers)
    again = client.post(f"/v1/users/{person.id}/erasure", json=REASON, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = client.post(f"/v1/users/{person.id}/erasure", json={"reason": "x"}, headers=headers)
    assert other.status_code == 409


def test_memos_and_inbox_text_are_sealed_with_the_users_key_and_shredded_on_erasure(
    client: TestClient, engine: Engine, context: AppContext, person: Person
) -> None:
    memo = person.secrets[4]
    with read_transaction(engine) as conn:
        stored = conn.execute(
            select(transfers.c.memo).where(transfers.c.memo.is_not(None))
        ).scalar_one()
        bodies = list(conn.execute(select(inbox_items.c.body)).scalars())
    assert stored.startswith(PREFIX)
    assert memo not in stored
    assert bodies
    assert all(body.startswith(PREFIX) for body in bodies)
    shown = client.get(f"/v1/wallets/{person.wallet_id}/transactions", headers=person.headers)
    assert memo in [item["memo"] for item in shown.json()["items"]]
    inbox = client.get(f"/v1/users/{person.id}/inbox", headers=person.headers).json()
    assert any("100.00" in item["body"] for item in inbox["items"])

    erase(client, person)
    with read_transaction(engine) as conn:  # a copy kept elsewhere no longer opens
        text = FreeText(conn, context.keyring)
        assert text.open(person.id, stored, context="transfers.memo") is None
        assert text.open(person.id, bodies[0], context="inbox_items.body") is None


def test_nothing_more_is_sent_to_an_erased_person(
    client: TestClient, engine: Engine, context: AppContext, person: Person
) -> None:
    """An event the service itself records later (a statement, say) makes no notice."""
    erase(client, person)
    notices = count_rows(engine, notifications)
    record_top_up_event(context, person)
    deliver_everything(context)
    assert count_rows(engine, notifications) == notices
