"""The delivery-health page counts what the worker did: a payment's notice handed to the
inbox is one more in the last hour; a retry and a failure are counted against their provider;
the backlog, latency and breakers are shown with the chart's figures in a table."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from tests.web.console.conftest import Operator, pay_at_cafe, topped_up_user
from tidings.app.context import AppContext
from tidings.app.notify import breaker_readers
from tidings.kit.clock import FixedClock
from tidings.kit.db import write_transaction
from tidings.kit.health import ProviderBoard
from tidings.kit.ids import new_id
from tidings.notify.channels.failover import BreakerPolicy, ProviderChain
from tidings.notify.channels.file_sink import FileSink
from tidings.notify.models import deliveries, delivery_attempts
from tidings.notify.types import ChannelName


def figure(page: str, cell: str) -> int:
    found = re.search(rf'id="{re.escape(cell)}">([\d,]+)<', page)
    assert found is not None, f"no figure {cell}"
    return int(found.group(1).replace(",", ""))


def test_a_payment_delivered_to_the_inbox_counts_one_more(
    client: TestClient, context: AppContext, clock: FixedClock, operator: Operator
) -> None:
    payer = topped_up_user(client, context)
    before = operator.page("/console/")
    sent_hour = figure(before, "sent-hour-inbox-inbox")
    sent_day = figure(before, "sent-day-inbox-inbox")

    clock.at += timedelta(minutes=5)
    pay_at_cafe(client, context, payer["wallet_id"])

    after = operator.page("/console/")
    assert figure(after, "sent-hour-inbox-inbox") == sent_hour + 1
    assert figure(after, "sent-day-inbox-inbox") == sent_day + 1
    assert 'hx-trigger="every 15s"' in after  # htmx refreshes the figures in place

    clock.at += timedelta(hours=2)  # out of the last hour, still in the last day
    later = operator.page("/console/")
    assert figure(later, "sent-hour-inbox-inbox") == 0
    assert figure(later, "sent-day-inbox-inbox") == sent_day + 1


def test_the_figures_alone_come_back_to_htmx_and_the_refresh_can_stop(
    operator: Operator,
) -> None:
    partial = operator.browser.get("/console/", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.startswith('<div id="health"')
    assert "<html" not in partial.text
    still = operator.page("/console/?live=false")
    assert "hx-trigger" not in still
    assert 'href="/console/"' in still


def _delivery(context: AppContext, **values: object) -> str:
    delivery_id = new_id("dlv")
    now = context.clock.now()
    row = {
        "id": delivery_id,
        "notification_id": values.pop("notification_id"),
        "user_id": values.pop("user_id"),
        "channel": "sms",
        "status": "pending",
        "due_at": now,
        "created_at": now,
        **values,
    }
    with write_transaction(context.engine) as conn:
        conn.execute(insert(deliveries), row)
    return delivery_id


def test_retries_failures_and_the_backlog_are_counted_per_provider(
    client: TestClient, context: AppContext, clock: FixedClock, operator: Operator
) -> None:
    payer = topped_up_user(client, context)
    notification_id = client.get(f"/v1/users/{payer['id']}/inbox").json()["items"][0]["id"]
    now = clock.now()
    owner = {"notification_id": notification_id, "user_id": payer["id"]}
    retried = _delivery(context, **owner)
    _delivery(context, **owner, status="failed", provider="aliyun", final_at=now)
    _delivery(context, **owner, due_at=now - timedelta(minutes=3))
    _delivery(context, **owner, due_at=now + timedelta(hours=8))
    with write_transaction(context.engine) as conn:
        conn.execute(
            insert(delivery_attempts),
            [
                {
                    "id": new_id("att"),
                    "delivery_id": retried,
                    "provider": "aliyun",
                    "outcome": outcome,
                    "status_code": 503,
                    "error": "HTTP 503 for +8613812348821",
                    "at": now - timedelta(hours=hours_ago),
                }
                for outcome, hours_ago in (("retryable", 0), ("retryable", 5), ("permanent", 0))
            ],
        )
        conn.execute(update(deliveries).where(deliveries.c.id == retried).values(due_at=now))

    page = operator.page("/console/")
    assert figure(page, "retried-hour-sms-aliyun") == 1
    assert figure(page, "retried-day-sms-aliyun") == 2
    assert figure(page, "failed-hour-sms-aliyun") == 1
    assert figure(page, "due-sms") == 2  # the one to retry now, the one due 3 minutes ago
    assert figure(page, "later-sms") == 1  # due in 8 hours

    attempts = operator.page(f"/console/notifications/{notification_id}")
    assert "Temporary failure: retried" in attempts
    assert "(HTTP 503)" in attempts
    assert "*******8821" in attempts  # the provider's error, its number masked
    assert "13812348821" not in attempts


def test_latency_percentiles_and_the_chart_have_their_table(
    client: TestClient, context: AppContext, clock: FixedClock, operator: Operator
) -> None:
    topped_up_user(client, context)
    page = operator.page("/console/")
    assert "From event to delivery" in page
    assert re.search(r"<abbr[^>]*>p99</abbr>", page)
    assert 'role="img"' in page
    assert page.count('<rect class="bar sent"') == 1  # one hour with deliveries
    assert "Deliveries per hour" in page
    rows = re.findall(r'<th scope="row"><time datetime="([^"]+)"', page)
    assert len(rows) >= 24


def test_breakers_are_shown_where_a_dispatcher_runs(
    context: AppContext, operator: Operator
) -> None:
    page = operator.page("/console/")
    assert "No dispatcher runs in this process" in page
    context.providers.publish(
        {
            ("sms", "aliyun"): lambda: "open",
            ("sms", "backup-sms"): lambda: "half_open",
            ("email", "file"): lambda: None,
        }
    )
    page = operator.page("/console/")
    assert "Open: skipped while it fails" in page
    assert "Half-open: one test message let through" in page
    assert "No breaker (nothing to fail over to)" in page
    chinese = operator.page("/console/?lang=zh-CN")
    assert "熔断" in chinese


def test_the_dispatcher_publishes_each_providers_breaker(tmp_path: Path) -> None:
    sms = ProviderChain(
        [
            FileSink(tmp_path / "a.jsonl", channel=ChannelName.SMS, name="vendor-a"),
            FileSink(tmp_path / "b.jsonl", channel=ChannelName.SMS, name="vendor-b"),
        ],
        breaker=BreakerPolicy(failure_threshold=1),
    )
    email = ProviderChain([FileSink(tmp_path / "e.jsonl", channel=ChannelName.EMAIL)], breaker=None)
    board = ProviderBoard()
    board.publish(breaker_readers({ChannelName.SMS: sms, ChannelName.EMAIL: email}))
    assert [(s.channel, s.provider, s.breaker) for s in board.states()] == [
        ("email", "file", None),
        ("sms", "vendor-a", "closed"),
        ("sms", "vendor-b", "closed"),
    ]
    breaker = sms.breakers[0]
    assert breaker is not None
    breaker.record_failure()
    assert board.states()[1].breaker == "open"  # read when shown, not when published
