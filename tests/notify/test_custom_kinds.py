"""Operators register new event kinds over `/v1/kinds`: a core's events of that type become
notices without a release, checked, rendered in the user's language, within the rules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny, create_user, deliver_everything
from tests.notify.test_pipeline import sink_lines
from tidings.app.context import AppContext

KIND = "card.statement.posted"


def definition(**overrides: Any) -> dict[str, Any]:
    return {
        "category": "transactional",
        "required_fields": ["card_last4", "amount_due"],
        "templates": {
            "zh-CN": {
                "title": "信用卡账单已出",
                "body": "您尾号{{ card_last4 }}的信用卡本期应还{{ amount_due|money }}"
                "{% if due_date %}，请于{{ due_date|local_date }}前还款{% endif %}。",
            },
            "en": {
                "title": "Card statement posted",
                "body": "Your card ending {{ card_last4 }} has {{ amount_due|money }} due"
                "{% if due_date %} by {{ due_date|local_date }}{% endif %}.",
            },
        },
        "description": "The card core posted a statement.",
        "sample": {"card_last4": "8821", "amount_due": cny(123_456), "due_date": "2026-12-20"},
        **overrides,
    }


def register(client: TestClient, **overrides: Any) -> Any:
    return client.post("/v1/kinds", json={"type": KIND, **definition(**overrides)})


def post_event(client: TestClient, subject: str, data: dict[str, Any], *, n: int = 1) -> Any:
    return client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": f"card-{subject}-{n}",
            "source": "urn:bank:cards",
            "type": KIND,
            "subject": subject,
            "data": data,
        },
    )


def inbox_of(client: TestClient, user_id: str, kind: str = KIND) -> list[dict[str, Any]]:
    items = client.get(f"/v1/users/{user_id}/inbox").json()["items"]
    return [item for item in items if item["kind"] == kind]


DATA = {"card_last4": "8821", "amount_due": cny(123_456), "due_date": "2026-12-20"}


def test_a_registered_kind_becomes_a_notice_in_each_users_language(
    client: TestClient, context: AppContext
) -> None:
    created = register(client)
    assert created.status_code == 201, created.text
    kind = created.json()
    assert (kind["type"], kind["status"], kind["version"]) == (KIND, "active", 1)
    assert client.get(f"/v1/kinds/{KIND}").json()["templates"]["en"]["title"] == (
        "Card statement posted"
    )
    assert [k["type"] for k in client.get("/v1/kinds").json()["items"]] == [KIND]

    chinese = create_user(client)
    english = create_user(client, locale="en-GB")
    japanese = create_user(client, locale="ja")
    for n, user in enumerate((chinese, english, japanese)):
        accepted = post_event(client, user["id"], DATA, n=n)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["known_type"] is True
    deliver_everything(context)

    [zh] = inbox_of(client, chinese["id"])
    assert zh["title"] == "信用卡账单已出"
    assert zh["category"] == "transactional"
    assert "您尾号8821的信用卡本期应还1,234.56元，请于12月20日前还款。" in zh["body"]
    assert "防伪码" in zh["body"]
    [en] = inbox_of(client, english["id"])  # en-GB → en
    assert en["title"] == "Card statement posted"
    assert "Your card ending 8821 has CNY 1,234.56 due by 20 Dec" in en["body"]
    [ja] = inbox_of(client, japanese["id"])  # no Japanese text: zh-CN, the default
    assert ja["title"] == "信用卡账单已出"
    genuine = client.post("/v1/messages/verify", json={"text": zh["body"]}).json()
    assert (genuine["genuine"], genuine["kind"]) == (True, KIND)


def test_a_kind_event_without_its_required_fields_is_422_naming_them(
    client: TestClient, context: AppContext
) -> None:
    assert register(client).status_code == 201
    user = create_user(client)
    refused = post_event(client, user["id"], {"card_last4": "8821", "amount_due": None})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["data.amount_due"]
    optional_left_out = post_event(
        client, user["id"], {k: DATA[k] for k in DATA if k != "due_date"}
    )
    assert optional_left_out.status_code == 202
    deliver_everything(context)
    [notice] = inbox_of(client, user["id"])
    assert "本期应还1,234.56元。" in notice["body"]


def test_a_built_in_type_cannot_be_registered(client: TestClient) -> None:
    for built_in in ("wallet.payment.succeeded", "security.login.new_device"):
        response = client.post("/v1/kinds", json={"type": built_in, **definition()})
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith("/kind-built-in")
    assert client.put("/v1/kinds/wallet.payment.succeeded", json=definition()).status_code == 409
    assert register(client).status_code == 201
    again = register(client)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/kind-exists")


def test_only_operators_manage_kinds(client: TestClient) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert (
        client.post("/v1/kinds", json={"type": KIND, **definition()}, headers=mine).status_code
        == 403
    )
    assert register(client).status_code == 201
    assert client.get("/v1/kinds", headers=mine).status_code == 403
    assert client.get(f"/v1/kinds/{KIND}", headers=mine).status_code == 403
    assert client.put(f"/v1/kinds/{KIND}", json=definition(), headers=mine).status_code == 403
    assert client.delete(f"/v1/kinds/{KIND}", headers=mine).status_code == 403


def test_a_repeated_idempotency_key_registers_a_kind_once(client: TestClient) -> None:
    body = {"type": KIND, **definition()}
    key = {"Idempotency-Key": "kind-1"}
    first = client.post("/v1/kinds", json=body, headers=key)
    again = client.post("/v1/kinds", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = client.post("/v1/kinds", json={**body, "description": "changed"}, headers=key)
    assert other.status_code == 409
    changes = client.get(f"/v1/kinds/{KIND}/changes").json()["items"]
    assert len(changes) == 1


def test_bad_kind_requests_name_the_field_and_unknown_kinds_are_404(client: TestClient) -> None:
    bad = client.post("/v1/kinds", json={"type": "Not A Type", **definition()})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["type"]
    no_category = client.post("/v1/kinds", json={"type": KIND, **definition(category="loud")})
    assert no_category.status_code == 422
    assert [e["field"] for e in no_category.json()["errors"]] == ["category"]
    for method in ("get", "delete"):
        assert client.request(method, "/v1/kinds/card.never.registered").status_code == 404
    assert client.get("/v1/kinds/card.never.registered/changes").status_code == 404
    assert client.get("/v1/kinds").json()["items"] == []


def test_unknown_kinds_still_produce_nothing(client: TestClient, context: AppContext) -> None:
    user = create_user(client)
    accepted = post_event(client, user["id"], DATA)
    assert accepted.status_code == 202
    assert accepted.json()["known_type"] is False
    deliver_everything(context)
    assert inbox_of(client, user["id"]) == []
    assert client.get(f"/v1/users/{user['id']}/notifications").json()["items"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "critical"}, "category"),
        ({"templates": {"en": definition()["templates"]["en"]}}, "templates"),
        (
            {"templates": {"zh-CN": {"title": "t", "body": "{{ ''.__class__ }}"}}},
            "templates.zh-CN.body",
        ),
        (
            {
                "templates": {
                    "zh-CN": {
                        "title": "t",
                        "body": "{% for x in range(10000) %}"
                        "{% for y in range(10000) %}{% endfor %}{% endfor %}x",
                    }
                }
            },
            "templates.zh-CN.body",
        ),
        ({"templates": {"zh-CN": {"title": "t", "body": "长" * 300}}}, "templates.zh-CN.body"),
        (
            {"templates": {"zh-CN": {"title": "t", "body": "{{ balance|money }}"}}},
            "templates.zh-CN.body",
        ),
        ({"required_fields": ["Bad-Name"]}, "required_fields.0"),
    ],
)
def test_kinds_whose_templates_cannot_go_live_are_refused_naming_the_field(
    client: TestClient, overrides: dict[str, Any], field: str
) -> None:
    response = register(client, **overrides)
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert client.get("/v1/kinds").json()["items"] == []


def test_an_update_takes_effect_and_retiring_stops_the_notices(
    client: TestClient, context: AppContext
) -> None:
    assert register(client).status_code == 201
    user = create_user(client)
    changed = definition()
    changed["templates"]["zh-CN"]["title"] = "本期账单"
    updated = client.put(f"/v1/kinds/{KIND}", json=changed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    post_event(client, user["id"], DATA, n=1)
    deliver_everything(context)
    assert [n["title"] for n in inbox_of(client, user["id"])] == ["本期账单"]

    retired = client.delete(f"/v1/kinds/{KIND}")
    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"
    after = post_event(client, user["id"], DATA, n=2)
    assert after.json()["known_type"] is False
    deliver_everything(context)
    assert len(inbox_of(client, user["id"])) == 1

    trail = client.get(f"/v1/kinds/{KIND}/changes").json()["items"]
    assert [(c["action"], c["version"], c["actor"]) for c in trail] == [
        ("registered", 1, "operator"),
        ("updated", 2, "operator"),
        ("retired", 3, "operator"),
    ]
    assert trail[1]["definition"]["templates"]["zh-CN"]["title"] == "本期账单"


def test_a_kinds_channels_and_the_sms_rules_apply(client: TestClient, context: AppContext) -> None:
    created = register(client, channels=["inbox", "sms"])
    assert created.status_code == 201, created.text
    user = create_user(client)
    post_event(client, user["id"], DATA)
    deliver_everything(context)
    [notice] = inbox_of(client, user["id"])
    detail = client.get(f"/v1/notifications/{notice['id']}").json()
    assert {d["channel"] for d in detail["deliveries"]} == {"inbox", "sms"}
    [sms] = [line for line in sink_lines(context) if line.get("channel") == "sms"]
    assert sms["body"].startswith("【Tidings钱包】您尾号8821的信用卡")


def test_a_marketing_kind_still_needs_consent(client: TestClient, context: AppContext) -> None:
    created = client.post(
        "/v1/kinds",
        json={
            "type": "card.offer.cashback",
            "category": "marketing",
            "channels": ["inbox"],
            "templates": {"zh-CN": {"title": "返现活动", "body": "本周刷卡满100元返10元。"}},
            "description": "A cashback offer from the card core.",
        },
    )
    assert created.status_code == 201, created.text
    user = create_user(client)
    event = {
        "specversion": "1.0",
        "id": "offer-1",
        "source": "urn:bank:cards",
        "type": "card.offer.cashback",
        "subject": user["id"],
        "data": {},
    }
    assert client.post("/v1/events", json=event).status_code == 202
    deliver_everything(context)
    assert inbox_of(client, user["id"], "card.offer.cashback") == []
    [notice] = client.get(f"/v1/users/{user['id']}/notifications").json()["items"]
    assert notice["category"] == "marketing"
    assert [(d["channel"], d["reason"]) for d in notice["deliveries"]] == [("inbox", "no_consent")]
