"""Providers' callbacks (Aliyun SMS reports and replies, inbound email) on both databases:
only the callback token opens them, a user's token does not; bad input names the field; a
push retried under its Idempotency-Key is answered again and changes nothing again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.feedback.support import as_user
from tests.helpers import create_user
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.feedback import events
from tidings.kit.db import read_transaction

TOKEN = "cb-secret"
MAIL = {"from": "Li Lei <li.lei@example.com>", "subject": "退款", "text": "退款还没收到"}
REPLY = [{"phone_number": "13900001111", "content": "转账没到账", "sequence_id": 7}]
REPORT = [{"phone_number": "13900001111", "out_id": "dlv_unknown", "success": True}]


@pytest.fixture
def user(client: TestClient, context: AppContext) -> dict[str, Any]:
    context.settings.callback_token = SecretStr(TOKEN)
    return create_user(client, phone="13900001111", email="li.lei@example.com")


def tickets_of(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/users/{user['id']}/tickets").json()["items"])


def inbound_messages(context: AppContext) -> int:
    with read_transaction(context.engine) as conn:
        stmt = select(func.count()).where(outbox.c.type == events.INBOUND_MESSAGE)
        return int(conn.execute(stmt).scalar_one())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/providers/inbound-email", MAIL),
        ("/v1/providers/aliyun/sms-up", REPLY),
        ("/v1/providers/aliyun/sms-report", REPORT),
    ],
)
def test_a_users_token_does_not_open_a_callback(
    client: TestClient, context: AppContext, user: dict[str, Any], path: str, body: Any
) -> None:
    theirs = as_user(client, user)
    refused = client.post(path, json=body, headers=theirs)
    wrong = client.post(f"{path}?token=not-it", json=body, headers=theirs)
    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert tickets_of(client, user) == []
    assert inbound_messages(context) == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/providers/inbound-email", {"from": "li.lei@example.com"}, "text"),
        ("/v1/providers/aliyun/sms-up", [{"content": "hi"}], "phone_number"),
        ("/v1/providers/aliyun/sms-report", {"out_id": "dlv_1"}, "body"),
    ],
)
def test_bad_input_to_a_callback_names_the_field(
    client: TestClient, context: AppContext, user: dict[str, Any], path: str, body: Any, field: str
) -> None:
    answer = client.post(f"{path}?token={TOKEN}", json=body)
    assert answer.status_code == 422, answer.text
    assert any(field in error["field"] for error in answer.json()["errors"]), answer.json()
    assert inbound_messages(context) == 0


def test_an_inbound_email_retried_under_its_key_opens_one_ticket(
    client: TestClient, user: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "mail-0001"}
    first = client.post(f"/v1/providers/inbound-email?token={TOKEN}", json=MAIL, headers=key)
    again = client.post(f"/v1/providers/inbound-email?token={TOKEN}", json=MAIL, headers=key)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json()
    assert len(tickets_of(client, user)) == 1

    other = client.post(
        f"/v1/providers/inbound-email?token={TOKEN}", json={**MAIL, "text": "另一封"}, headers=key
    )
    assert other.status_code == 409, other.text
    assert len(tickets_of(client, user)) == 1


def test_an_sms_reply_retried_under_its_key_is_recorded_once(
    client: TestClient, context: AppContext, user: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "smsup-7"}
    for _ in range(2):
        answer = client.post(f"/v1/providers/aliyun/sms-up?token={TOKEN}", json=REPLY, headers=key)
        assert answer.status_code == 200, answer.text
    assert inbound_messages(context) == 1


def test_a_delivery_report_retried_under_its_key_is_answered_as_the_first_time(
    client: TestClient, user: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "report-1"}
    path = f"/v1/providers/aliyun/sms-report?token={TOKEN}"
    first = client.post(path, json=REPORT, headers=key)
    again = client.post(path, json=REPORT, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() == {"code": 0, "msg": "成功"}
    changed = client.post(path, json=[{**REPORT[0], "success": False}], headers=key)
    assert changed.status_code == 409


def test_an_sms_reply_pushed_again_without_a_key_is_recorded_once_by_its_sequence_id(
    client: TestClient, context: AppContext, user: dict[str, Any]
) -> None:
    path = f"/v1/providers/aliyun/sms-up?token={TOKEN}"
    first = client.post(path, json=REPLY)
    again = client.post(path, json=REPLY)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert inbound_messages(context) == 1

    later = [{**REPLY[0], "sequence_id": 8}]
    reused = [{**REPLY[0], "content": "还是没到账"}]
    assert client.post(path, json=later).status_code == 200
    assert client.post(path, json=reused).status_code == 200
    assert inbound_messages(context) == 3


@pytest.mark.parametrize(
    "identified",
    [
        {"Message-Id": "<20261207.1@mail.example.com>"},
        {"message_id": "<20261207.1@mail.example.com>"},
        {"headers": "Subject: 退款\r\nMessage-ID: <20261207.1@mail.example.com>\r\n"},
    ],
    ids=["mailgun", "ours", "sendgrid-headers"],
)
def test_an_inbound_email_posted_again_without_a_key_opens_one_ticket_by_its_message_id(
    client: TestClient, user: dict[str, Any], identified: dict[str, str]
) -> None:
    path = f"/v1/providers/inbound-email?token={TOKEN}"
    first = client.post(path, json={**MAIL, **identified})
    again = client.post(path, json={**MAIL, **identified})
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json()
    assert len(tickets_of(client, user)) == 1


def test_two_emails_alike_but_for_their_message_id_open_two_tickets(
    client: TestClient, user: dict[str, Any]
) -> None:
    path = f"/v1/providers/inbound-email?token={TOKEN}"
    for message_id in ("<a@mail.example.com>", "<b@mail.example.com>"):
        answer = client.post(path, json={**MAIL, "Message-Id": message_id})
        assert answer.status_code == 200, answer.text
    assert len(tickets_of(client, user)) == 2


def post_raw(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    """Posts JSON as written by `json.dumps`, escapes and all (a lone surrogate too)."""
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("", 200),
        ("Message-ID:", 200),
        (":\r\n\r\n\t", 200),
        ("Message-ID: <" + "x" * 5000, 200),
        ("\x00\x01", 422),
        ("Message-ID: \udc80", 422),
    ],
)
def test_odd_email_headers_open_the_ticket_or_are_refused_naming_the_field(
    client: TestClient, user: dict[str, Any], headers: str, status: int
) -> None:
    path = f"/v1/providers/inbound-email?token={TOKEN}"
    answer = post_raw(client, path, {**MAIL, "headers": headers})
    assert answer.status_code == status, answer.text
    if status == 422:
        assert [error["field"] for error in answer.json()["errors"]] == ["headers"]
    assert len(tickets_of(client, user)) == (1 if status == 200 else 0)
