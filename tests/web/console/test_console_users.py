"""Users in the console: found by phone, external id or user id through the look-up hashes,
shown masked; their page lists wallets, notices (each linking to its attempts) and audit
entries. No page ever holds a whole phone number, not even the one the operator typed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import create_user
from tests.web.console.conftest import FULL_PHONE, Operator, pay_at_cafe, topped_up_user
from tidings.app.context import AppContext

PHONE = "13812348821"


def find(operator: Operator, reference: str) -> str:
    answer = operator.post("/console/users", reference=reference)
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def test_a_user_is_found_by_phone_external_id_or_id_and_shown_masked(
    client: TestClient, operator: Operator
) -> None:
    user = create_user(client, name="张三丰", phone=PHONE, external_id="crm-42")
    for reference in (PHONE, "+86 138 1234 8821", "crm-42", user["id"]):
        page = find(operator, reference)
        assert f'href="/console/users/{user["id"]}"' in page, reference
        assert "138****8821" in page
        assert "张*丰" in page
        assert not FULL_PHONE.search(page), reference
    nobody = find(operator, "13900000000")
    assert "No user has this phone number or id." in nobody
    assert "13900000000" not in nobody  # what was typed is not shown back


def test_an_empty_search_says_what_to_type(operator: Operator) -> None:
    answer = operator.post("/console/users", reference="  ")
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert "Type a phone number" in answer.text


def test_a_users_page_has_wallets_notices_and_audit_all_masked(
    client: TestClient, context: AppContext, operator: Operator
) -> None:
    user = topped_up_user(client, context, phone=PHONE)
    pay_at_cafe(client, context, user["wallet_id"])
    assert client.post(f"/v1/users/{user['id']}/tokens").status_code == 201  # audited
    page = operator.page(f"/console/users/{user['id']}")
    assert "¥372.00" in page  # 500.00 - 128.00
    assert "wallet.payment.succeeded" in page
    assert "token.issued" in page
    assert not FULL_PHONE.search(page)
    notice = client.get(f"/v1/users/{user['id']}/notifications").json()["items"][0]
    attempts = operator.page(f"/console/notifications/{notice['id']}")
    assert "App inbox" in attempts
    assert f'href="/console/users/{user["id"]}"' in attempts
    assert not FULL_PHONE.search(attempts)
    health = operator.page("/console/")
    assert not FULL_PHONE.search(health)


def test_a_notification_is_looked_up_by_its_id(client: TestClient, operator: Operator) -> None:
    found = operator.browser.get("/console/notifications?id=ntf_01JDQZKXWHMNPRSTVABCDE8821")
    assert found.status_code == 303
    assert found.headers["location"] == "/console/notifications/ntf_01JDQZKXWHMNPRSTVABCDE8821"
    assert operator.browser.get(found.headers["location"]).status_code == 404
    assert operator.browser.get("/console/notifications?id=not-an-id").status_code == 404
    assert operator.browser.get("/console/users/usr_01JDQZKXWHMNPRSTVABCDE8821").status_code == 404
