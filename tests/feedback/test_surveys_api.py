"""Surveys on both databases: triggered from the outbox by any event type, sticky sampling,
the recontact wait across surveys, one answer per invitation, results; never after an
auto-closed ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from tests.feedback.support import NPS_SURVEY, as_user, create_survey, open_ticket, resolve, run_job
from tests.helpers import create_user, deliver_everything
from tidings.app.context import AppContext
from tidings.events import record_events
from tidings.feedback.models import survey_invitations
from tidings.feedback.sampling import in_sample
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.users.models import users


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    clock = FixedClock(datetime(2026, 12, 7, 2, tzinfo=UTC))
    context.clock = clock
    context.settings.allow_time_travel = True
    return clock


def invitations(client: TestClient, user: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/users/{user['id']}/surveys", headers=headers or None)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def resolved_ticket(client: TestClient, user: dict[str, Any]) -> dict[str, Any]:
    ticket = open_ticket(client, user)
    client.post(f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": "已处理"})
    resolve(client, ticket)
    return ticket


def test_resolving_a_ticket_invites_the_user_with_a_link_and_the_answer_shows_in_results(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    survey = create_survey(client)
    user = create_user(client)
    resolved_ticket(client, user)
    assert run_job(client, "followup.invitations")["invited"] == 1
    assert run_job(client, "followup.invitations")["invited"] == 0
    mine = as_user(client, user)
    [invitation] = invitations(client, user, **mine)
    assert invitation["survey_id"] == survey["id"]
    deliver_everything(context)
    inbox = client.get(f"/v1/users/{user['id']}/inbox", headers=mine).json()["items"]
    kinds = [i["kind"] for i in inbox]
    assert "followup.survey.invitation" in kinds
    body = inbox[kinds.index("followup.survey.invitation")]["body"]
    assert f"/app/surveys/{survey['id']}" in body
    answer = {
        "invitation_id": invitation["invitation_id"],
        "answers": {"nps": 9, "csat": 4, "fast": 0, "say": "客服回复很快，谢谢"},
    }
    first = client.post(f"/v1/surveys/{survey['id']}/responses", json=answer, headers=mine)
    assert first.status_code == 201, first.text
    again = client.post(f"/v1/surveys/{survey['id']}/responses", json=answer, headers=mine)
    assert again.status_code == 409
    assert invitations(client, user, **mine) == []
    results = client.get(f"/v1/surveys/{survey['id']}/results").json()
    assert (results["invited"], results["responded"], results["response_rate"]) == (1, 1, 1.0)
    assert results["nps"] == {"score": 100, "promoters": 1, "passives": 0, "detractors": 0}
    assert results["csat"] == {"average": 4.0, "count": 1}
    assert results["choices"] == {"fast": {"快": 1, "一般": 0, "慢": 0}}


def test_an_auto_closed_ticket_is_never_surveyed(client: TestClient, clock: FixedClock) -> None:
    create_survey(client)
    user = create_user(client)
    ticket = open_ticket(client, user)
    client.post(f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": "请确认"})
    quiet = (clock.at + timedelta(days=8)).isoformat()
    assert run_job(client, "tickets.sla", quiet)["auto_closed"] == 1
    assert client.get(f"/v1/tickets/{ticket['id']}").json()["status"] == "closed"
    assert run_job(client, "followup.invitations", quiet)["invited"] == 0
    assert invitations(client, user) == []


def test_nobody_is_invited_again_within_the_recontact_wait_by_any_survey(
    client: TestClient, clock: FixedClock
) -> None:
    service = create_survey(client, recontact_days=30)
    loan = create_survey(
        client, name="借款回访", trigger={"event_type": "credit.loan.disbursed"}, recontact_days=30
    )
    user = create_user(client)
    resolved_ticket(client, user)
    client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": "core-1",
            "source": "core",
            "type": "credit.loan.disbursed",
            "subject": user["id"],
            "data": {"amount": {"value": 100000, "currency": "CNY"}},
        },
    )
    assert run_job(client, "followup.invitations")["invited"] == 1
    [first] = invitations(client, user)
    assert first["survey_id"] == service["id"]  # the loan survey waits: asked once is enough
    clock.at += timedelta(days=29)
    resolved_ticket(client, user)
    assert run_job(client, "followup.invitations")["invited"] == 0
    clock.at += timedelta(days=2)
    resolved_ticket(client, user)
    assert run_job(client, "followup.invitations")["invited"] == 1
    [second] = invitations(client, user)
    assert second["invitation_id"] != first["invitation_id"]
    invited = [
        client.get(f"/v1/surveys/{s['id']}/results").json()["invited"] for s in (service, loan)
    ]
    assert invited == [2, 0]


def test_sampling_is_sticky_per_user_and_survey(client: TestClient, clock: FixedClock) -> None:
    survey = create_survey(client, sample_percent=50, recontact_days=0)
    users = [create_user(client) for _ in range(12)]
    for user in users:
        resolved_ticket(client, user)
    run_job(client, "followup.invitations")
    invited = {u["id"] for u in users if invitations(client, u)}
    expected = {u["id"] for u in users if in_sample(u["id"], survey["id"], 5000)}
    assert invited == expected
    for user in users:
        resolved_ticket(client, user)
    run_job(client, "followup.invitations")
    assert {u["id"] for u in users if invitations(client, u)} == expected


def _many_users(context: AppContext, count: int, at: datetime) -> list[str]:
    """`count` users inserted in one statement, as the campaign bench seeds them (10,000
    sign-ups over HTTP would take minutes); the invitation job only needs them to exist."""
    ids = [new_id("usr") for _ in range(count)]
    rows = [
        {
            "id": user_id,
            "main_wallet_id": f"wal{user_id[3:]}",
            "external_id_enc": "bulk",
            "external_id_hash": user_id,
            "name_enc": "bulk",
            "locale": "zh-CN",
            "timezone": "Asia/Shanghai",
            "currency": "CNY",
            "low_balance_threshold": 0,
            "created_at": at,
            "updated_at": at,
        }
        for user_id in ids
    ]
    with write_transaction(context.engine) as conn:
        conn.execute(insert(users), rows)
    return ids


def _disbursed(context: AppContext, user_ids: list[str], at: datetime) -> None:
    """A posted event per user (any event type triggers)."""
    with write_transaction(context.engine) as conn:
        record_events(
            conn, type="credit.drawdown.disbursed", at=at, events=[(u, {}) for u in user_ids]
        )


def _invited_users(context: AppContext, survey_id: str) -> list[str]:
    with read_transaction(context.engine) as conn:
        stmt = select(survey_invitations.c.user_id).where(
            survey_invitations.c.survey_id == survey_id
        )
        return list(conn.execute(stmt).scalars())


def test_sampling_over_10000_users_is_close_to_the_percentage_and_sticky(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    survey = create_survey(
        client,
        trigger={"event_type": "credit.drawdown.disbursed"},
        sample_percent=20,
        recontact_days=0,
    )
    people = _many_users(context, 10_000, clock.now())
    _disbursed(context, people, clock.now())
    while run_job(client, "followup.invitations")["invited"]:
        pass  # the job reads 5,000 events a run
    first = _invited_users(context, survey["id"])
    expected = {u for u in people if in_sample(u, survey["id"], 2000)}
    assert sorted(first) == sorted(expected)
    assert abs(len(first) - 2000) < 300  # within 3 points of 20% of 10,000
    clock.at += timedelta(days=1)
    _disbursed(context, people[:3000], clock.now())
    assert run_job(client, "followup.invitations")["invited"] == len(expected & set(people[:3000]))
    again = _invited_users(context, survey["id"])
    assert sorted(again) == sorted(first + [u for u in people[:3000] if u in expected])


def test_an_invitation_expires(client: TestClient, clock: FixedClock) -> None:
    survey = create_survey(client, expires_days=3)
    user = create_user(client)
    resolved_ticket(client, user)
    run_job(client, "followup.invitations")
    [invitation] = invitations(client, user)
    clock.at += timedelta(days=4)
    assert invitations(client, user) == []
    late = client.post(
        f"/v1/surveys/{survey['id']}/responses",
        json={"invitation_id": invitation["invitation_id"], "answers": {"nps": 5}},
    )
    assert late.status_code == 409


def test_another_user_cannot_see_or_answer_an_invitation(
    client: TestClient, clock: FixedClock
) -> None:
    survey = create_survey(client)
    owner, stranger = create_user(client), create_user(client)
    resolved_ticket(client, owner)
    run_job(client, "followup.invitations")
    [invitation] = invitations(client, owner)
    theirs = as_user(client, stranger)
    assert client.get(f"/v1/users/{owner['id']}/surveys", headers=theirs).status_code == 404
    answer = {"invitation_id": invitation["invitation_id"], "answers": {"nps": 0}}
    stolen = client.post(f"/v1/surveys/{survey['id']}/responses", json=answer, headers=theirs)
    assert stolen.status_code == 404
    assert client.get(f"/v1/surveys/{survey['id']}/results", headers=theirs).status_code == 403
    assert client.get(f"/v1/surveys/{survey['id']}/results").json()["responded"] == 0


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"nps": 11}, "answers.nps"),
        ({"csat": 0}, "answers.csat"),
        ({"fast": 3}, "answers.fast"),
        ({"nope": 1}, "answers.nope"),
    ],
)
def test_a_bad_answer_is_422_naming_the_question(
    client: TestClient, clock: FixedClock, answers: dict[str, Any], field: str
) -> None:
    survey = create_survey(client)
    user = create_user(client)
    resolved_ticket(client, user)
    run_job(client, "followup.invitations")
    [invitation] = invitations(client, user)
    response = client.post(
        f"/v1/surveys/{survey['id']}/responses",
        json={"invitation_id": invitation["invitation_id"], "answers": answers},
    )
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert len(invitations(client, user)) == 1


def test_a_bad_survey_is_422_naming_the_field(client: TestClient) -> None:
    bad = client.post(
        "/v1/surveys",
        json={"name": "x", "trigger": {"event_type": "x"}, "sample_percent": 101, "questions": []},
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"sample_percent", "questions"} <= {f.split(".")[-1] for f in fields} | fields


@pytest.mark.parametrize(
    ("questions", "field"),
    [
        ([NPS_SURVEY["questions"][0], NPS_SURVEY["questions"][0]], "questions"),
        (
            [{**NPS_SURVEY["questions"][0], "choices": [{"zh-CN": "是"}, {"zh-CN": "否"}]}],
            "questions.0",
        ),
        ([{**NPS_SURVEY["questions"][2], "choices": None}], "questions.0"),
    ],
    ids=["one id twice", "choices on an nps question", "a choice question without choices"],
)
def test_a_survey_whose_questions_contradict_is_422(
    client: TestClient, questions: list[dict[str, Any]], field: str
) -> None:
    response = client.post("/v1/surveys", json={**NPS_SURVEY, "questions": questions})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert client.get("/v1/surveys").json() == []


def test_only_operators_create_list_and_read_surveys(client: TestClient) -> None:
    user = create_user(client)
    mine = as_user(client, user)
    assert client.post("/v1/surveys", json=NPS_SURVEY, headers=mine).status_code == 403
    assert client.get("/v1/surveys", headers=mine).status_code == 403
    assert client.get("/v1/surveys").json() == []
    unknown = client.get("/v1/surveys/svy_01JDQZM0000000000000000007/results")
    assert unknown.status_code == 404


def test_one_idempotency_key_creates_one_survey_and_another_body_is_409(
    client: TestClient,
) -> None:
    key = {"Idempotency-Key": "survey-1"}
    first = client.post("/v1/surveys", json=NPS_SURVEY, headers=key)
    again = client.post("/v1/surveys", json=NPS_SURVEY, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/surveys", json={**NPS_SURVEY, "name": "另一份"}, headers=key)
    assert other.status_code == 409
    assert [s["id"] for s in client.get("/v1/surveys").json()] == [first.json()["id"]]


def test_one_idempotency_key_answers_once(client: TestClient, clock: FixedClock) -> None:
    survey = create_survey(client)
    user = create_user(client)
    resolved_ticket(client, user)
    run_job(client, "followup.invitations")
    [invitation] = invitations(client, user)
    body = {"invitation_id": invitation["invitation_id"], "answers": {"nps": 7}}
    key = {"Idempotency-Key": "answer-1"}
    first = client.post(f"/v1/surveys/{survey['id']}/responses", json=body, headers=key)
    replay = client.post(f"/v1/surveys/{survey['id']}/responses", json=body, headers=key)
    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json()
    other = {**body, "answers": {"nps": 1}}
    assert (
        client.post(f"/v1/surveys/{survey['id']}/responses", json=other, headers=key).status_code
        == 409
    )
