"""Follow-up pages on both databases, end to end over HTTP: a ticket from the user pages is
answered in the console with a one-click draft, the user's inbox shows it, resolving it
invites the user to a survey, and the answer appears in the console's results."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.feedback.support import create_survey, run_job
from tests.helpers import deliver_everything
from tests.web.conftest import Reader
from tests.web.console.conftest import Operator
from tidings.app.context import AppContext
from tidings.feedback.service.knowledge import starter_faq

TICKET_LINK = re.compile(r"/app/tickets/(tkt_[0-9A-Z]{26})")


def load_faq(client: TestClient) -> None:
    for entry in starter_faq():
        client.post("/v1/faq", json=entry.model_dump(by_alias=True, exclude_none=True))


def test_a_ticket_from_the_user_pages_is_answered_resolved_and_surveyed(
    client: TestClient, context: AppContext, reader: Reader, operator: Operator
) -> None:
    load_faq(client)
    survey = create_survey(client)
    csrf = reader.csrf("/app/tickets")
    typed = reader.browser.get("/app/tickets/answers", params={"body": "我转的钱对方一直没收到"})
    assert "请先核对收款账户" in typed.text
    opened = reader.browser.post(
        "/app/tickets", data={"csrf_token": csrf, "body": "我转的钱对方一直没收到"}
    )
    assert opened.status_code == 303, opened.text
    ticket_id = opened.headers["location"].rsplit("/", 1)[-1]
    assert "我转的钱对方一直没收到" in reader.browser.get(f"/app/tickets/{ticket_id}").text

    queue = operator.page("/console/tickets")
    assert ticket_id in queue
    assert "min left" in queue
    drafted = operator.page(f"/console/tickets/{ticket_id}?draft=0")
    assert "Use as draft" in drafted
    draft = re.search(r'<textarea id="answer" name="body"[^>]*>([^<]+)</textarea>', drafted)
    assert draft is not None
    assert draft.group(1).startswith("请先核对收款账户")
    sent = operator.post(
        f"/console/tickets/{ticket_id}/messages",
        form_page=f"/console/tickets/{ticket_id}",
        body=draft.group(1),
    )
    assert sent.status_code == 303, sent.text
    deliver_everything(context)
    inbox = reader.browser.get("/app/")
    assert "请先核对收款账户" in inbox.text

    resolved = operator.post(
        f"/console/tickets/{ticket_id}/status",
        form_page=f"/console/tickets/{ticket_id}",
        status="resolved",
    )
    assert resolved.status_code == 303
    assert run_job(client, "followup.invitations")["invited"] == 1
    page = reader.browser.get(f"/app/surveys/{survey['id']}")
    assert page.status_code == 200, page.text
    fields = {
        "csrf_token": reader.csrf(f"/app/surveys/{survey['id']}"),
        "nps": "10",
        "csat": "5",
        "fast": "0",
        "say": "回复很快",
    }
    incomplete = reader.browser.post(f"/app/surveys/{survey['id']}", data={**fields, "csat": ""})
    assert incomplete.status_code == 422
    assert 'aria-describedby="q-csat-error"' in incomplete.text
    answered = reader.browser.post(f"/app/surveys/{survey['id']}", data=fields)
    assert answered.status_code == 200, answered.text
    assert reader.browser.get(f"/app/surveys/{survey['id']}").status_code == 404
    results = operator.page("/console/feedback")
    assert "NPS" in results
    assert '<svg class="chart"' in results
    assert client.get(f"/v1/surveys/{survey['id']}/results").json()["nps"]["score"] == 100


def test_another_users_ticket_page_is_404_and_a_form_without_its_token_is_403(
    client: TestClient, make_reader: Any
) -> None:
    owner, stranger = make_reader(), make_reader()
    csrf = owner.csrf("/app/tickets")
    opened = owner.browser.post("/app/tickets", data={"csrf_token": csrf, "body": "提现失败"})
    ticket_id = opened.headers["location"].rsplit("/", 1)[-1]
    assert stranger.browser.get(f"/app/tickets/{ticket_id}").status_code == 404
    no_token = owner.browser.post("/app/tickets", data={"body": "再来一个"})
    assert no_token.status_code == 403
    empty = owner.browser.post("/app/tickets", data={"csrf_token": csrf, "body": " "})
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text
    assert len(client.get(f"/v1/users/{owner.user['id']}/tickets").json()["items"]) == 1


def test_the_changes_page_is_public(client: TestClient) -> None:
    client.post(
        "/v1/changes",
        json={
            "title": {"zh-CN": "提现手续费全免", "en": "Withdrawals are free"},
            "body": {"zh-CN": "根据反馈，提现免费。"},
        },
    )
    page = TestClient(client.app).get("/changes?lang=en")
    assert page.status_code == 200
    assert "Withdrawals are free" in page.text


def test_unshowable_text_and_odd_digits_are_422_on_the_pages_and_nothing_is_stored(
    client: TestClient, reader: Reader, operator: Operator
) -> None:
    survey = create_survey(client)
    csrf = reader.csrf("/app/tickets")
    hidden = reader.browser.post("/app/tickets", data={"csrf_token": csrf, "body": "退款\u202e慢"})
    assert hidden.status_code == 422
    assert "invisible characters" in hidden.text or "不可见字符" in hidden.text
    opened = reader.browser.post("/app/tickets", data={"csrf_token": csrf, "body": "提现失败"})
    ticket_id = opened.headers["location"].rsplit("/", 1)[-1]
    page = f"/app/tickets/{ticket_id}"
    reply = reader.browser.post(
        f"{page}/messages", data={"csrf_token": reader.csrf(page), "body": "还是\x07不行"}
    )
    assert reply.status_code == 422, reply.text
    console_page = f"/console/tickets/{ticket_id}"
    answer = operator.post(f"{console_page}/messages", form_page=console_page, body="已处理\u200b")
    assert answer.status_code == 422, answer.text
    reopened = operator.post(f"{console_page}/status", form_page=console_page, status="open")
    assert reopened.status_code == 422
    resolved = operator.post(f"{console_page}/status", form_page=console_page, status="resolved")
    assert resolved.status_code == 303
    seen = client.get(f"/v1/tickets/{ticket_id}").json()
    assert (seen["messages"], seen["status"]) == ([], "resolved")
    assert len(client.get(f"/v1/users/{reader.user['id']}/tickets").json()["items"]) == 1
    assert run_job(client, "followup.invitations")["invited"] == 1
    fields = {
        "csrf_token": reader.csrf(f"/app/surveys/{survey['id']}"),
        "nps": "²",
        "csat": "5",
        "fast": "0",
    }
    odd = reader.browser.post(f"/app/surveys/{survey['id']}", data=fields)
    assert odd.status_code == 422, odd.text
    assert 'aria-describedby="q-nps-error"' in odd.text
    assert client.get(f"/v1/surveys/{survey['id']}/results").json()["responded"] == 0


def test_an_faq_answer_that_helped_is_counted_as_a_deflection_from_the_user_pages(
    client: TestClient, reader: Reader
) -> None:
    load_faq(client)
    typed = reader.browser.get("/app/tickets/answers", params={"body": "退款多久能回来"})
    found = re.search(r'name="faq_id" value="(faq_[0-9A-Z]{26})"', typed.text)
    assert found is not None, typed.text
    csrf = reader.csrf("/app/tickets")
    helped = reader.browser.post(
        "/app/tickets/deflected", data={"csrf_token": csrf, "faq_id": found.group(1)}
    )
    assert helped.status_code == 303
    unknown = reader.browser.post(
        "/app/tickets/deflected",
        data={"csrf_token": csrf, "faq_id": "faq_01JDQZM0000000000000000009"},
    )
    assert unknown.status_code == 404
    window = {"from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    assert client.get("/v1/feedback/analysis", params=window).json()["deflected"] == 1
    assert client.get(f"/v1/users/{reader.user['id']}/tickets").json()["items"] == []
