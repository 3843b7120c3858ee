"""The `privacy.retention` job: what outlived its purpose goes; a second run deletes nothing."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import ColumnElement, Engine, Table, func, insert, select

from tests.helpers import pay, top_up
from tests.privacy.conftest import Person
from tests.web.conftest import browser_for, sign_in
from tidings.app.context import AppContext
from tidings.app.jobs import JOB_INTERVALS, JOBS
from tidings.idempotency.models import idempotency_keys
from tidings.kit.db import read_transaction, write_transaction
from tidings.notify.models import deliveries, inbox_items
from tidings.risk.models import risk_model_observations, security_logins
from tidings.users.models import user_tokens
from tidings.web.models import web_links, web_sessions


def counts(engine: Engine) -> dict[str, int]:
    with read_transaction(engine) as conn:

        def count(table: Table, *where: ColumnElement[bool]) -> int:
            stmt = select(func.count()).select_from(table).where(*where)
            return int(conn.execute(stmt).scalar_one())

        return {
            "inbox": count(inbox_items),
            "bodies": count(deliveries, deliveries.c.content.is_not(None)),
            "logins": count(security_logins),
            "tokens": count(user_tokens),
            "sessions": count(web_sessions),
            "links": count(web_links),
            "observations": count(risk_model_observations),
        }


def run(client: TestClient, as_of: str) -> dict[str, int]:
    response = client.post("/v1/jobs/privacy.retention/runs", json={"as_of": as_of})
    assert response.status_code == 202, response.text
    return {k: v for k, v in response.json().items() if isinstance(v, int)}


def test_the_job_is_registered_and_scheduled() -> None:
    assert "privacy.retention" in JOBS
    assert JOB_INTERVALS["privacy.retention"] == timedelta(hours=1)


def test_nothing_young_goes_then_old_messages_and_sessions_go_once(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    context.settings.allow_time_travel = True
    browser = browser_for(client)
    sign_in(client, browser, person.id)  # a page session, from a one-time link
    client.post(f"/v1/users/{person.id}/web-links")  # and a link never used
    context.settings.risk_model = True  # a payment the online model observes
    top_up(client, person.wallet_id, 100)
    pay(client, person.wallet_id, 100)
    now = context.clock.now()
    before = counts(engine)
    assert all(before.values()), before
    assert all(value == 0 for value in run(client, now.isoformat()).values())
    assert counts(engine) == before

    later = (now + timedelta(days=181)).isoformat()
    first = run(client, later)
    assert first["inbox_items"] == before["inbox"]
    assert first["message_bodies"] == before["bodies"]
    assert first["tokens"] == before["tokens"]  # 30-day tokens have expired
    assert first["logins"] == 0  # kept a year
    assert first["web_sessions"] == before["sessions"]
    assert first["sign_in_links"] == before["links"]
    assert first["risk_observations"] == before["observations"]
    after = counts(engine)
    assert after == dict.fromkeys(before, 0) | {"logins": before["logins"]}

    assert all(value == 0 for value in run(client, later).values())
    assert counts(engine) == after
    # the sent notices are still listed, with their deliveries' status
    listed = client.get(f"/v1/users/{person.id}/notifications").json()["items"]
    assert listed
    browser.close()


def test_idempotent_answers_older_than_a_day_go_and_younger_ones_of_the_same_caller_stay(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    """The stored answers may name a person (a ticket's text, a memo): kept a day, the
    composite key (principal, key) matched whole, so the operator's young keys stay."""
    ticket = {"user_id": person.id, "channel": "app", "body": "卡被吞了"}
    for key in ("young-1", "young-2"):
        keyed = client.post("/v1/tickets", json=ticket, headers={"Idempotency-Key": key})
        assert keyed.status_code == 201, keyed.text
    now = context.clock.now()
    with write_transaction(engine) as conn:
        conn.execute(
            insert(idempotency_keys).values(
                principal="operator",
                key="old-1",
                request_hash="0" * 64,
                response_status=201,
                response_body={"body": "两天前的工单"},
                created_at=now - timedelta(days=1, minutes=1),
            )
        )
    assert run(client, now.isoformat())["idempotent_answers"] == 1
    assert run(client, now.isoformat())["idempotent_answers"] == 0
    with read_transaction(engine) as conn:
        kept = set(conn.execute(select(idempotency_keys.c.key)).scalars())
    assert kept == {"young-1", "young-2"}
    replayed = client.post("/v1/tickets", json=ticket, headers={"Idempotency-Key": "young-1"})
    assert replayed.headers.get("idempotent-replayed") == "true"


def test_a_user_token_may_not_run_the_job_and_a_bad_moment_is_422(
    client: TestClient, engine: Engine, person: Person
) -> None:
    before = counts(engine)
    response = client.post("/v1/jobs/privacy.retention/runs", headers=person.headers)
    assert response.status_code == 403
    bad = client.post("/v1/jobs/privacy.retention/runs", json={"as_of": "next tuesday"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["as_of"]
    assert counts(engine) == before
