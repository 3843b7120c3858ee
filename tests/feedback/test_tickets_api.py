"""Tickets over HTTP on both databases: SLA deadlines on the business calendar, the first
answer, the clock stopping, breaches alerted once, inbound SMS and email, and privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.feedback.support import as_user, assert_refused, open_ticket, replayed, run_job
from tests.helpers import create_user, deliver_everything
from tests.notify.test_pipeline import sink_lines
from tests.notify_channels.stubs import Reply, StubServer
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.feedback import events
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.notify.channels.webhook import generate_secret

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    clock = FixedClock(local(2026, 12, 4, 17, 30).astimezone(UTC))  # a Friday
    context.clock = clock
    context.settings.allow_time_travel = True
    return clock


def due(ticket: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(ticket["sla"][key]).astimezone(SHANGHAI)


def count_events(context: AppContext, event_type: str) -> int:
    with read_transaction(context.engine) as conn:
        stmt = select(func.count()).where(outbox.c.type == event_type)
        return int(conn.execute(stmt).scalar_one())


def test_a_friday_1730_question_is_due_on_monday(client: TestClient, clock: FixedClock) -> None:
    user = create_user(client)
    ticket = open_ticket(client, user, body="请问借款利率是多少")
    assert (ticket["status"], ticket["priority"]) == ("open", "normal")
    assert due(ticket, "first_response_due") == local(2026, 12, 7, 12, 30)
    assert due(ticket, "resolution_due") == local(2026, 12, 9, 17, 30)  # 27 business hours
    assert ticket["sla"]["breached"] is False


def test_a_security_complaint_is_urgent_and_counts_around_the_clock(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    ticket = open_ticket(client, user, body="有一笔交易不是我本人操作，钱被盗刷了")
    assert (ticket["category"], ticket["priority"]) == ("security", "urgent")
    assert due(ticket, "first_response_due") == local(2026, 12, 4, 18, 30)


def test_across_the_spring_festival_and_its_make_up_saturday(
    client: TestClient, clock: FixedClock
) -> None:
    clock.at = local(2026, 2, 13, 17, 0).astimezone(UTC)
    user = create_user(client)
    ticket = open_ticket(client, user, body="请问借款利率是多少")
    # One hour on Friday, the make-up Saturday 14 Feb, then the holiday until 23 Feb.
    assert due(ticket, "first_response_due") == local(2026, 2, 14, 12, 0)
    assert due(ticket, "resolution_due") == local(2026, 2, 25, 17, 0)


def test_the_first_agent_answer_reaches_the_users_inbox_and_stops_the_first_clock(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    mine = as_user(client, user)
    ticket = client.post(
        "/v1/tickets",
        json={"user_id": user["id"], "channel": "web", "body": "转账没到账"},
        headers=mine,
    ).json()
    clock.at += timedelta(minutes=10)
    answered = client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author": "agent", "body": "已为您核实，款项将在今天18点前到账。"},
    )
    assert answered.status_code == 201, answered.text
    client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": "补充说明"}
    )
    deliver_everything(context)
    inbox = client.get(f"/v1/users/{user['id']}/inbox", headers=mine).json()["items"]
    assert [i["kind"] for i in inbox] == [events.TICKET_ANSWERED]
    assert "款项将在今天18点前到账" in inbox[0]["body"]
    seen = client.get(f"/v1/tickets/{ticket['id']}", headers=mine).json()
    assert seen["status"] == "pending"
    assert seen["sla"]["first_response_at"] is not None
    assert [m["author"] for m in seen["messages"]] == ["agent", "agent"]


def test_a_resolved_tickets_clock_stops_and_it_is_never_marked_late(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    context.settings.sla_alert_webhook_url = "http://127.0.0.1:9/hook"
    user = create_user(client)
    ticket = open_ticket(client, user, body="请问借款利率是多少")
    waiting = open_ticket(client, user, body="请问借款利率是多少")  # the same clock, running
    client.post(f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": "答复"})
    client.post(f"/v1/tickets/{ticket['id']}/status", json={"status": "resolved"})
    later = (clock.at + timedelta(days=30)).isoformat()
    assert run_job(client, "tickets.sla", later)["breaches"] == 2  # both of `waiting`'s
    seen = client.get(f"/v1/tickets/{ticket['id']}").json()
    assert seen["sla"]["resolved_at"] is not None
    assert seen["sla"]["breached"] is False
    assert client.get(f"/v1/tickets/{waiting['id']}").json()["sla"]["breached"] is True


def test_a_breach_is_marked_and_alerted_once(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    context.settings.sla_alert_email = "ops@example.com"
    user = create_user(client)
    ticket = open_ticket(client, user, body="请问借款利率是多少")
    before = (due(ticket, "first_response_due") - timedelta(minutes=1)).isoformat()
    assert run_job(client, "tickets.sla", before)["breaches"] == 0
    after = (due(ticket, "first_response_due") + timedelta(minutes=1)).isoformat()
    first = run_job(client, "tickets.sla", after)
    assert (first["breaches"], first["alerts"]) == (1, 1)
    again = run_job(client, "tickets.sla", after)
    assert (again["breaches"], again["alerts"]) == (0, 0)
    assert count_events(context, events.SLA_BREACHED) == 1
    alerts = [m for m in sink_lines(context) if m["kind"] == events.SLA_BREACHED]
    assert [(a["channel"], a["to"]) for a in alerts] == [("email", "o***@example.com")]
    assert ticket["id"] in alerts[0]["body"]
    queue = client.get("/v1/tickets", params={"breached": "true"}).json()["items"]
    assert [t["id"] for t in queue] == [ticket["id"]]


def test_a_breach_reaches_the_operators_webhook_and_email_once(
    client: TestClient, context: AppContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_WEBHOOK_SECRET", generate_secret())
    user = create_user(client)
    ticket = open_ticket(client, user, body="有一笔交易不是我本人操作")
    late = (due(ticket, "first_response_due") + timedelta(minutes=1)).isoformat()
    with StubServer(lambda _: Reply(204)) as receiver:
        context.settings.sla_alert_webhook_url = f"{receiver.url}/sla"
        context.settings.sla_alert_email = "ops@example.com"
        first = run_job(client, "tickets.sla", late)
        again = run_job(client, "tickets.sla", late)
    assert (first["breaches"], first["alerts"]) == (1, 2)
    assert (again["breaches"], again["alerts"]) == (0, 0)
    [hook] = receiver.requests
    assert (hook.path, hook.json()) == (
        "/sla",
        {"ticket_id": ticket["id"], "target": "first_response"},
    )
    assert "webhook-signature" in hook.headers
    mails = [m for m in sink_lines(context) if m["kind"] == events.SLA_BREACHED]
    assert [m["channel"] for m in mails] == ["email"]


def test_the_queue_shows_the_nearest_deadline_first(client: TestClient, clock: FixedClock) -> None:
    user = create_user(client)
    question = open_ticket(client, user, body="请问借款利率是多少")
    urgent = open_ticket(client, user, body="我的账户被盗了")
    complaint = open_ticket(client, user, body="转账没到账")
    queue = client.get("/v1/tickets").json()["items"]
    assert [t["id"] for t in queue] == [urgent["id"], complaint["id"], question["id"]]


def test_the_queue_pages_through_every_ticket_once_in_deadline_order(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    bodies = ["请问借款利率是多少", "我的账户被盗了", "转账没到账", "怎么改手机号", "账户被盗刷"]
    for body in bodies:  # same moment: deadlines tie, and the id breaks the tie
        open_ticket(client, user, body=body)
    whole = [t["id"] for t in client.get("/v1/tickets").json()["items"]]
    paged: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = client.get("/v1/tickets", params=params).json()
        paged += [t["id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(whole) == len(bodies)
    assert paged == whole
    refused = client.get("/v1/tickets", params={"cursor": "not-a-cursor"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "cursor"


def test_inbound_sms_opens_a_ticket_while_t_unsubscribes(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, phone="13900001111")
    context.settings.callback_token = SecretStr("cb-secret")
    replies = [
        {"phone_number": "13900001111", "content": "转账没到账", "sequence_id": 1},
        {"phone_number": "13900001111", "content": "T", "sequence_id": 2},
    ]
    assert (
        client.post("/v1/providers/aliyun/sms-up?token=cb-secret", json=replies).status_code == 200
    )
    assert run_job(client, "followup.inbound")["tickets"] == 1
    assert run_job(client, "followup.inbound")["tickets"] == 0
    [ticket] = client.get(f"/v1/users/{user['id']}/tickets").json()["items"]
    assert (ticket["channel"], ticket["body"], ticket["priority"]) == ("sms", "转账没到账", "high")
    consents = client.get(f"/v1/users/{user['id']}/consents").json()["items"]
    assert [(c["channel"], c["granted"], c["method"]) for c in consents][-1] == (
        "sms",
        False,
        "sms_reply",
    )
    assert count_events(context, events.INBOUND_MESSAGE) == 1


def test_inbound_email_opens_a_ticket_for_the_sender(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, email="li.lei@example.com")
    context.settings.callback_token = SecretStr("cb-secret")
    mail = {"from": "Li Lei <li.lei@example.com>", "subject": "退款", "text": "退款还没收到"}
    assert client.post("/v1/providers/inbound-email", json=mail).status_code == 401
    answer = client.post("/v1/providers/inbound-email?token=cb-secret", json=mail)
    assert answer.status_code == 200, answer.text
    [ticket] = client.get(f"/v1/users/{user['id']}/tickets").json()["items"]
    assert (ticket["channel"], ticket["subject"]) == ("email", "退款")


def test_a_user_cannot_read_or_write_another_users_ticket(
    client: TestClient, clock: FixedClock
) -> None:
    owner, stranger = create_user(client), create_user(client)
    ticket = open_ticket(client, owner)
    theirs = as_user(client, stranger)
    assert client.get(f"/v1/tickets/{ticket['id']}", headers=theirs).status_code == 404
    assert client.get(f"/v1/users/{owner['id']}/tickets", headers=theirs).status_code == 404
    wrote = client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author": "user", "body": "hi"},
        headers=theirs,
    )
    assert wrote.status_code == 404
    opened = client.post(
        "/v1/tickets", json={"user_id": owner["id"], "channel": "app", "body": "x"}, headers=theirs
    )
    assert opened.status_code == 404
    assert client.get("/v1/tickets", headers=theirs).status_code == 403
    assert (
        client.post(
            f"/v1/tickets/{ticket['id']}/status", json={"status": "resolved"}, headers=theirs
        ).status_code
        == 403
    )
    assert client.get(f"/v1/tickets/{ticket['id']}/suggestions", headers=theirs).status_code == 403
    seen = client.get(f"/v1/tickets/{ticket['id']}").json()
    assert (seen["messages"], seen["status"]) == ([], "open")


def test_a_user_writing_as_agent_is_recorded_as_the_user(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    ticket = open_ticket(client, user)
    mine = as_user(client, user)
    client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author": "agent", "body": "我自己答"},
        headers=mine,
    )
    seen = client.get(f"/v1/tickets/{ticket['id']}").json()
    assert [m["author"] for m in seen["messages"]] == ["user"]
    assert seen["sla"]["first_response_at"] is None
    assert count_events(context, events.TICKET_ANSWERED) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "app", "body": "x"}, "user_id"),
        ({"user_id": "usr_01JDQZM0000000000000000001", "channel": "fax", "body": "x"}, "channel"),
        ({"user_id": "usr_01JDQZM0000000000000000001", "channel": "app", "body": ""}, "body"),
        ({"user_id": "usr_01JDQZM0000000000000000001", "channel": "app", "body": "a\x00"}, "body"),
        (
            {
                "user_id": "usr_01JDQZM0000000000000000001",
                "channel": "app",
                "body": "x",
                "category": "?",
            },
            "category",
        ),
    ],
)
def test_bad_ticket_input_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/tickets", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "lost"}, "status"), ({"breached": "maybe"}, "breached")]
)
def test_a_bad_queue_filter_is_422_naming_it(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    response = client.get("/v1/tickets", params=query)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_an_idempotency_key_opens_one_ticket_and_another_body_is_409(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    body = {"user_id": user["id"], "channel": "phone", "body": "来电：提现失败"}
    key = {"Idempotency-Key": "call-1"}
    first = client.post("/v1/tickets", json=body, headers=key)
    again = client.post("/v1/tickets", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/tickets", json={**body, "body": "另一件事"}, headers=key)
    assert other.status_code == 409
    assert len(client.get(f"/v1/users/{user['id']}/tickets").json()["items"]) == 1


def test_sla_policies_are_data_an_operator_edits(client: TestClient, clock: FixedClock) -> None:
    policies = {p["priority"]: p for p in client.get("/v1/sla-policies").json()}
    assert policies["urgent"]["around_the_clock"] is True
    assert policies["normal"]["first_response_minutes"] == 240
    changed = client.put(
        "/v1/sla-policies/normal",
        json={"first_response_minutes": 30, "resolution_minutes": 540},
    )
    assert changed.status_code == 200, changed.text
    ticket = open_ticket(client, create_user(client), body="请问借款利率是多少")
    assert due(ticket, "first_response_due") == local(2026, 12, 4, 18, 0)
    bad = client.put(
        "/v1/sla-policies/normal", json={"first_response_minutes": 0, "resolution_minutes": 1}
    )
    assert bad.status_code == 422


def test_inbound_text_that_cannot_be_stored_or_shown_is_cleaned_not_refused(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, phone="13900002222", email="han.mei@example.com")
    context.settings.callback_token = SecretStr("cb-secret")
    reply = [{"phone_number": "13900002222", "content": "转账没到账\u202e\x07", "sequence_id": 7}]
    assert client.post("/v1/providers/aliyun/sms-up?token=cb-secret", json=reply).status_code == 200
    assert run_job(client, "followup.inbound")["tickets"] == 1
    mail = {
        "from": "han.mei@example.com",
        "subject": "退\x07款\u200b",
        "text": "退款还没\u202e收到",
    }
    answer = client.post("/v1/providers/inbound-email?token=cb-secret", json=mail)
    assert answer.status_code == 200, answer.text
    found = client.get(f"/v1/users/{user['id']}/tickets").json()["items"]
    assert sorted((t["channel"], t["subject"], t["body"]) for t in found) == [
        ("email", "退款", "退款还没收到"),
        ("sms", None, "转账没到账"),
    ]


def test_an_idempotency_key_answers_once_and_another_body_is_409(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    ticket = open_ticket(client, create_user(client))
    body = {"author": "agent", "body": "已为您核实"}
    other = {**body, "body": "另一条"}
    replayed(client, f"/v1/tickets/{ticket['id']}/messages", body, other, status=201)
    assert len(client.get(f"/v1/tickets/{ticket['id']}").json()["messages"]) == 1
    assert count_events(context, events.TICKET_ANSWERED) == 1


def test_an_idempotency_key_changes_a_status_once_and_another_body_is_409(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    ticket = open_ticket(client, create_user(client))
    path = f"/v1/tickets/{ticket['id']}/status"
    replayed(client, path, {"status": "resolved"}, {"status": "closed"}, status=200)
    assert client.get(f"/v1/tickets/{ticket['id']}").json()["status"] == "resolved"
    assert count_events(context, events.TICKET_RESOLVED) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"author": "bot", "body": "x"}, "author"),
        ({"author": "agent", "body": " "}, "body"),
        ({"author": "agent", "body": "已处理\u202e"}, "body"),
        ({"author": "agent", "body": "x" * 5001}, "body"),
        ({"author": "agent"}, "body"),
    ],
)
def test_a_bad_message_is_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, context: AppContext, clock: FixedClock, body: dict[str, Any], field: str
) -> None:
    ticket = open_ticket(client, create_user(client))
    assert_refused(client.post(f"/v1/tickets/{ticket['id']}/messages", json=body), field)
    seen = client.get(f"/v1/tickets/{ticket['id']}").json()
    assert (seen["messages"], seen["status"], seen["sla"]["first_response_at"]) == (
        [],
        "open",
        None,
    )
    assert count_events(context, events.TICKET_ANSWERED) == 0


@pytest.mark.parametrize("status", ["open", "lost", None])
def test_a_status_an_operator_cannot_set_is_422_naming_it_and_nothing_changes(
    client: TestClient, context: AppContext, clock: FixedClock, status: str | None
) -> None:
    ticket = open_ticket(client, create_user(client))
    client.post(f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": "答复"})
    response = client.post(f"/v1/tickets/{ticket['id']}/status", json={"status": status})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["status"]
    assert client.get(f"/v1/tickets/{ticket['id']}").json()["status"] == "pending"


def test_an_unknown_ticket_is_404_everywhere(client: TestClient, clock: FixedClock) -> None:
    missing = "tkt_01JDQZM0000000000000000009"
    assert client.get(f"/v1/tickets/{missing}").status_code == 404
    assert client.get(f"/v1/tickets/{missing}/suggestions").status_code == 404
    wrote = client.post(f"/v1/tickets/{missing}/messages", json={"author": "agent", "body": "x"})
    assert wrote.status_code == 404
    moved = client.post(f"/v1/tickets/{missing}/status", json={"status": "resolved"})
    assert moved.status_code == 404
    assert client.get("/v1/tickets/not-an-id").status_code == 404


def test_users_cannot_read_or_change_sla_policies_or_the_analysis(
    client: TestClient, clock: FixedClock
) -> None:
    theirs = as_user(client, create_user(client))
    before = client.get("/v1/sla-policies").json()
    assert client.get("/v1/sla-policies", headers=theirs).status_code == 403
    changed = client.put(
        "/v1/sla-policies/normal",
        json={"first_response_minutes": 1, "resolution_minutes": 2},
        headers=theirs,
    )
    assert changed.status_code == 403
    assert client.get("/v1/sla-policies").json() == before
    window = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00Z"}
    assert client.get("/v1/feedback/analysis", params=window, headers=theirs).status_code == 403


@pytest.mark.parametrize(
    ("priority", "body", "field"),
    [
        (
            "normal",
            {"first_response_minutes": 0, "resolution_minutes": 1},
            "first_response_minutes",
        ),
        ("normal", {"first_response_minutes": 30}, "resolution_minutes"),
        ("normal", {"first_response_minutes": 30, "resolution_minutes": 60, "x": 1}, "x"),
        ("vip", {"first_response_minutes": 30, "resolution_minutes": 60}, "priority"),
    ],
)
def test_a_bad_sla_policy_is_422_naming_the_field_and_nothing_changes(
    client: TestClient, clock: FixedClock, priority: str, body: dict[str, Any], field: str
) -> None:
    before = client.get("/v1/sla-policies").json()
    assert_refused(client.put(f"/v1/sla-policies/{priority}", json=body), field)
    assert client.get("/v1/sla-policies").json() == before
