"""Templates in the console: a draft is written with a live preview of the SMS and its
segment count, approved by a second operator (never its author), activated, and rolled back;
what the operator typed stays when it is refused, with the reason next to the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.console.conftest import Operator

GROUP = "/console/templates/wallet.payment.succeeded/sms/zh-CN"
NEW_TEXT = "您的钱包支付{{ amount|money }}给{{ merchant.name }}，余额{{ balance_after|money }}。"


def versions(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get(
        "/v1/templates",
        params={"kind": "wallet.payment.succeeded", "channel": "sms", "locale": "zh-CN"},
    )
    assert answer.status_code == 200
    return list(answer.json()["items"])


def save(operator: Operator, body: str) -> Any:
    return operator.post(GROUP, form_page=GROUP, body=body)


def test_the_list_opens_on_text_messages_and_filters_by_get(operator: Operator) -> None:
    page = operator.page("/console/templates")
    assert f'href="{GROUP}"' in page
    assert "/console/templates/wallet.payment.succeeded/push/zh-CN" not in page
    assert '<option value="sms" selected>' in page
    every = operator.page("/console/templates?channel=&kind=wallet.payment.succeeded")
    assert "/console/templates/wallet.payment.succeeded/push/en" in every
    assert "/console/templates/wallet.balance.low/sms/zh-CN" not in every


def test_the_preview_shows_the_rendered_sms_and_its_segments(operator: Operator) -> None:
    page = operator.page(GROUP)
    assert 'id="preview-body"' in page  # the text in force, previewed on arrival
    assert "2 text-message segments" in page  # the shipped text: 81 characters
    preview = operator.browser.post(
        f"{GROUP}/preview",
        data={"body": NEW_TEXT * 4},
        headers={"HX-Request": "true", "X-CSRF-Token": operator.csrf(GROUP)},
    )
    assert preview.status_code == 200
    assert "<html" not in preview.text  # the preview alone, for htmx to swap in
    assert "【Tidings钱包】您的钱包支付128.00元给星巴克" in preview.text
    assert "3 text-message segments" in preview.text
    assert "140 characters" in preview.text
    assert "防伪码K7Q2X9" in preview.text  # a sample authenticity code, counted too


def test_a_preview_without_script_is_the_whole_page_with_the_text_kept(
    operator: Operator,
) -> None:
    answer = operator.post(f"{GROUP}/preview", form_page=GROUP, body="只有一句话。")
    assert answer.status_code == 200
    assert "<html" in answer.text
    assert ">只有一句话。</textarea>" in answer.text
    assert "【Tidings钱包】只有一句话。" in answer.text


def test_a_too_long_sms_or_a_broken_template_is_said_next_to_the_field(
    client: TestClient, operator: Operator
) -> None:
    too_long = save(operator, NEW_TEXT * 7)
    assert too_long.status_code == 422
    assert 'aria-invalid="true"' in too_long.text
    assert "at most 3 are allowed" in too_long.text
    assert "余额{{ balance_after|money }}。</textarea>" in too_long.text  # kept as typed
    broken = save(operator, "您的钱包支付{{ amount|money }")
    assert broken.status_code == 422
    assert 'id="body-error"' in broken.text
    assert "{{ amount|money }</textarea>" in broken.text
    assert [v["version"] for v in versions(client)] == [0]


def test_two_operators_draft_approve_activate_and_roll_back(
    client: TestClient, make_operator: Any
) -> None:
    alice, bob = make_operator("alice"), make_operator("Bob")
    saved = save(alice, NEW_TEXT)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{GROUP}?done=saved"
    draft = versions(client)[0]
    assert (draft["version"], draft["status"], draft["created_by"]) == (1, "draft", "alice")

    page = alice.page(f"{GROUP}?done=saved")
    assert "Saved as a draft" in page
    assert "Another operator must approve it" in page  # no approve button for its author
    refused = alice.post(f"{GROUP}/versions/{draft['id']}/approve", form_page=GROUP)
    assert refused.status_code == 409
    assert "You wrote this version" in refused.text
    not_yet = alice.post(f"{GROUP}/versions/{draft['id']}/activate", form_page=GROUP)
    assert not_yet.status_code == 409
    assert "This version is a draft" in not_yet.text

    approved = bob.post(f"{GROUP}/versions/{draft['id']}/approve", form_page=GROUP)
    assert approved.status_code == 303
    assert versions(client)[0]["approved_by"] == "Bob"
    activated = alice.post(f"{GROUP}/versions/{draft['id']}/activate", form_page=GROUP)
    assert activated.status_code == 303
    in_force = versions(client)
    assert (in_force[0]["active"], in_force[0]["activated_by"]) == (True, "alice")
    assert "Restore the shipped text" in bob.page(GROUP)

    shipped = in_force[-1]["id"]
    rolled_back = bob.post(f"{GROUP}/versions/{shipped}/activate", form_page=GROUP)
    assert rolled_back.status_code == 303
    after = versions(client)
    assert after[-1]["active"] is True
    assert (after[0]["status"], after[0]["active"]) == ("approved", False)
    assert "Roll back to this version" not in bob.page(GROUP)
    assert ">Activate</button>" in bob.page(GROUP)


def test_without_a_name_the_operator_may_read_but_not_change_templates(
    client: TestClient, make_operator: Any
) -> None:
    nameless = make_operator(None)
    page = nameless.page(GROUP)
    assert "Sign out and sign in again with your name" in page
    assert "Save as a draft" not in page
    refused = save(nameless, NEW_TEXT)
    assert refused.status_code == 422
    assert [v["version"] for v in versions(client)] == [0]


def test_a_version_of_another_group_or_an_unknown_group_is_not_found(
    client: TestClient, operator: Operator, make_operator: Any
) -> None:
    assert save(operator, NEW_TEXT).status_code == 303
    draft = versions(client)[0]["id"]
    other = "/console/templates/wallet.balance.low/sms/zh-CN"
    elsewhere = make_operator("carol").post(f"{other}/versions/{draft}/approve", form_page=GROUP)
    assert elsewhere.status_code == 404
    for path in (
        "/console/templates/no.such.kind/sms/zh-CN",
        "/console/templates/wallet.payment.succeeded/webhook/zh-CN",
        "/console/templates/wallet.payment.succeeded/sms/zh_cn",
    ):
        assert operator.browser.get(path).status_code == 404, path
