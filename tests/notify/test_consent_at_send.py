"""Marketing is checked again when it is sent: consent withdrawn after queueing, a window
that closed, a cap that filled. Withdrawing consent cancels what is pending at once.

The story of issue #12: a promotion queued at 07:31 is held for the 08:00 window; the user
withdraws SMS marketing consent at 07:35; at 08:00 nothing may go by SMS.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, select

from tests.helpers import create_user, deliver_everything
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.events import outbox
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.notify import repository
from tidings.notify.planner import PlannerPolicy
from tidings.notify.types import Category

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROMOTION = "marketing.promotion"
_events = itertools.count(1)


def shanghai(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(shanghai(24, 7, 31))
    context.clock = fixed
    return fixed


def sink(context: AppContext, channel: str) -> list[dict[str, Any]]:
    path = Path(context.settings.var_dir) / "messages.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["channel"] == channel]


def promote(
    client: TestClient,
    user: dict[str, Any],
    title: str = "双十二满减",
    *,
    personalised: bool = False,
) -> None:
    data = {"campaign_id": f"cmp-{next(_events)}", "title": title, "body": "满100减20"}
    response = client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": f"promo-{next(_events)}",
            "source": "urn:campaigns",
            "type": PROMOTION,
            "subject": user["id"],
            "data": {**data, "personalised": personalised},
        },
    )
    assert response.status_code == 202, response.text


def withdraw_quietly(
    context: AppContext, user_id: str, *, purpose: str, channel: str, at: datetime
) -> None:
    """A withdrawal written to the consent ledger by a path that cancels nothing (an import,
    a row committed while the batch was being claimed): only the send-time check sees it."""
    with write_transaction(context.engine) as conn:
        repository.insert_consent_event(
            conn,
            {
                "id": new_id("cns"),
                "user_id": user_id,
                "channel": channel,
                "purpose": purpose,
                "granted": False,
                "method": "import",
                "actor": "operator",
                "evidence": "CRM export 2026-11-24",
                "at": at,
            },
        )


def marketing_user(
    client: TestClient, *, channels: tuple[str, ...] = ("inbox", "sms"), **consent: bool
) -> dict[str, Any]:
    user = create_user(client)
    response = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"channels": {"marketing": list(channels)}, "marketing_consent": consent},
    )
    assert response.status_code == 200, response.text
    return user


def deliveries(client: TestClient, user: dict[str, Any], kind: str = PROMOTION) -> list[Any]:
    """Each notice of that kind as {channel: (status, reason, due_at)}, newest first."""
    page = client.get(f"/v1/users/{user['id']}/notifications").json()
    found = []
    for item in page["items"]:
        if item["kind"] != kind:
            continue
        detail = client.get(f"/v1/notifications/{item['id']}").json()
        found.append(
            {d["channel"]: (d["status"], d["reason"], d["due_at"]) for d in detail["deliveries"]}
        )
    return found


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def test_consent_withdrawn_after_queueing_cancels_the_sms(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = marketing_user(client, inbox=True, sms=True)
    promote(client, user)
    deliver_everything(context)  # 07:31: held for the window
    [queued] = deliveries(client, user)
    assert queued["sms"][:2] == ("pending", "marketing_window")
    assert utc(queued["sms"][2]) == shanghai(24, 8)

    clock.at = shanghai(24, 7, 35)
    withdrawn = client.put(
        f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"sms": False}}
    )
    assert withdrawn.status_code == 200

    clock.at = shanghai(24, 8)
    deliver_everything(context)
    assert sink(context, "sms") == []
    [after] = deliveries(client, user)
    assert after["sms"][:2] == ("cancelled", "no_consent")
    assert after["inbox"][0] == "sent"  # inbox consent stands
    inbox = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    assert [item["kind"] for item in inbox] == [PROMOTION]


def test_withdrawing_consent_cancels_pending_marketing_deliveries_at_once(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = marketing_user(client, inbox=True, sms=True)
    client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"kind_channels": {"followup.ticket.answered": ["sms"]}, "digest": False},
    )
    promote(client, user, "双十二满减")
    promote(client, user, "年终好礼")
    client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": "ticket-answer-1",
            "source": "urn:helpdesk",
            "type": "followup.ticket.answered",
            "subject": user["id"],
            "data": {"ticket_id": "T-1", "summary": "您反馈的问题已处理"},
        },
    )
    relay_once(context, PlannerPolicy())  # planned, nothing sent yet
    assert [d["sms"][:2] for d in deliveries(client, user)] == [
        ("pending", "marketing_window"),
        ("pending", "marketing_window"),
    ]

    clock.at = shanghai(24, 7, 35)
    client.put(f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"sms": False}})
    # no worker has run: the withdrawal itself stopped them
    after = deliveries(client, user)
    assert [d["sms"][:2] for d in after] == [("cancelled", "no_consent")] * 2
    assert [d["inbox"][0] for d in after] == ["pending", "pending"]
    [answer] = deliveries(client, user, "followup.ticket.answered")
    assert answer["sms"][0] == "pending"  # not marketing: untouched


def test_an_sms_unsubscribe_reply_cancels_pending_marketing_sms_at_once(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = marketing_user(
        client, channels=("inbox", "sms", "email"), inbox=True, sms=True, email=True
    )
    promote(client, user)
    relay_once(context, PlannerPolicy())  # 07:31: held for the 08:00 window
    context.settings.callback_token = SecretStr("cb-secret")
    phone = "1381234" + user["external_id"].removeprefix("ext-").zfill(4)
    reply = [{"phone_number": phone, "content": "退订", "sequence_id": 9}]
    answered = client.post("/v1/providers/aliyun/sms-up?token=cb-secret", json=reply)
    assert answered.status_code == 200
    [after] = deliveries(client, user)
    assert after["sms"][:2] == ("cancelled", "no_consent")
    assert after["email"][0] == "pending"
    assert after["inbox"][0] == "pending"


def test_a_claimed_batch_is_checked_against_the_consent_ledger_as_it_stands(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """A ledger row written by a path that cancels nothing (an import, a row committed while
    the batch was being claimed) still stops the send."""
    user = marketing_user(client, inbox=True, sms=True)
    promote(client, user)
    deliver_everything(context)
    withdraw_quietly(
        context, user["id"], purpose="marketing", channel="sms", at=shanghai(24, 7, 40)
    )
    clock.at = shanghai(24, 8)
    deliver_everything(context)
    assert sink(context, "sms") == []
    [after] = deliveries(client, user)
    assert after["sms"][:2] == ("cancelled", "no_consent")
    assert after["inbox"][0] == "sent"


def test_marketing_delivery_outside_window_at_send_time_waits(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """Planned at 19:30, due at once; the worker was down until 22:30: it waits for 08:00."""
    user = marketing_user(client, inbox=True, sms=True)
    clock.at = shanghai(24, 19, 30)
    promote(client, user)
    relay_once(context, PlannerPolicy())
    [planned] = deliveries(client, user)
    assert planned["sms"][:2] == ("pending", None)

    clock.at = shanghai(24, 22, 30)
    deliver_everything(context)
    assert sink(context, "sms") == []
    assert client.get(f"/v1/users/{user['id']}/inbox").json()["items"] == []
    [waiting] = deliveries(client, user)
    for channel in ("sms", "inbox"):
        assert waiting[channel][:2] == ("pending", "marketing_window")
        assert utc(waiting[channel][2]) == shanghai(25, 8)

    clock.at = shanghai(25, 8)
    deliver_everything(context)
    assert len(sink(context, "sms")) == 1
    [sent] = deliveries(client, user)
    assert sent["sms"][0] == "sent"
    assert sent["inbox"][0] == "sent"


def test_marketing_over_the_cap_at_send_time_is_not_sent(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """Planned under a looser cap than the one in force when it is sent."""
    clock.at = shanghai(24, 10)
    user = marketing_user(client, inbox=True, sms=True)
    loose = PlannerPolicy(category_caps={Category.MARKETING: (timedelta(days=1), 5)})
    for title in ("一", "二", "三"):
        promote(client, user, title)
    deliver_everything(context, loose)
    assert len(sink(context, "sms")) == 2  # the cap in force: 2 a day
    statuses = sorted(d["sms"][:2] for d in deliveries(client, user))
    assert statuses == [("sent", None), ("sent", None), ("suppressed", "cap")]
    assert len(client.get(f"/v1/users/{user['id']}/inbox").json()["items"]) == 3


def test_new_user_gets_no_marketing_in_inbox_without_consent(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = shanghai(24, 10)
    user = create_user(client)
    consent = client.get(f"/v1/users/{user['id']}/preferences").json()["marketing_consent"]
    assert consent == {
        "inbox": False,
        "push": False,
        "sms": False,
        "email": False,
        "webhook": False,
    }
    promote(client, user, "新人礼包")
    deliver_everything(context)
    assert client.get(f"/v1/users/{user['id']}/inbox").json()["items"] == []
    [refused] = deliveries(client, user)
    assert refused["inbox"][:2] == ("suppressed", "no_consent")

    granted = client.put(
        f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"inbox": True}}
    )
    assert granted.json()["marketing_consent"]["inbox"] is True
    promote(client, user, "会员日")
    deliver_everything(context)
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    assert [item["kind"] for item in items] == [PROMOTION]
    assert "会员日" in items[0]["title"] + items[0]["body"]


def test_send_time_checks_cost_the_same_queries_for_one_user_or_many(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = shanghai(24, 10)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # operator templates are looked up per (kind, channel, locale) and cached for seconds
        if "notify_templates" not in statement and not statement.startswith("BEGIN"):
            statements.append(statement)

    def dispatch_batch(users: int) -> int:
        for _ in range(users):
            promote(client, marketing_user(client, inbox=True, sms=True))
        relay_once(context, PlannerPolicy())
        dispatcher = build_dispatcher(context)
        statements.clear()
        event.listen(context.engine, "before_cursor_execute", count)
        try:
            handled = dispatcher.run_once()
        finally:
            event.remove(context.engine, "before_cursor_execute", count)
            dispatcher.close()
        assert handled == 2 * users
        return len(statements)

    assert dispatch_batch(1) == dispatch_batch(12)


def test_cancellations_on_withdrawal_reach_the_status_webhook_subscriber(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    context.settings.status_webhook_url = "https://ops.example.com/tidings-status"
    user = marketing_user(client, inbox=True, sms=True)
    promote(client, user)
    relay_once(context, PlannerPolicy())
    client.put(f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"sms": False}})
    with read_transaction(context.engine) as conn:
        changes = [
            dict(row.data)
            for row in conn.execute(
                select(outbox.c.data).where(outbox.c.type == "notify.delivery.updated")
            )
        ]
    assert [(c["channel"], c["status"], c["reason"]) for c in changes] == [
        ("sms", "cancelled", "no_consent")
    ]


# -- personalised marketing (PIPL art. 24): turned off between the event and the send -------


def test_a_personalised_promotion_posted_before_personalisation_is_turned_off_is_not_sent(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """Posted at 07:31, not yet relayed when the user turns personalisation off at 07:32:
    no delivery existed to cancel, so the planner itself must refuse it."""
    user = marketing_user(client, inbox=True, sms=True)
    promote(client, user, "你常去的餐厅满减", personalised=True)
    clock.at = shanghai(24, 7, 32)
    turned_off = client.put(
        f"/v1/users/{user['id']}/preferences", json={"personalised_marketing": False}
    )
    assert turned_off.json()["personalised_marketing"] is False
    clock.at = shanghai(24, 8)
    deliver_everything(context)
    assert sink(context, "sms") == []
    assert client.get(f"/v1/users/{user['id']}/inbox").json()["items"] == []
    [refused] = deliveries(client, user)
    for channel in ("inbox", "sms"):
        assert refused[channel][:2] == ("suppressed", "personalisation_off")


def test_a_generic_promotion_still_goes_when_personalisation_is_off(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = shanghai(24, 10)
    user = marketing_user(client, inbox=True, sms=True)
    client.put(f"/v1/users/{user['id']}/preferences", json={"personalised_marketing": False})
    promote(client, user, "会员日", personalised=False)
    promote(client, user, "你常去的餐厅满减", personalised=True)
    deliver_everything(context)
    [sms] = sink(context, "sms")
    assert "会员日" in sms["body"]
    [item] = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    assert "会员日" in item["title"] + item["body"]
    personalised, generic = deliveries(client, user)  # newest first
    assert {c: d[:2] for c, d in generic.items()} == {
        "inbox": ("sent", None),
        "sms": ("sent", None),
    }
    assert {c: d[:2] for c, d in personalised.items()} == {
        "inbox": ("suppressed", "personalisation_off"),
        "sms": ("suppressed", "personalisation_off"),
    }


def test_personalisation_turned_off_after_planning_cancels_at_send(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """Planned at 07:31 for the 08:00 window while personalisation was on; a ledger row that
    cancelled nothing turned it off at 07:40: at 08:00 the personalised one is cancelled on
    every channel, the generic one goes."""
    user = marketing_user(client, inbox=True, sms=True)
    promote(client, user, "会员日", personalised=False)
    promote(client, user, "你常去的餐厅满减", personalised=True)
    relay_once(context, PlannerPolicy())
    assert [d["sms"][:2] for d in deliveries(client, user)] == [("pending", "marketing_window")] * 2
    at = shanghai(24, 7, 40)
    withdraw_quietly(context, user["id"], purpose="personalisation", channel="all", at=at)
    clock.at = shanghai(24, 8)
    deliver_everything(context)
    [sms] = sink(context, "sms")
    assert "会员日" in sms["body"]
    personalised, generic = deliveries(client, user)
    assert {c: d[:2] for c, d in personalised.items()} == {
        "inbox": ("cancelled", "personalisation_off"),
        "sms": ("cancelled", "personalisation_off"),
    }
    assert {c: d[0] for c, d in generic.items()} == {"inbox": "sent", "sms": "sent"}
