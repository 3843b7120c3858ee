"""Operator template management over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError

from tests.helpers import create_user
from tests.notify_templates.support import publish
from tidings.app.context import AppContext
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.models import templates
from tidings.notify.rules import RULES
from tidings.notify.templates import TemplateRenderer, sample_data
from tidings.notify.templates.api import renderer
from tidings.notify.templates.schemas import TemplateCreate
from tidings.notify.templates.service import (
    activate_version,
    active_override,
    active_overrides,
    create_version,
    override_lookup,
)
from tidings.notify.types import ChannelName

KIND = "wallet.payment.succeeded"
PAYMENT_SMS = "您消费{{ amount|money }}（{{ merchant.name }}）。"


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    """A version in force: drafted by alice, approved and activated by bob."""
    payload = {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS, **body}
    return publish(client, payload)


def draft(client: TestClient, operator: str = "alice", **body: Any) -> dict[str, Any]:
    payload = {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS, **body}
    response = client.post("/v1/templates", json=payload, headers={"X-Operator": operator})
    assert response.status_code == 201, response.text
    return dict(response.json())


def versions(client: TestClient, **query: str) -> list[dict[str, Any]]:
    response = client.get("/v1/templates", params=query)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return list(page["items"])


def problem_field(response: Any) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["errors"][0]["field"])


def test_list_shows_the_shipped_default_as_active_version_0(client: TestClient) -> None:
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert len(items) == 1
    (default,) = items
    assert default["id"] == f"default:{KIND}:sms:zh-CN"
    assert default["version"] == 0
    assert default["shipped"]
    assert default["active"]
    assert "消费{{ amount|money }}" in default["body"]


def test_list_without_filters_covers_every_kind_channel_and_locale(client: TestClient) -> None:
    items = versions(client)
    assert len(items) == len(EVENT_TYPES) * 4 * 2
    assert all(item["shipped"] and item["active"] for item in items)


def test_an_approved_version_once_activated_is_in_force_and_the_dispatcher_sees_it(
    client: TestClient, engine: Engine
) -> None:
    created = create(client)
    assert created["id"].startswith("tpl_")
    assert created["version"] == 1
    assert created["active"]
    assert created["status"] == "active"
    assert not created["shipped"]
    assert created["created_by"] == "alice"
    assert created["created_at"].endswith(("Z", "+00:00"))
    assert (created["approved_by"], created["activated_by"]) == ("bob", "bob")

    with read_transaction(engine) as conn:
        override = active_override(conn, KIND, "sms", "zh-CN")
        assert override is not None
        assert override.body == PAYMENT_SMS
        assert active_override(conn, KIND, "sms", "en") is None
        assert set(active_overrides(conn)) == {(KIND, "sms", "zh-CN")}
        message = TemplateRenderer(overrides=override_lookup(conn)).render(
            kind=KIND,
            channel=ChannelName.SMS,
            locale="zh-Hans-CN",
            data=sample_data(KIND),
            timezone="Asia/Shanghai",
            category=RULES[KIND].category,
        )
    assert message.body == "【Tidings钱包】您消费128.00元（星巴克）。"


def test_versions_count_up_and_list_newest_first_with_one_active(client: TestClient) -> None:
    first = create(client)
    second = create(client, body="第二版：{{ amount|money }}。")
    assert second["version"] == 2
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert [item["version"] for item in items] == [2, 1, 0]
    assert [item["active"] for item in items] == [True, False, False]
    assert items[1]["id"] == first["id"]


def test_activate_rolls_back_to_an_earlier_version_and_to_the_shipped_default(
    client: TestClient, engine: Engine
) -> None:
    first = create(client)
    create(client, body="第二版：{{ amount|money }}。")

    response = client.post(f"/v1/templates/{first['id']}/activate", headers={"X-Operator": "carol"})
    assert response.status_code == 200, response.text
    assert response.json()["active"]
    assert response.json()["version"] == 1
    assert response.json()["activated_by"] == "carol"
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert [(i["version"], i["active"]) for i in items] == [(2, False), (1, True), (0, False)]

    response = client.post(f"/v1/templates/default:{KIND}:sms:zh-CN/activate")
    assert response.status_code == 200, response.text
    assert response.json()["shipped"]
    assert response.json()["active"]
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert [(i["version"], i["active"]) for i in items] == [(2, False), (1, False), (0, True)]
    with read_transaction(engine) as conn:
        assert active_override(conn, KIND, "sms", "zh-CN") is None


def test_operators_writing_at_once_get_distinct_versions_and_one_active(
    client: TestClient, context: AppContext
) -> None:
    first = create(client)
    writers = 6
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        def attempt() -> None:
            with write_transaction(context.engine) as conn:
                if n % 2:  # half roll back to version 1 while the others add versions
                    activate_version(
                        conn,
                        renderer(context),
                        first["id"],
                        operator="bob",
                        at=context.clock.now(),
                    )
                else:
                    body = TemplateCreate.model_validate(
                        {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": f"版本{n}。"}
                    )
                    create_version(
                        conn, renderer(context), body, actor="ops", at=context.clock.now()
                    )

        barrier.wait()
        try:
            with_retry(attempt)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert sorted(item["version"] for item in items) == [0, 1, 2, 3, 4]
    assert sum(item["active"] for item in items) == 1


def test_the_database_refuses_a_second_active_version(client: TestClient, engine: Engine) -> None:
    first = create(client)
    create(client, body="第二版：{{ amount|money }}。")
    with pytest.raises(IntegrityError), write_transaction(engine) as conn:
        conn.execute(update(templates).where(templates.c.id == first["id"]).values(active=True))


@pytest.mark.parametrize("template_id", ["tpl_01JDQZM0000000000000000000", "default:x:sms:zh-CN"])
def test_activating_an_unknown_version_is_404(client: TestClient, template_id: str) -> None:
    response = client.post(f"/v1/templates/{template_id}/activate")
    assert response.status_code == 404
    assert response.json()["type"].endswith("template-not-found")


def test_push_inbox_and_email_versions_need_a_title(client: TestClient) -> None:
    for channel in ("push", "inbox", "email"):
        response = client.post(
            "/v1/templates",
            json={"kind": KIND, "channel": channel, "locale": "en", "body": "Paid."},
        )
        assert problem_field(response) == "title"
    created = create(client, channel="email", locale="en", title="Paid {{ amount|money }}")
    assert created["title"] == "Paid {{ amount|money }}"


def test_an_sms_version_has_no_title(client: TestClient) -> None:
    response = client.post(
        "/v1/templates",
        json={"kind": KIND, "channel": "sms", "locale": "zh-CN", "title": "x", "body": "y"},
    )
    assert problem_field(response) == "title"


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "wallet.nope"}, "kind", "unknown-kind"),
    ({"channel": "webhook"}, "channel", "channel-has-no-template"),
    ({"channel": "fax"}, "channel", "validation"),
    ({"locale": "xx-QQ-zz"}, "locale", "validation"),
    ({"body": "{% if %}"}, "body", "template-syntax"),
    ({"body": "{{ amout|money }}"}, "body", "template-render-failed"),
    ({"body": "{{ amount|money }}" + "长" * 250}, "body", "sms-too-long"),
    # balance_after is optional for a received transfer: an unguarded use is refused.
    (
        {"kind": "wallet.transfer.received", "body": "余额{{ balance_after|money }}"},
        "body",
        "template-render-failed",
    ),
]

INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ amount.__class__.__init__.__globals__ }}",
    "{{ merchant['__class__'] }}",
    "{% if false %}{{ lipsum.__globals__ }}{% endif %}",
    "{{ (amount|attr('__cla' ~ 'ss__')) }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{% include '/etc/passwd' %}",
    "{{ 'A' * 1000000000 }}",
]


def test_a_version_that_cannot_go_live_is_422_naming_the_field(client: TestClient) -> None:
    for changes, field, problem in REFUSED:
        payload = {
            "kind": KIND,
            "channel": "sms",
            "locale": "zh-CN",
            "body": PAYMENT_SMS,
            **changes,
        }
        response = client.post("/v1/templates", json=payload)
        assert problem_field(response) == field, changes
        assert response.json()["type"].endswith(problem), response.json()
    assert all(item["shipped"] for item in versions(client))  # nothing was stored


def test_template_injection_is_refused_by_the_sandbox(client: TestClient) -> None:
    for source in INJECTIONS:
        for field in ("title", "body"):
            payload = {
                "kind": KIND,
                "channel": "push",
                "locale": "zh-CN",
                "title": "消费",
                "body": "ok",
                field: source,
            }
            response = client.post("/v1/templates", json=payload)
            assert problem_field(response) == field, source
            assert response.json()["type"].endswith(
                ("unsafe-template", "template-render-failed", "template-too-costly")
            ), response.json()
    assert all(item["shipped"] for item in versions(client))


def test_preview_renders_a_draft_with_the_kinds_sample_data(client: TestClient) -> None:
    response = client.post(
        "/v1/templates/preview",
        json={"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "title": None,
        "body": "【Tidings钱包】您消费128.00元（星巴克）。防伪码K7Q2X9",
        "html": None,
        "segments": 1,
    }
    assert versions(client, kind=KIND, channel="sms", locale="zh-CN")[0]["shipped"]


def test_preview_without_a_body_shows_the_template_in_force(client: TestClient) -> None:
    response = client.post(
        "/v1/templates/preview", json={"kind": KIND, "channel": "sms", "locale": "en-US"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["body"].startswith("[Tidings Wallet] Your wallet ending 8821 paid")

    create(client, locale="en", body="Paid {{ amount|money }}.")
    response = client.post(
        "/v1/templates/preview", json={"kind": KIND, "channel": "sms", "locale": "en-US"}
    )
    assert response.json()["body"] == "[Tidings Wallet] Paid CNY 128.00. Code K7Q2X9"


def test_preview_of_an_email_gives_subject_text_and_html(client: TestClient) -> None:
    response = client.post(
        "/v1/templates/preview",
        json={"kind": "security.login.new_device", "channel": "email", "locale": "zh-CN"},
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["title"] == "新设备登录提醒"
    assert "我们不会索要您的密码或验证码" in preview["body"]
    assert preview["html"].startswith("<!DOCTYPE html>")
    assert preview["segments"] is None


def test_preview_with_given_data_renders_hostile_values_literally(client: TestClient) -> None:
    data = {
        **sample_data(KIND),
        "merchant": {"name": "{{ 7*7 }}<img src=x onerror=alert(1)>"},
    }
    for channel in ("sms", "email"):
        response = client.post(
            "/v1/templates/preview",
            json={"kind": KIND, "channel": channel, "locale": "zh-CN", "data": data},
        )
        assert response.status_code == 200, response.text
        preview = response.json()
        assert "（{{ 7*7 }}<img src=x onerror=alert(1)>）" in preview["body"]
        assert "49" not in preview["body"]
        if channel == "email":
            assert "<img" not in preview["html"]
            assert "{{ 7*7 }}&lt;img src=x onerror=alert(1)&gt;" in preview["html"]


def test_preview_with_invalid_data_names_the_data_field(client: TestClient) -> None:
    data = {**sample_data(KIND), "amount": {"value": 12.5, "currency": "CNY"}}
    response = client.post(
        "/v1/templates/preview",
        json={"kind": KIND, "channel": "sms", "locale": "zh-CN", "data": data},
    )
    assert problem_field(response) == "data.amount.value"


def test_same_idempotency_key_returns_the_first_version(client: TestClient) -> None:
    payload = {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS}
    headers = {"Idempotency-Key": "tpl-1"}
    first = client.post("/v1/templates", json=payload, headers=headers)
    again = client.post("/v1/templates", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [i["version"] for i in versions(client, kind=KIND, channel="sms", locale="zh-CN")] == [
        1,
        0,
    ]


def test_users_cannot_manage_templates(client: TestClient) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    as_user = {"Authorization": f"Bearer {token}"}
    payload = {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS}
    assert client.post("/v1/templates", json=payload, headers=as_user).status_code == 403
    assert client.get("/v1/templates", headers=as_user).status_code == 403
    preview = {"kind": KIND, "channel": "sms"}
    assert client.post("/v1/templates/preview", json=preview, headers=as_user).status_code == 403
    default = f"/v1/templates/default:{KIND}:sms:zh-CN/activate"
    assert client.post(default, headers=as_user).status_code == 403


def test_a_new_version_is_a_draft_that_changes_nothing_until_approved_and_activated(
    client: TestClient, engine: Engine
) -> None:
    drafted = draft(client)
    assert drafted["status"] == "draft"
    assert not drafted["active"]
    assert (drafted["created_by"], drafted["approved_by"], drafted["activated_by"]) == (
        "alice",
        None,
        None,
    )
    with read_transaction(engine) as conn:
        assert active_override(conn, KIND, "sms", "zh-CN") is None
    items = versions(client, kind=KIND, channel="sms", locale="zh-CN")
    assert [(i["version"], i["status"]) for i in items] == [(1, "draft"), (0, "active")]

    refused = client.post(f"/v1/templates/{drafted['id']}/activate", headers={"X-Operator": "bob"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/template-not-approved")
    with read_transaction(engine) as conn:
        assert active_override(conn, KIND, "sms", "zh-CN") is None


def test_the_author_cannot_approve_their_own_version(client: TestClient) -> None:
    drafted = draft(client, operator="alice")
    for same in ("alice", " Alice "):
        response = client.post(
            f"/v1/templates/{drafted['id']}/approve", headers={"X-Operator": same}
        )
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"].endswith("/template-approval-needs-second-operator")
        assert "another operator" in problem["detail"]
    [listed] = [i for i in versions(client, kind=KIND) if i["id"] == drafted["id"]]
    assert listed["status"] == "draft"


def test_approved_then_activated_goes_live_with_who_and_when_recorded(
    client: TestClient, context: AppContext, engine: Engine
) -> None:
    drafted = draft(client, operator="alice", body="新版：{{ amount|money }}。")
    approved = client.post(f"/v1/templates/{drafted['id']}/approve", headers={"X-Operator": "bob"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == "bob"
    assert approved.json()["approved_at"] is not None
    with read_transaction(engine) as conn:  # approved is not yet in force
        assert active_override(conn, KIND, "sms", "zh-CN") is None

    again = client.post(f"/v1/templates/{drafted['id']}/approve", headers={"X-Operator": "carol"})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/template-already-approved")

    live = client.post(f"/v1/templates/{drafted['id']}/activate", headers={"X-Operator": "alice"})
    assert live.status_code == 200, live.text
    record = live.json()
    assert record["status"] == "active"
    assert (record["created_by"], record["approved_by"], record["activated_by"]) == (
        "alice",
        "bob",
        "alice",
    )
    assert record["created_at"] <= record["approved_at"] <= record["activated_at"]
    with read_transaction(engine) as conn:
        override = active_override(conn, KIND, "sms", "zh-CN")
    assert override is not None
    assert override.body == "新版：{{ amount|money }}。"
    [listed] = [i for i in versions(client, kind=KIND) if i["id"] == drafted["id"]]
    assert listed == record


@pytest.mark.parametrize("header", [None, "", "   "])
def test_template_changes_name_the_operator(client: TestClient, header: str | None) -> None:
    drafted = draft(client)
    headers = {"X-Operator": header} if header is not None else {}
    client.headers.pop("X-Operator")
    payload = {"kind": KIND, "channel": "sms", "locale": "zh-CN", "body": PAYMENT_SMS}
    for response in (
        client.post("/v1/templates", json=payload, headers=headers),
        client.post(f"/v1/templates/{drafted['id']}/approve", headers=headers),
        client.post(f"/v1/templates/{drafted['id']}/activate", headers=headers),
    ):
        assert problem_field(response) == "X-Operator"
        assert response.json()["type"].endswith("/operator-required")
