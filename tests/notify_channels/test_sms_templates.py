"""Each kind's SMS goes out as its approved Aliyun template with rendered variables, as Chinese
providers require; the whole-text `${content}` template is the fallback (issue #13, part 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.helpers import cny, create_user
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.cli.main import app as cli
from tidings.kit.clock import FixedClock
from tidings.notify.channels.config import ChannelConfigError, check_channel_settings
from tidings.notify.channels.sms_aliyun import AliyunSmsAdapter, AliyunSmsSettings
from tidings.notify.planner import PlannerPolicy
from tidings.notify.types import ProviderTemplate

from .conftest import MessageFactory
from .stubs import AliyunStub, StubServer

KEY_ID = "LTAI5tTemplateKey01"
SECRET = "template-test-secret"
PAYMENT = "wallet.payment.succeeded"
PAYMENT_TEMPLATE = {
    "code": "SMS_123",
    "params": {
        "amount": "{{ amount|money(bare=true) }}",
        "merchant": "{{ merchant.name }}",
        "time": "{{ occurred_at|local_time }}",
    },
}


def aliyun(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "aliyun",
        "endpoint": url + "/",
        "access_key_id": KEY_ID,
        "access_key_secret": SECRET,
        "sign_name": "Tidings钱包",
        "template_code": "SMS_1",
        "timeout_s": 2,
        **overrides,
    }


@pytest.fixture
def stub() -> AliyunStub:
    return AliyunStub(key_id=KEY_ID, secret=SECRET)


@pytest.fixture
def server(stub: AliyunStub) -> Iterator[StubServer]:
    with StubServer(stub) as running:
        yield running


def test_a_message_with_this_providers_template_sends_its_code_and_params(
    server: StubServer, stub: AliyunStub, make_message: MessageFactory
) -> None:
    adapter = AliyunSmsAdapter(AliyunSmsSettings.model_validate(aliyun(server.url)))
    mapped = make_message(
        provider_templates={"aliyun": ProviderTemplate("SMS_123", {"amount": "128.00"})}
    )
    someone_elses = make_message(
        provider_templates={"aliyun-2": ProviderTemplate("SMS_999", {"amount": "1.00"})}
    )
    adapter.send(mapped)
    adapter.send(someone_elses)
    assert stub.sent[mapped.delivery_id]["TemplateCode"] == "SMS_123"
    assert json.loads(stub.sent[mapped.delivery_id]["TemplateParam"]) == {"amount": "128.00"}
    # Another account's template code means nothing here: this one sends its fallback.
    assert stub.sent[someone_elses.delivery_id]["TemplateCode"] == "SMS_1"
    assert set(json.loads(stub.sent[someone_elses.delivery_id]["TemplateParam"])) == {"content"}


def send_through_the_pipeline(
    client: TestClient,
    context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    provider: dict[str, Any],
    events: list[tuple[str, dict[str, Any]]],
    **user: Any,
) -> dict[str, Any]:
    monkeypatch.setenv("TIDINGS_SMS_PROVIDERS", json.dumps([provider]))
    context.clock = FixedClock(datetime(2026, 11, 24, 7, 30, tzinfo=UTC))  # 15:30 in Shanghai
    person = create_user(client, **user)
    client.put(
        f"/v1/users/{person['id']}/preferences",
        json={"channels": {"transactional": ["sms"]}, "digest": False},
    )
    for n, (kind, data) in enumerate(events):
        response = client.post(
            "/v1/events",
            json={
                "specversion": "1.0",
                "id": f"sms-tpl-{person['id']}-{n}",
                "source": "urn:bank:core",
                "type": kind,
                "subject": person["id"],
                "data": data,
            },
        )
        assert response.status_code == 202, response.text
    dispatcher = build_dispatcher(context)
    try:
        for _ in range(5):
            relay_once(context, PlannerPolicy())
            dispatcher.run_once()
    finally:
        dispatcher.close()
    return person


def sms_deliveries(client: TestClient, person: dict[str, Any]) -> dict[str, dict[str, Any]]:
    page = client.get(f"/v1/users/{person['id']}/notifications").json()
    found = {}
    for item in page["items"]:
        detail = client.get(f"/v1/notifications/{item['id']}").json()
        [sms] = [d for d in detail["deliveries"] if d["channel"] == "sms"]
        found[item["kind"]] = sms
    return found


PAYMENT_DATA = {
    "amount": cny(12_800),
    "merchant": {"name": "星巴克"},
    "balance_after": cny(345_678),
    "occurred_at": "2026-11-24T07:30:00Z",
}


def test_each_kind_goes_as_its_mapped_template_and_others_as_the_content_fallback(
    client: TestClient,
    context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    server: StubServer,
    stub: AliyunStub,
) -> None:
    provider = aliyun(server.url, templates={PAYMENT: PAYMENT_TEMPLATE})
    received = {"amount": cny(5_000), "counterparty": "李四", "balance_after": cny(9_000)}
    person = send_through_the_pipeline(
        client,
        context,
        monkeypatch,
        provider,
        [(PAYMENT, PAYMENT_DATA), ("wallet.transfer.received", received)],
    )
    sent = sms_deliveries(client, person)
    payment = stub.sent[sent[PAYMENT]["id"]]
    assert payment["TemplateCode"] == "SMS_123"
    # Rendered with our filters, in the user's locale and time zone (15:30 in Shanghai).
    assert json.loads(payment["TemplateParam"]) == {
        "amount": "128.00",
        "merchant": "星巴克",
        "time": "11月24日15:30",
    }
    fallback = stub.sent[sent["wallet.transfer.received"]["id"]]
    assert fallback["TemplateCode"] == "SMS_1"
    assert "收到李*转账50.00元" in json.loads(fallback["TemplateParam"])["content"]


def test_the_params_follow_the_users_locale(
    client: TestClient,
    context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    server: StubServer,
    stub: AliyunStub,
) -> None:
    provider = aliyun(server.url, templates={PAYMENT: PAYMENT_TEMPLATE})
    person = send_through_the_pipeline(
        client,
        context,
        monkeypatch,
        provider,
        [(PAYMENT, PAYMENT_DATA)],
        locale="en",
        timezone="Europe/London",
    )
    payment = stub.sent[sms_deliveries(client, person)[PAYMENT]["id"]]
    assert json.loads(payment["TemplateParam"])["time"] == "24 Nov 07:30"


def test_a_param_longer_than_aliyun_takes_fails_the_delivery_for_good_saying_which(
    client: TestClient,
    context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    server: StubServer,
    stub: AliyunStub,
) -> None:
    provider = aliyun(server.url, templates={PAYMENT: PAYMENT_TEMPLATE})
    data = {**PAYMENT_DATA, "merchant": {"name": "星巴克咖啡" * 8}}
    person = send_through_the_pipeline(client, context, monkeypatch, provider, [(PAYMENT, data)])
    sms = sms_deliveries(client, person)[PAYMENT]
    assert sms["status"] == "failed"
    assert "SMS_123" in sms["reason"]
    assert "'merchant'" in sms["reason"]
    assert "40 characters" in sms["reason"]
    assert "35" in sms["reason"]
    assert stub.sent == {}


BAD = {"code": "SMS_123", "params": {"amount": "{{ amount|money(bare=true }}"}}


def test_a_template_variable_that_does_not_compile_stops_start_up_naming_it() -> None:
    provider = aliyun("https://dysmsapi.aliyuncs.com", templates={PAYMENT: BAD})
    env = {"TIDINGS_SMS_PROVIDERS": json.dumps([provider])}
    with pytest.raises(ChannelConfigError) as refused:
        check_channel_settings(env)
    assert str(refused.value).startswith(
        f"TIDINGS_SMS_PROVIDERS[0].templates.{PAYMENT}.params.amount"
    )


def test_serve_exits_2_on_a_bad_template_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = aliyun("https://dysmsapi.aliyuncs.com", templates={PAYMENT: BAD})
    monkeypatch.setenv("TIDINGS_SMS_PROVIDERS", json.dumps([provider]))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2, result.output
    assert "params.amount" in result.output


def test_a_template_entry_needs_a_code_and_nothing_else_unknown() -> None:
    for entry in ({"params": {}}, {"code": "SMS_1", "param": {}}):
        provider = aliyun("https://dysmsapi.aliyuncs.com", templates={PAYMENT: entry})
        with pytest.raises(ChannelConfigError, match=r"TIDINGS_SMS_PROVIDERS\[0\]\.templates"):
            check_channel_settings({"TIDINGS_SMS_PROVIDERS": json.dumps([provider])})
