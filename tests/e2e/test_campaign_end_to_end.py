"""A campaign on a real server: `tidings serve` (API and worker in one process, SQLite, the
file sink for SMS and email), driven over HTTP only.

200 users in three time zones where it is now late morning, early afternoon and mid
afternoon (so every window is open whenever the test runs), two variants and a 10 % control
group, on the inbox, SMS and email. What a marketer and the users would notice: every message
carries its way out (`/u/`, or 回T退订 by SMS) and its tracked `/l/` link; the control group
gets nothing; a link followed twice is one click in the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e_notify.support import (
    cluster,
    environment,
    ok,
    operator,
    wait_until,
    zone_where_it_is,
)
from tidings.campaigns.assignment import assign, bucket, slices

pytestmark = pytest.mark.e2e

USERS = 200
TIMEOUT = 45.0
LINK = re.compile(r"https?://[^\s]+/l/[\w-]+\.[\w-]+")
UNSUBSCRIBE = re.compile(r"https?://[^\s]+/u/[\w.-]+")
CHANNELS = ["inbox", "sms", "email"]
SMS_WAY_OUT = ("回T退订", "Reply T to unsubscribe")
"""An SMS's way out, in Chinese and (for the users whose locale is en) in English."""


def variant(key: str, title: str, url: str) -> dict[str, Any]:
    return {
        "key": key,
        "weight": 1,
        "content": {
            "zh-CN": {"title": title, "body": "本周话费充值满50元立减5元", "url": url},
            "en": {"title": "CNY 5 off", "body": "Top up CNY 50, save CNY 5", "url": url},
        },
    }


def new_user(client: httpx.Client, n: int, timezone: str) -> str:
    user = ok(
        client.post(
            "/v1/users",
            json={
                "external_id": f"cmp-e2e-{n}",
                "name": "李雷",
                "phone": f"1390000{n:04d}",
                "email": f"li{n}@example.com",
                "locale": "en" if n % 4 == 0 else "zh-CN",
                "timezone": timezone,
            },
        ),
        201,
    )
    ok(
        client.put(
            f"/v1/users/{user['id']}/preferences",
            json={
                "channels": {"marketing": CHANNELS},
                "marketing_consent": dict.fromkeys(CHANNELS, True),
            },
        )
    )
    return str(user["id"])


def sent(var_dir: Path) -> list[dict[str, Any]]:
    """Every promotion the file sink holds (SMS and email)."""
    path = var_dir / "messages.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [m for m in map(json.loads, lines) if m["kind"] == "marketing.promotion"]


def promotions(client: httpx.Client, user_id: str) -> list[dict[str, Any]]:
    items = ok(client.get(f"/v1/users/{user_id}/inbox", params={"limit": 100}))["items"]
    return [item for item in items if item["kind"] == "marketing.promotion"]


def test_a_campaign_to_200_users_in_three_zones_on_a_real_server(tmp_path: Path) -> None:
    zones = [zone_where_it_is(hour)[0] for hour in (11, 13, 15)]
    var_dir = tmp_path / "var"
    env = environment(f"sqlite:///{tmp_path / 'tidings.db'}", var_dir)
    with cluster(tmp_path, env) as running:
        server = running.serve()
        assert server.base_url is not None
        with operator(server.base_url) as client:
            users = [new_user(client, n, zones[n % 3]) for n in range(USERS)]
            campaign = ok(
                client.post(
                    "/v1/campaigns",
                    json={
                        "name": "话费充值满50减5",
                        "segment": {"all": []},
                        "variants": [
                            variant("a", "话费充值满50减5", "https://shop.example.com/a"),
                            variant("b", "充值立减", "https://shop.example.com/b"),
                        ],
                        "control_percent": 10,
                        "channels": CHANNELS,
                    },
                ),
                201,
            )
            ok(
                client.post(
                    f"/v1/campaigns/{campaign['id']}/launch",
                    headers={"Idempotency-Key": "e2e-launch"},
                ),
                202,
            )
            ok(client.post("/v1/jobs/campaigns.dispatch/runs", json={}), 202)

            plan = slices(10, [("a", 1), ("b", 1)])
            control = {u for u in users if assign(bucket(campaign["id"], u), plan) is None}
            treated = [u for u in users if u not in control]
            assert 5 <= len(control) <= 40
            # Every treated user gets one SMS and one email (the sink), and an inbox message.
            wait_until(
                lambda: len(sent(var_dir)) >= 2 * len(treated),
                timeout=TIMEOUT,
                what="every SMS and email of the campaign",
                watch=running,
            )

            def status() -> bool:
                ok(client.post("/v1/jobs/campaigns.dispatch/runs", json={}), 202)
                report = ok(client.get(f"/v1/campaigns/{campaign['id']}/report"))
                return report["status"] == "sent"

            wait_until(status, timeout=TIMEOUT, what="the campaign to be sent", interval=0.5)

            messages = sent(var_dir)
            assert sorted(m["channel"] for m in messages) == sorted(["sms", "email"] * len(treated))
            inboxes = {u: promotions(client, u) for u in users}
            assert all(inboxes[u] == [] for u in control)  # the control group gets nothing
            assert all(len(inboxes[u]) == 1 for u in treated)
            for message in messages:
                assert LINK.search(message["body"]), message
                if message["channel"] == "sms":
                    assert message["body"].endswith(SMS_WAY_OUT), message
                else:
                    assert UNSUBSCRIBE.search(message["body"]), message
            for user in treated:
                body = inboxes[user][0]["body"]
                assert LINK.search(body), body
                assert UNSUBSCRIBE.search(body), body

            report = ok(client.get(f"/v1/campaigns/{campaign['id']}/report"))
            assert report["audience"] == USERS
            assert report["control"]["recipients"] == len(control)
            assert sum(v["recipients"] for v in report["variants"]) == len(treated)
            assert sum(v["sent"] for v in report["variants"]) == len(treated)
            assert report["suppressed"] == {"no_consent": 0, "outside_window": 0, "capped": 0}

            link = LINK.search(messages[0]["body"])
            assert link is not None
            # Links name TIDINGS_PUBLIC_URL (port 8000 here): the same path on this server.
            path = urlsplit(link.group(0)).path
            with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as anyone:
                first = anyone.get(path, follow_redirects=False)
                again = anyone.get(path, follow_redirects=False)
            assert first.status_code == again.status_code == 302
            assert first.headers["location"].startswith("https://shop.example.com/")
            report = ok(client.get(f"/v1/campaigns/{campaign['id']}/report"))
            assert sum(v["clicked"] for v in report["variants"]) == 1
        running.assert_no_crash()
