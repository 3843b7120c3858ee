"""The knowledge base, suggestions for agents, FAQ answers for users (deflection), feedback
analysis and "what we changed" on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.feedback.support import as_user, assert_refused, open_ticket, replayed, resolve
from tests.helpers import create_user, deliver_everything
from tests.unit.test_feedback_language import PARAPHRASES
from tidings.app.context import AppContext
from tidings.feedback.service import knowledge
from tidings.feedback.service.knowledge import starter_faq
from tidings.kit.clock import FixedClock

NOW = datetime(2026, 12, 7, 2, tzinfo=UTC)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    clock = FixedClock(NOW)
    context.clock = clock
    return clock


def load_faq(client: TestClient) -> list[dict[str, Any]]:
    made = []
    for entry in starter_faq():
        response = client.post("/v1/faq", json=entry.model_dump(by_alias=True, exclude_none=True))
        assert response.status_code == 201, response.text
        made.append(dict(response.json()))
    return made


def test_an_agent_gets_the_right_faq_answer_first_with_a_score(
    client: TestClient, clock: FixedClock
) -> None:
    faq = load_faq(client)
    ticket = open_ticket(client, create_user(client), body="我转的钱对方一直没收到，怎么回事")
    items = client.get(f"/v1/tickets/{ticket['id']}/suggestions").json()["items"]
    assert items[0]["source"] == f"faq:{faq[1]['id']}"
    assert items[0]["answer"].startswith("请先核对收款账户")
    assert items[0]["score"] > 0


def test_suggestions_rank_the_right_faq_first_for_each_paraphrase(
    client: TestClient, clock: FixedClock
) -> None:
    faq = {entry["question"]["zh-CN"]: entry["id"] for entry in load_faq(client)}
    user = create_user(client)
    for question, expected in PARAPHRASES:
        ticket = open_ticket(client, user, body=question)
        items = client.get(f"/v1/tickets/{ticket['id']}/suggestions").json()["items"]
        assert (question, items[0]["source"]) == (question, f"faq:{faq[expected]}")
        assert items[0]["score"] > 0


def qr_code_ticket(client: TestClient, user: dict[str, Any], answer: str) -> dict[str, Any]:
    """A resolved ticket asking where the QR code is, and its agent's answer."""
    ticket = open_ticket(client, user, body="二维码收款码怎么下载打印")
    client.post(f"/v1/tickets/{ticket['id']}/messages", json={"author": "agent", "body": answer})
    resolve(client, ticket)
    return ticket


def wait_for_rebuild() -> None:
    for thread in threading.enumerate():
        if thread.name == "knowledge-index":
            thread.join(timeout=60)


def test_a_past_resolved_tickets_answer_is_suggested_for_a_similar_question(
    client: TestClient, clock: FixedClock
) -> None:
    old = qr_code_ticket(client, create_user(client), "在“收款-收款码-保存图片”中下载后打印即可。")
    new = open_ticket(client, create_user(client), body="收款码在哪里下载")
    [best, *_] = client.get(f"/v1/tickets/{new['id']}/suggestions").json()["items"]
    assert best["source"] == f"ticket:{old['id']}"
    assert "收款码-保存图片" in best["answer"]


def test_a_user_typing_a_question_sees_faq_answers_and_a_deflection_is_counted(
    client: TestClient, clock: FixedClock
) -> None:
    faq = load_faq(client)
    user = create_user(client, locale="en")
    mine = as_user(client, user)
    answers = client.get(
        "/v1/faq/answers", params={"q": "how long does my refund take", "lang": "en"}, headers=mine
    ).json()["items"]
    assert answers[0]["answer"].startswith("Once the merchant refunds")
    faq_id = answers[0]["source"].removeprefix("faq:")
    assert faq_id == faq[6]["id"]
    done = client.post(f"/v1/users/{user['id']}/deflections", json={"faq_id": faq_id}, headers=mine)
    assert done.status_code == 204, done.text
    other = as_user(client, create_user(client))
    theirs = client.post(
        f"/v1/users/{user['id']}/deflections", json={"faq_id": faq_id}, headers=other
    )
    assert theirs.status_code == 404
    window = {
        "from": (NOW - timedelta(days=1)).isoformat(),
        "to": (NOW + timedelta(days=1)).isoformat(),
    }
    assert client.get("/v1/feedback/analysis", params=window).json()["deflected"] == 1


def test_only_operators_write_and_list_the_knowledge_base(client: TestClient) -> None:
    user = create_user(client)
    entry = {"question": {"zh-CN": "问"}, "answer": {"zh-CN": "答"}}
    assert client.post("/v1/faq", json=entry, headers=as_user(client, user)).status_code == 403
    assert client.get("/v1/faq").json()["items"] == []
    load_faq(client)
    assert client.get("/v1/faq", headers=as_user(client, user)).status_code == 403
    assert client.get("/v1/faq").json()["items"]
    assert (
        client.post("/v1/faq", json={"question": {"en": "q"}, "answer": {"zh-CN": "a"}}).status_code
        == 422
    )


def test_analysis_counts_channels_categories_sentiment_and_topics(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    for body in (
        "转账三天了还没到账，太慢了",
        "转账一直没到账，客服也不回复",
        "转账到账很快，非常方便",
    ):
        open_ticket(client, user, body=body)
    client.post(
        "/v1/tickets",
        json={"user_id": user["id"], "channel": "phone", "body": "请问借款利率是多少"},
    )
    window = {
        "from": (NOW - timedelta(days=1)).isoformat(),
        "to": (NOW + timedelta(days=1)).isoformat(),
    }
    result = client.get("/v1/feedback/analysis", params=window).json()
    assert result["total"] == 4
    assert result["by_channel"] == {"app": 3, "phone": 1}
    assert result["by_category"]["payment"] == 3
    assert result["sentiment"]["negative"] >= 2
    assert result["sentiment"]["positive"] >= 1
    terms = {t["term"]: t for t in result["topics"]}
    assert len(terms["转账"]["examples"]) == 3
    backwards = client.get(
        "/v1/feedback/analysis", params={"from": window["to"], "to": window["from"]}
    )
    assert backwards.status_code == 422
    assert (
        client.get(
            "/v1/feedback/analysis", params={"from": "yesterday", "to": window["to"]}
        ).status_code
        == 422
    )


def test_a_published_change_tells_the_users_behind_it_and_is_public(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    linked, matched, unrelated = (
        create_user(client),
        create_user(client),
        create_user(client, locale="en"),
    )
    ticket = open_ticket(client, linked, body="退款太慢了")
    open_ticket(client, matched, body="提现手续费太高")
    open_ticket(client, unrelated, body="请问怎么开通子钱包")
    change = {
        "title": {"zh-CN": "提现手续费全免", "en": "Withdrawals are now free"},
        "body": {
            "zh-CN": "根据大家的反馈，提现不再收取手续费。",
            "en": "Thanks to your feedback, withdrawals are free.",
        },
        "topics": ["手续费"],
        "ticket_ids": [ticket["id"]],
    }
    published = client.post("/v1/changes", json=change)
    assert published.status_code == 201, published.text
    assert published.json()["notified"] == 2
    deliver_everything(context)
    for user, told in ((linked, True), (matched, True), (unrelated, False)):
        kinds = [i["kind"] for i in client.get(f"/v1/users/{user['id']}/inbox").json()["items"]]
        assert ("followup.change.published" in kinds) is told
    public = client.get("/v1/changes", headers={"Authorization": ""}).json()["items"]
    assert public[0]["title"]["en"] == "Withdrawals are now free"
    missing = client.post(
        "/v1/changes", json={**change, "ticket_ids": ["tkt_01JDQZM0000000000000000009"]}
    )
    assert missing.status_code == 404
    user_token = as_user(client, linked)
    assert client.post("/v1/changes", json=change, headers=user_token).status_code == 403


ENTRY = {"question": {"zh-CN": "怎么开发票？"}, "answer": {"zh-CN": "在账单详情里申请。"}}
CHANGE = {
    "title": {"zh-CN": "提现手续费全免", "en": "Withdrawals are free"},
    "body": {"zh-CN": "根据反馈，提现免费。"},
    "topics": ["手续费"],
}


def test_one_idempotency_key_adds_one_faq_entry_and_another_body_is_409(
    client: TestClient,
) -> None:
    first = replayed(client, "/v1/faq", ENTRY, {**ENTRY, "tags": ["invoice"]}, status=201)
    assert [e["id"] for e in client.get("/v1/faq").json()["items"]] == [first["id"]]


def test_one_idempotency_key_publishes_one_change_and_tells_each_user_once(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    open_ticket(client, user, body="提现手续费太高")
    first = replayed(client, "/v1/changes", CHANGE, {**CHANGE, "topics": ["到账"]}, status=201)
    assert first["notified"] == 1
    assert len(client.get("/v1/changes").json()["items"]) == 1
    deliver_everything(context)
    kinds = [i["kind"] for i in client.get(f"/v1/users/{user['id']}/inbox").json()["items"]]
    assert kinds.count("followup.change.published") == 1


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"question": {"en": "q"}, "answer": {"zh-CN": "a"}}, "question.zh-CN"),
        ({"question": {"zh-CN": "问"}, "answer": {"zh-CN": " "}}, "answer.zh-CN"),
        ({"question": {"zh-CN": "问\u202e"}, "answer": {"zh-CN": "答"}}, "question.zh-CN"),
        ({**ENTRY, "tags": ["x"] * 21}, "tags"),
        ({**ENTRY, "source": "web"}, "source"),
    ],
)
def test_a_bad_faq_entry_is_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, entry: dict[str, Any], field: str
) -> None:
    assert_refused(client.post("/v1/faq", json=entry), field)
    assert client.get("/v1/faq").json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({**CHANGE, "title": {"en": "x"}}, "title.zh-CN"),
        ({**CHANGE, "body": {"zh-CN": ""}}, "body.zh-CN"),
        ({**CHANGE, "ticket_ids": ["not-an-id"]}, "ticket_ids.0"),
        ({**CHANGE, "topics": "手续费"}, "topics"),
    ],
)
def test_a_bad_change_is_422_naming_the_field_and_nobody_is_told(
    client: TestClient, context: AppContext, clock: FixedClock, change: dict[str, Any], field: str
) -> None:
    user = create_user(client)
    open_ticket(client, user, body="提现手续费太高")
    assert_refused(client.post("/v1/changes", json=change), field)
    assert client.get("/v1/changes").json()["items"] == []
    deliver_everything(context)
    assert client.get(f"/v1/users/{user['id']}/inbox").json()["items"] == []


def test_a_deflection_names_a_real_faq_entry_and_the_answers_a_known_language(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    mine = as_user(client, user)
    path = f"/v1/users/{user['id']}/deflections"
    unknown = client.post(path, json={"faq_id": "faq_01JDQZM0000000000000000009"}, headers=mine)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/faq-not-found")
    bad = client.post(path, json={"faq": "x"}, headers=mine)
    assert bad.status_code == 422
    assert "faq_id" in {e["field"] for e in bad.json()["errors"]}
    lang = client.get("/v1/faq/answers", params={"q": "退款", "lang": "fr"}, headers=mine)
    assert lang.status_code == 422
    assert [e["field"] for e in lang.json()["errors"]] == ["lang"]
    window = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00Z"}
    assert client.get("/v1/feedback/analysis", params=window).json()["deflected"] == 0


def test_a_new_faq_entry_is_suggested_after_a_rebuild_no_request_waits_for(
    client: TestClient, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_faq(client)
    asked = {"q": "怎么开发票", "lang": "zh-CN"}
    before = client.get("/v1/faq/answers", params=asked).json()["items"]
    assert all(item["answer"] != ENTRY["answer"]["zh-CN"] for item in before)
    client.post("/v1/faq", json=ENTRY)
    monkeypatch.setattr(knowledge, "REFRESH_SECONDS", 3600.0)
    assert client.get("/v1/faq/answers", params=asked).json()["items"] == before
    monkeypatch.setattr(knowledge, "REFRESH_SECONDS", 0.0)
    assert client.get("/v1/faq/answers", params=asked).json()["items"] == before
    wait_for_rebuild()
    [best, *_] = client.get("/v1/faq/answers", params=asked).json()["items"]
    assert best["answer"] == ENTRY["answer"]["zh-CN"]


def test_an_erased_users_ticket_is_no_longer_suggested(
    client: TestClient, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    erased = create_user(client)
    old = qr_code_ticket(client, erased, "李雷您好，在“收款-收款码-保存图片”中下载后打印即可。")
    new = open_ticket(client, create_user(client), body="收款码在哪里下载")
    path = f"/v1/tickets/{new['id']}/suggestions"
    assert client.get(path).json()["items"][0]["source"] == f"ticket:{old['id']}"
    erasure = client.post(f"/v1/users/{erased['id']}/erasure", json={"reason": "PIPL art. 47"})
    assert erasure.status_code == 200, erasure.text
    monkeypatch.setattr(knowledge, "REFRESH_SECONDS", 0.0)
    client.get(path)  # the erasure is noticed; the index is rebuilt in a thread
    wait_for_rebuild()
    assert all("李雷" not in item["answer"] for item in client.get(path).json()["items"])
