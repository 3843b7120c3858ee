"""Every campaign message carries its way out (`/u/`, or 回T退订 by SMS) and a tracked link
(`/l/`, one click counted, 302 to the content); the whole path with the file sink: 200 users
in three time zones, two variants and a 10% control group."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.campaigns.support import (
    consenting_user,
    create_campaign,
    deliver_everything,
    dispatch,
    launch,
    recipients,
    shanghai,
)
from tidings.app.context import AppContext
from tidings.campaigns.events import make_link_token
from tidings.kit.clock import FixedClock

NOW = shanghai(24, 10)
LINK = re.compile(r"https?://[^\s]+/l/([\w-]+\.[\w-]+)")
UNSUBSCRIBE = re.compile(r"https?://[^\s]+/u/([\w.-]+)")


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(NOW)
    context.clock = fixed
    return fixed


def sent_messages(context: AppContext) -> list[dict[str, Any]]:
    path = Path(context.settings.var_dir) / "messages.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["kind"] == "marketing.promotion"]


def test_the_tracked_link_counts_one_click_and_redirects_to_the_content(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    reader = consenting_user(client, locale="en")
    campaign = create_campaign(client)
    launch(client, campaign["id"])
    dispatch(context)
    deliver_everything(context)
    body = client.get(f"/v1/users/{reader['id']}/inbox").json()["items"][0]["body"]
    token = LINK.search(body)
    assert token is not None, body

    first = client.get(f"/l/{token.group(1)}", follow_redirects=False)
    second = client.get(f"/l/{token.group(1)}", follow_redirects=False)

    assert first.status_code == second.status_code == 302
    assert first.headers["location"] == "https://shop.example.com/en/topup"
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["variants"][0]["clicked"] == 1


@pytest.mark.parametrize(
    "token",
    ["nope", "a.b", "x" * 300, "aHR0cHM6Ly9ldmlsLmV4YW1wbGU.AAAAAAAAAAAAAAAAAAAAAA"],
)
def test_an_unknown_link_is_a_plain_404_page_never_a_redirect(
    client: TestClient, token: str
) -> None:
    response = client.get(f"/l/{token}", follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers


def test_a_control_member_has_no_link_to_follow(
    client: TestClient, context: AppContext, keyring: Any, clock: FixedClock
) -> None:
    users = [consenting_user(client) for _ in range(12)]
    campaign = create_campaign(client, control_percent=50)
    launch(client, campaign["id"])
    dispatch(context)
    split = recipients(context, campaign["id"])
    control = next(u for u in users if split[u["id"]] is None)
    token = make_link_token(keyring, campaign_id=campaign["id"], user_id=control["id"])

    assert client.get(f"/l/{token}", follow_redirects=False).status_code == 404


def test_the_unsubscribe_link_withdraws_consent_for_that_channel(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = consenting_user(client, channels=("inbox", "sms"))
    campaign = create_campaign(client, channels=["inbox", "sms"])
    launch(client, campaign["id"])
    dispatch(context)
    deliver_everything(context)
    by_channel = {m["channel"]: m["body"] for m in sent_messages(context)}
    assert "回T退订" in by_channel["sms"]
    inbox = client.get(f"/v1/users/{user['id']}/inbox").json()["items"][0]["body"]
    token = UNSUBSCRIBE.search(inbox)
    assert token is not None, inbox

    page = client.get(f"/u/{token.group(1)}")
    confirmed = client.post(f"/u/{token.group(1)}")

    assert page.status_code == confirmed.status_code == 200
    consent = client.get(f"/v1/users/{user['id']}/preferences").json()["marketing_consent"]
    assert consent["inbox"] is False
    assert consent["sms"] is True
    later = create_campaign(client, channels=["inbox"])
    audience = client.get(f"/v1/campaigns/{later['id']}/audience").json()
    assert audience["excluded"]["no_consent"] == 1


def test_two_hundred_users_three_zones_two_variants_and_a_control_group(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    zones = ("Asia/Shanghai", "Europe/London", "America/New_York")
    users = [
        consenting_user(client, channels=("inbox", "email"), timezone=zones[n % 3])
        for n in range(200)
    ]
    second = {
        "key": "b",
        "weight": 1,
        "content": {
            "zh-CN": {
                "title": "充值返现",
                "body": "充值满50返5元",
                "url": "https://shop.example.com/b",
            }
        },
    }
    body = create_campaign(client, control_percent=10)
    campaign = client.put(
        f"/v1/campaigns/{body['id']}",
        json={
            "name": body["name"],
            "segment": {"all": []},
            "variants": [*body["variants"], second],
            "control_percent": 10,
            "channels": ["inbox", "email"],
        },
    ).json()
    launch(client, campaign["id"])
    dispatch(context)
    for hours in (0, 6, 12, 18, 24):  # every zone's window opens within the day
        clock.at = NOW + timedelta(hours=hours)
        deliver_everything(context)
    dispatch(context)

    split = recipients(context, campaign["id"])
    treated = [u for u in users if split[u["id"]] is not None]
    messages = sent_messages(context)  # the file sink: every email
    assert len(messages) == len(treated)
    inboxes = [client.get(f"/v1/users/{u['id']}/inbox").json()["items"] for u in treated]
    bodies = [m["body"] for m in messages] + [i["body"] for items in inboxes for i in items]
    assert len(bodies) == 2 * len(treated)
    for body in bodies:
        assert UNSUBSCRIBE.search(body), body
        assert LINK.search(body), body
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert report["status"] == "sent"
    assert report["audience"] == 200
    assert 5 <= report["control"]["recipients"] <= 35
    assert sum(v["sent"] for v in report["variants"]) == len(treated)
    assert report["suppressed"]["outside_window"] > 0
    link = LINK.search(messages[0]["body"])
    assert link is not None
    assert client.get(f"/l/{link.group(1)}", follow_redirects=False).status_code == 302
    assert client.get(f"/l/{link.group(1)}", follow_redirects=False).status_code == 302
    report = client.get(f"/v1/campaigns/{campaign['id']}/report").json()
    assert sum(v["clicked"] for v in report["variants"]) == 1
