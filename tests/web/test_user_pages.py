"""The user's pages over HTTP: the inbox, a wallet, notification settings and /verify."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny, deliver_everything, top_up, transfer
from tests.web.conftest import Reader
from tidings.app.context import AppContext


def pay(client: TestClient, wallet_id: str, value: int, mcc: str = "5814") -> dict[str, Any]:
    return transfer(
        client,
        kind="payment",
        source=wallet_id,
        amount=cny(value),
        merchant={"name": "星巴克", "category": mcc},
    )


@pytest.fixture
def paid(client: TestClient, context: AppContext, reader: Reader) -> Reader:
    """A reader who topped up ¥500.00 and paid ¥128.00 at a café, both notices delivered."""
    top_up(client, reader.user["wallet_id"], 50_000)
    pay(client, reader.user["wallet_id"], 12_800)
    deliver_everything(context)
    return reader


def _section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


def test_the_inbox_shows_each_notice_in_full_with_its_code_unread_first(paid: Reader) -> None:
    page = paid.browser.get("/app/").text
    unread = _section(page, "unread-heading")
    assert "2 条未读通知" in unread
    assert "消费128.00元（星巴克）" in unread
    code = re.search(r"防伪码： <strong lang=\"en\">([A-Z2-7]{6})</strong>", unread)
    assert code is not None
    assert f"防伪码{code.group(1)}" in unread  # the body as sent, code included
    assert "没有更早的通知" in _section(page, "read-heading")


def test_marking_a_notice_read_moves_it_below_the_unread(paid: Reader, client: TestClient) -> None:
    page = paid.browser.get("/app/").text
    first = re.search(r'action="/app/notices/(ntf_\w+)/read"', page)
    assert first is not None
    marked = paid.browser.post(
        f"/app/notices/{first.group(1)}/read", data={"csrf_token": paid.csrf()}
    )
    assert marked.status_code == 303
    assert marked.headers["location"] == "/app/"
    page = paid.browser.get("/app/").text
    assert "1 条未读通知" in page
    assert first.group(1) in _section(page, "read-heading")
    inbox = client.get(f"/v1/users/{paid.user['id']}/inbox").json()
    assert inbox["unread_count"] == 1


def test_marking_all_read_with_htmx_answers_the_new_list(paid: Reader) -> None:
    answer = paid.browser.post(
        "/app/inbox/read-all", headers={"HX-Request": "true", "X-CSRF-Token": paid.csrf()}
    )
    assert answer.status_code == 200
    assert "所有通知都已标为已读" in answer.text
    assert "0 条未读通知" in answer.text


def test_another_users_notice_and_wallet_are_not_found(
    make_reader: Any, client: TestClient, context: AppContext
) -> None:
    alice, bob = make_reader(), make_reader()
    top_up(client, alice.user["wallet_id"], 10_000)
    deliver_everything(context)
    notice = client.get(f"/v1/users/{alice.user['id']}/inbox").json()["items"][0]["id"]
    refused = bob.browser.post(f"/app/notices/{notice}/read", data={"csrf_token": bob.csrf()})
    assert refused.status_code == 404
    assert "找不到页面" in refused.text
    wallet = bob.browser.get(f"/app/wallets/{alice.user['wallet_id']}")
    assert wallet.status_code == 404
    assert wallet.headers["content-type"].startswith("text/html")
    assert client.get(f"/v1/users/{alice.user['id']}/inbox").json()["unread_count"] == 1


def test_the_wallet_page_shows_balances_sub_wallets_and_spending(
    paid: Reader, client: TestClient
) -> None:
    main = paid.user["wallet_id"]
    sub = client.post(
        f"/v1/wallets/{main}/sub-wallets",
        json={
            "name": "旅行基金",
            "purpose": "travel",
            "budget": {"limit": cny(20_000), "period": "month"},
            "goal": {"target": cny(30_000)},
        },
    ).json()
    transfer(client, kind="allocation", source=main, destination=sub["id"], amount=cny(15_000))
    pay(client, sub["id"], 4_500, mcc="7011")

    page = paid.browser.get(f"/app/wallets/{main}").text
    assert "¥222.00" in page  # 500 − 128 − 150
    assert "旅行基金" in page
    assert (
        '<th scope="row">餐饮</th><td class="number">1</td><td class="number">¥128.00</td>' in page
    )
    assert 'role="img"' in page

    page = paid.browser.get(f"/app/wallets/{sub['id']}").text
    assert '<meter id="budget-meter" min="0" max="100"' in page
    assert 'value="22"' in page  # 45 of 200 spent
    assert '<progress id="goal-progress" max="100" value="35"' in page  # 105 of 300 saved
    assert '<th scope="row">旅行</th>' in page


def test_a_bad_quiet_hour_is_named_next_to_the_field_and_what_was_typed_is_kept(
    reader: Reader, client: TestClient
) -> None:
    answer = reader.browser.post(
        "/app/preferences?section=quiet_hours",
        data={"csrf_token": reader.csrf(), "quiet_start": "25:00", "quiet_end": "07:30"},
    )
    assert answer.status_code == 422
    field = answer.text[answer.text.index('<label for="quiet_start">') :]
    field = field[: field.index("</div>")]
    assert "请按“时:分”填写时间" in field
    assert 'value="25:00"' in field
    assert 'aria-invalid="true"' in field
    assert 'value="07:30"' in answer.text
    assert client.get(f"/v1/users/{reader.user['id']}/preferences").json()["quiet_hours"] is None


def test_a_missing_end_is_asked_for(reader: Reader) -> None:
    answer = reader.browser.post(
        "/app/preferences?section=quiet_hours",
        data={"csrf_token": reader.csrf(), "quiet_start": "22:00", "quiet_end": ""},
    )
    assert answer.status_code == 422
    end = answer.text[answer.text.index('<label for="quiet_end">') :]
    assert "请同时填写开始和结束时间" in end[: end.index("</div>")]


def test_each_section_saves_through_the_service_and_the_api_agrees(
    reader: Reader, client: TestClient
) -> None:
    token = reader.csrf("/app/preferences")
    saved = reader.browser.post(
        "/app/preferences?section=quiet_hours",
        data={"csrf_token": token, "quiet_start": "22:00", "quiet_end": "07:00"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/app/preferences?saved=quiet_hours")
    shown = reader.browser.get(saved.headers["location"]).text
    assert "已保存" in _section(shown, "pref-quiet_hours-heading")

    reader.browser.post(
        "/app/preferences?section=channels",
        data={"csrf_token": token, "channels.transactional": ["inbox", "sms"]},
    )
    reader.browser.post(
        "/app/preferences?section=marketing",
        data={"csrf_token": token, "marketing": ["email"]},
    )
    htmx = reader.browser.post(
        "/app/preferences?section=digest",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200
    assert htmx.text.startswith('<section id="pref-digest"')
    assert "已保存" in htmx.text

    stored = client.get(f"/v1/users/{reader.user['id']}/preferences").json()
    assert stored["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert stored["channels"]["transactional"] == ["inbox", "sms"]
    assert stored["marketing_consent"]["email"] is True
    assert stored["marketing_consent"]["sms"] is False
    assert stored["digest"] is False
    history = client.get(f"/v1/users/{reader.user['id']}/consents").json()["items"]
    assert {(e["channel"], e["granted"]) for e in history} >= {("email", True), ("sms", False)}


def test_an_unknown_channel_is_refused_next_to_its_category(reader: Reader) -> None:
    answer = reader.browser.post(
        "/app/preferences?section=channels",
        data={"csrf_token": reader.csrf(), "channels.marketing": "carrier-pigeon"},
    )
    assert answer.status_code == 422
    assert 'id="channels-marketing-error"' in answer.text


def test_verify_tells_a_genuine_message_from_a_changed_one(
    paid: Reader, client: TestClient
) -> None:
    inbox = client.get(f"/v1/users/{paid.user['id']}/inbox").json()
    body = next(item["body"] for item in inbox["items"] if "128.00" in item["body"])
    visitor = paid.browser
    token = paid.csrf("/verify")
    genuine = visitor.post("/verify", data={"csrf_token": token, "message": body})
    assert genuine.status_code == 200
    assert "真实：这条消息是我们发出的" in genuine.text
    assert "wallet.payment.succeeded" in genuine.text
    forged = visitor.post(
        "/verify", data={"csrf_token": token, "message": body.replace("128.00", "1280.00")}
    )
    assert "不真实：这条消息不是我们发出的" in forged.text
    assert "1280.00" in forged.text  # what was pasted stays in the box


def test_verify_asks_for_a_message_next_to_the_box(reader: Reader) -> None:
    answer = reader.browser.post("/verify", data={"csrf_token": reader.csrf("/verify")})
    assert answer.status_code == 422
    assert 'id="message-error"' in answer.text
