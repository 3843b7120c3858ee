"""Launch: the audience is frozen once, split by a stable hash, and handed to the planner;
each user's sending window is their own; consent and caps hold; nothing goes twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.campaigns.support import (
    campaign_deliveries,
    consenting_user,
    count_notices,
    create_campaign,
    deliver_everything,
    dispatch,
    launch,
    recipients,
    shanghai,
)
from tests.helpers import cny, top_up, transfer
from tidings.app.context import AppContext
from tidings.campaigns.assignment import assign, bucket, slices
from tidings.config import Settings
from tidings.kit.clock import FixedClock

NOW = shanghai(24, 10)  # 10:00 in Shanghai is 21:00 the evening before in New York


def promotions(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    return [item for item in items if item["kind"] == "marketing.promotion"]


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(NOW)
    context.clock = fixed
    return fixed


def test_marketing_to_new_york_user_waits_for_8am_new_york(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    new_yorker = consenting_user(client, timezone="America/New_York")
    shanghai_user = consenting_user(client)
    campaign = create_campaign(client)
    launch(client, campaign["id"])

    dispatch(context)

    due = {
        d.user_id: (d.status, d.reason, d.due_at)
        for d in campaign_deliveries(context, campaign["id"])
    }
    assert due[shanghai_user["id"]] == ("pending", None, NOW)
    eight_new_york = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert due[new_yorker["id"]] == ("pending", "marketing_window", eight_new_york)
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["suppressed"]["outside_window"] == 1
    deliver_everything(context)
    inbox = client.get(f"/v1/users/{new_yorker['id']}/inbox").json()
    assert inbox["items"] == []  # 21:00 in New York: it waits
    clock.at = eight_new_york
    deliver_everything(context)
    inbox = client.get(f"/v1/users/{new_yorker['id']}/inbox").json()
    assert [item["title"] for item in inbox["items"]] == ["话费充值满50减5"]


def test_a_channel_without_consent_is_suppressed_and_counted(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    inbox_only = consenting_user(client, channels=("inbox",))
    campaign = create_campaign(client, channels=["inbox", "sms"])
    launch(client, campaign["id"])

    dispatch(context)

    # The refused SMS is counted on the campaign, not stored as a delivery row.
    got = {d.channel: (d.status, d.reason) for d in campaign_deliveries(context, campaign["id"])}
    assert got == {"inbox": ("pending", None)}
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["suppressed"] == {"no_consent": 1, "outside_window": 0, "capped": 0}
    assert inbox_only["id"] in recipients(context, campaign["id"])
    dispatch(context)
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["suppressed"]["no_consent"] == 1  # a re-run counts nobody twice


def test_the_cap_counts_the_channels_planned_before_in_the_same_campaign(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    consenting_user(client, channels=("sms", "email"))
    first = create_campaign(client, channels=["sms"])["id"]
    second = create_campaign(client, channels=["sms", "email"])["id"]
    for campaign_id in (first, second):
        launch(client, campaign_id)

    dispatch(context)

    got = {d.channel: (d.status, d.reason) for d in campaign_deliveries(context, second)}
    # One marketing SMS earlier today, a cap of two: the SMS goes, the email is capped.
    assert got == {"sms": ("pending", None), "email": ("suppressed", "cap")}


def test_the_daily_marketing_cap_holds_across_campaigns(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    consenting_user(client, channels=("sms",))
    ids = [create_campaign(client, channels=["sms"])["id"] for _ in range(3)]
    for campaign_id in ids:
        launch(client, campaign_id)

    dispatch(context)

    statuses = [[(d.status, d.reason) for d in campaign_deliveries(context, i)] for i in ids]
    assert statuses == [[("pending", None)], [("pending", None)], [("suppressed", "cap")]]
    report = client.get(f"/v1/campaigns/{ids[2]}/report").json()
    assert report["suppressed"]["capped"] == 1


def test_control_group_receives_nothing_and_still_counts_conversions(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    users = [consenting_user(client) for _ in range(30)]
    for user in users:
        top_up(client, user["wallet_id"], 10_000)
    campaign = create_campaign(
        client,
        control_percent=50,
        conversion={"event_type": "wallet.payment.succeeded", "within_hours": 48},
    )
    launch(client, campaign["id"])
    dispatch(context)
    deliver_everything(context)

    split = recipients(context, campaign["id"])
    control = [u for u in users if split[u["id"]] is None]
    treated = [u for u in users if split[u["id"]] == "a"]
    assert control
    assert treated
    assert len(control) + len(treated) == 30
    for user in control:
        assert promotions(client, user) == []
    for user in treated:
        assert len(promotions(client, user)) == 1
    # Each group as the stable hash says, in Python as in SQL.
    plan = slices(50, [("a", 1)])
    assert all(assign(bucket(campaign["id"], u["id"]), plan) == split[u["id"]] for u in users)

    clock.at = NOW + timedelta(hours=1)
    for user in (control[0], treated[0], treated[1]):
        transfer(
            client,
            kind="payment",
            source=user["wallet_id"],
            amount=cny(5_000),
            merchant={"name": "中国移动", "category": "4814"},
        )
    clock.at = NOW + timedelta(hours=2)
    assert client.post("/v1/jobs/campaigns.conversions/runs", json={}).status_code == 202
    assert client.post("/v1/jobs/campaigns.conversions/runs", json={}).status_code == 202

    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["control"] == {
        "recipients": len(control),
        "converted": 1,
        "conversion_rate": 1 / len(control),
    }
    variant = report["variants"][0]
    assert (variant["recipients"], variant["sent"], variant["converted"]) == (
        len(treated),
        len(treated),
        2,
    )
    assert variant["uplift"] == pytest.approx(2 / len(treated) - 1 / len(control))
    assert variant["p_value"] is not None


def test_a_second_launch_is_409_and_a_rerun_sends_nothing_twice(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    users = [consenting_user(client) for _ in range(5)]
    campaign = create_campaign(client)
    launch(client, campaign["id"])
    dispatch(context)
    before = campaign_deliveries(context, campaign["id"])

    launch(client, campaign["id"], expect=409)
    dispatch(context)
    deliver_everything(context)
    dispatch(context)

    assert len(before) == len(users)
    assert len(campaign_deliveries(context, campaign["id"])) == len(users)
    assert count_notices(context, campaign["id"]) == len(users)
    for user in users:
        assert len(promotions(client, user)) == 1
    assert client.get(f"/v1/campaigns/{campaign['id']}").json()["status"] == "sent"


def test_later_sign_ups_are_not_in_a_launched_campaign(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    early = consenting_user(client)
    campaign = create_campaign(client)
    launch(client, campaign["id"])
    clock.at = NOW + timedelta(minutes=1)
    consenting_user(client)

    dispatch(context)

    assert set(recipients(context, campaign["id"])) == {early["id"]}


_KILLED_WORKER = """
import os, sys
from datetime import datetime
from pydantic import SecretStr
from tests.conftest import DATA_KEY, LOOKUP_KEY
from tidings.app import campaigns as root
from tidings.app.context import AppContext
from tidings.config import Settings
from tidings.kit.db import make_engine
from tidings.privacy.crypto import Keyring

settings = Settings(database_url=sys.argv[1], campaign_batch=4,
                    data_key=SecretStr(DATA_KEY), lookup_key=SecretStr(LOOKUP_KEY))
keyring = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)
context = AppContext(settings=settings, engine=make_engine(settings.database_url), keyring=keyring)
real = root.bulk.plan_bulk_marketing
pages = 0
def dying(conn, **kw):
    global pages
    pages += 1
    result = real(conn, **kw)
    if pages == 3:  # the third page is written but not committed when the process dies
        os._exit(9)
    return result
root.bulk.plan_bulk_marketing = dying
root.dispatch_campaigns(context, datetime.fromisoformat(sys.argv[2]))
"""


def test_a_freeze_killed_in_the_middle_resumes_without_duplicates(
    client: TestClient, context: AppContext, settings: Settings, clock: FixedClock
) -> None:
    users = [consenting_user(client) for _ in range(25)]
    campaign = create_campaign(client, control_percent=20)
    launch(client, campaign["id"])
    small = settings.model_copy(update={"campaign_batch": 4})

    worker = subprocess.run(
        [sys.executable, "-c", _KILLED_WORKER, settings.database_url, NOW.isoformat()],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        timeout=120,
        check=False,
    )

    assert worker.returncode == 9, worker.stderr[-2000:]
    half = recipients(context, campaign["id"])
    assert len(half) == 8  # two pages of four committed, the third lost with the process
    context.settings = small
    dispatch(context)
    dispatch(context)
    split = recipients(context, campaign["id"])
    assert set(split) == {u["id"] for u in users}
    treated = [u for u, variant in split.items() if variant is not None]
    assert sorted(d.user_id for d in campaign_deliveries(context, campaign["id"])) == sorted(
        treated
    )
    assert count_notices(context, campaign["id"]) == len(treated)
    assert json.loads(client.get(f"/v1/campaigns/{campaign['id']}").text)["recipients"] == 25
