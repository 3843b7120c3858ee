"""Events become inbox notices and channel messages through the real relay and dispatcher."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny, create_user, deliver_everything, top_up, transfer
from tidings.app.context import AppContext


def sink_lines(context: AppContext) -> list[dict[str, Any]]:
    path = Path(context.settings.var_dir) / "messages.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def payer(client: TestClient) -> dict[str, Any]:
    user = create_user(client, name="张三丰", phone="13812348821")
    top_up(client, user["wallet_id"], 358_478)
    return user


def test_payment_lands_in_the_inbox_with_figures_and_a_code(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    transfer(
        client,
        kind="payment",
        source=payer["wallet_id"],
        amount=cny(12_800),
        merchant={"name": "星巴克", "category": "5814"},
    )
    deliver_everything(context)
    inbox = client.get(f"/v1/users/{payer['id']}/inbox").json()
    assert inbox["unread_count"] == 2  # the top-up and the payment
    payment = inbox["items"][0]
    assert payment["kind"] == "wallet.payment.succeeded"
    assert "128.00" in payment["body"]
    assert "星巴克" in payment["body"]
    assert "3,456.78" in payment["body"]
    assert "防伪码" in payment["body"]

    genuine = client.post("/v1/messages/verify", json={"text": payment["body"]}).json()
    assert genuine["genuine"] is True
    assert genuine["kind"] == "wallet.payment.succeeded"
    forged = payment["body"].replace("128.00", "1,128.00")
    assert client.post("/v1/messages/verify", json={"text": forged}).json()["genuine"] is False

    read = client.post(f"/v1/notifications/{payment['id']}/read")
    assert read.status_code == 200
    assert read.json()["unread_count"] == 1
    detail = client.get(f"/v1/notifications/{payment['id']}").json()
    channels = {d["channel"]: d["status"] for d in detail["deliveries"]}
    assert channels["inbox"] == "sent"


def test_same_core_event_twice_gives_one_notice(client: TestClient, context: AppContext) -> None:
    payee = create_user(client, locale="en", name="Wang Fang", phone="13812340021")
    event = {
        "specversion": "1.0",
        "id": "core-evt-1",
        "source": "urn:bank:core",
        "type": "wallet.transfer.received",
        "subject": payee["external_id"],
        "time": "2026-11-25T01:12:00Z",
        "data": {"amount": cny(50_000), "counterparty": "Li**", "balance_after": cny(395_678)},
    }
    assert client.post("/v1/events", json=event).status_code == 202
    deliver_everything(context)
    assert client.post("/v1/events", json=event).json()["duplicate"] is True
    deliver_everything(context)
    items = client.get(f"/v1/users/{payee['id']}/inbox").json()["items"]
    assert len(items) == 1
    # 01:12 UTC is 09:12 in Asia/Shanghai, the user's time zone
    assert "received CNY 500.00 from Li** at 09:12" in items[0]["body"]
    assert "Balance CNY 3,956.78" in items[0]["body"]


def test_security_alert_goes_to_several_channels_with_masked_sink_addresses(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    client.put(
        f"/v1/users/{payer['id']}/preferences",
        json={"push_tokens": ["fcm-token-for-this-phone-0001"]},
    )
    event = {
        "specversion": "1.0",
        "id": "sec-1",
        "source": "urn:bank:core",
        "type": "security.login.new_device",
        "subject": payer["id"],
        "data": {"device": "iPhone 15", "city": "深圳"},
    }
    client.post("/v1/events", json=event)
    deliver_everything(context)
    items = client.get(f"/v1/users/{payer['id']}/inbox").json()["items"]
    alert = next(i for i in items if i["kind"] == "security.login.new_device")
    detail = client.get(f"/v1/notifications/{alert['id']}").json()
    assert {d["channel"] for d in detail["deliveries"]} >= {"inbox", "push", "sms", "email"}
    sms = [line for line in sink_lines(context) if line.get("channel") == "sms"]
    assert sms
    assert all("13812348821" not in json.dumps(line) for line in sms)


def test_informational_notices_wait_for_one_daily_digest(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    client.put(
        f"/v1/users/{payer['id']}/preferences",
        json={"channels": {"informational": ["inbox", "sms"]}, "digest": True},
    )
    for n, summary in enumerate(("您反馈的问题已处理", "您的建议已采纳")):
        client.post(
            "/v1/events",
            json={
                "specversion": "1.0",
                "id": f"ticket-{n}",
                "source": "urn:helpdesk",
                "type": "followup.ticket.answered",
                "subject": payer["id"],
                "data": {"ticket_id": f"T-{n}", "summary": summary},
            },
        )
    deliver_everything(context)
    assert [line for line in sink_lines(context) if line["channel"] == "sms"] == []
    assert len(client.get(f"/v1/users/{payer['id']}/inbox").json()["items"]) == 3

    tomorrow_evening = (context.clock.now() + timedelta(days=1)).replace(
        hour=13, minute=30
    )  # 21:30 in Asia/Shanghai, after the 20:00 digest
    refused = client.post(
        "/v1/jobs/notify.digests/runs", json={"as_of": tomorrow_evening.isoformat()}
    )
    assert refused.status_code == 422
    context.settings.allow_time_travel = True
    ran = client.post("/v1/jobs/notify.digests/runs", json={"as_of": tomorrow_evening.isoformat()})
    assert ran.status_code == 202, ran.text
    assert ran.json()["deliveries"] == 2
    again = client.post(
        "/v1/jobs/notify.digests/runs", json={"as_of": tomorrow_evening.isoformat()}
    )
    assert again.json()["deliveries"] == 0
    digests = [line for line in sink_lines(context) if line["channel"] == "sms"]
    assert len(digests) == 1
    assert "您有2条新通知" in digests[0]["body"]


def test_status_changes_reach_the_subscribed_system_as_webhooks(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    context.settings.status_webhook_url = "https://ops.example.com/tidings-status"
    transfer(client, kind="withdrawal", source=payer["wallet_id"], amount=cny(1_000))
    deliver_everything(context)
    hooks = [line for line in sink_lines(context) if line["channel"] == "webhook"]
    # one per delivery that reached a final status: the top-up's and the withdrawal's inbox
    assert len(hooks) == 2
    assert {h["kind"] for h in hooks} == {"notify.delivery.updated"}
    assert {h["to"] for h in hooks} == {"https://ops.example.com/…"}


def _due_reminder(event_id: str, subject: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:bank:core",
        "type": "credit.repayment.due",
        "subject": subject,
        "time": "2026-11-25T01:00:00Z",
        "data": {
            "drawdown_id": "loan-77",
            "amount_due": cny(201_650),
            "due_date": "2026-11-28",
            "days_before": 3,
        },
    }


@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "later-batch"])
def test_a_reminder_the_core_sends_twice_under_two_ids_reaches_the_user_once(
    client: TestClient, context: AppContext, same_batch: bool
) -> None:
    borrower = create_user(client, name="李四", phone="13812340077")
    first = client.post("/v1/events", json=_due_reminder("core-a", borrower["external_id"]))
    assert first.status_code == 202
    if not same_batch:
        deliver_everything(context)
    again = client.post("/v1/events", json=_due_reminder("core-b", borrower["external_id"]))
    assert again.status_code == 202
    deliver_everything(context)

    items = client.get(f"/v1/users/{borrower['id']}/inbox").json()["items"]
    assert [item["kind"] for item in items] == ["credit.repayment.due"]


def test_events_relayed_again_after_a_crash_make_no_second_notice(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    from sqlalchemy import update

    from tidings.events import outbox
    from tidings.kit.db import write_transaction

    deliver_everything(context)
    with write_transaction(context.engine) as conn:  # as if the relay's commit was lost
        conn.execute(update(outbox).values(relayed_at=None))
    deliver_everything(context)

    items = client.get(f"/v1/users/{payer['id']}/inbox").json()["items"]
    assert [item["kind"] for item in items] == ["wallet.top_up.succeeded"]


def test_a_payment_chosen_for_sms_only_goes_by_sms_while_top_ups_keep_the_category(
    client: TestClient, context: AppContext, payer: dict[str, Any]
) -> None:
    client.put(
        f"/v1/users/{payer['id']}/preferences",
        json={
            "channels": {"transactional": ["inbox"]},
            "kind_channels": {"wallet.payment.succeeded": ["sms"]},
        },
    )
    transfer(
        client,
        kind="payment",
        source=payer["wallet_id"],
        amount=cny(12_800),
        merchant={"name": "星巴克", "category": "5814"},
    )
    deliver_everything(context)
    kinds = [item["kind"] for item in client.get(f"/v1/users/{payer['id']}/inbox").json()["items"]]
    assert kinds == ["wallet.top_up.succeeded"]
    sms = [line for line in sink_lines(context) if line["channel"] == "sms"]
    assert len(sms) == 1
    assert "128.00" in sms[0]["body"]
