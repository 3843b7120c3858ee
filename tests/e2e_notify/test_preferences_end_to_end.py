"""Preferences set through the API decide what a real worker sends, and when.

`tidings serve --no-worker` and a separate `tidings worker` on SQLite, channels other than the
inbox going to the file sink (`var/messages.jsonl`, the provider stub that keeps every
message). Moments are chosen relative to the real clock in the user's time zone — quiet hours
around the present minute, a zone where it is now early afternoon or the middle of the night —
so each outcome is certain whenever the test runs.

These are the breakages the unit tests cannot see: stored quiet hours that never reach the
planner, or every user loaded as consenting to all marketing.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from .support import (
    Cluster,
    cloud_event,
    cluster,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
    zone_where_it_is,
)

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0
_serial = itertools.count(1)


@contextmanager
def api_and_worker(tmp_path: Path) -> Iterator[tuple[Cluster, httpx.Client]]:
    env = environment(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var")
    with cluster(tmp_path, env) as running:
        server = running.serve(worker=False)
        running.worker()
        assert server.base_url is not None
        with operator(server.base_url) as client:
            yield running, client
        running.assert_no_crash()


def sms_sent(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "var" / "messages.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["channel"] == "sms"]


def new_user(client: httpx.Client, timezone: str, **preferences: Any) -> dict[str, Any]:
    n = next(_serial)
    user = ok(
        client.post(
            "/v1/users",
            json={
                "external_id": f"prefs-{uuid.uuid4().hex[:8]}",
                "name": "王小明",
                "phone": f"1391234{n:04d}",
                "email": f"wang{n}@example.com",
                "locale": "zh-CN",
                "timezone": timezone,
            },
        ),
        201,
    )
    if preferences:
        ok(client.put(f"/v1/users/{user['id']}/preferences", json=preferences))
    return user


def post(client: httpx.Client, user: dict[str, Any], type_: str, data: dict[str, Any]) -> None:
    event = cloud_event(
        event_id=f"e2e-{uuid.uuid4().hex[:10]}", type_=type_, subject=user["id"], data=data
    )
    ok(client.post("/v1/events", json=event), 202)


def deliveries(client: httpx.Client, user: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The user's (only) notice of that kind: {channel: delivery}, once the relay made it."""
    page = ok(client.get(f"/v1/users/{user['id']}/notifications"))
    found = [item for item in page["items"] if item["kind"] == kind]
    if not found:
        return None
    detail = ok(client.get(f"/v1/notifications/{found[0]['id']}"))
    return {d["channel"]: d for d in detail["deliveries"]}


def clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def test_quiet_hours_set_through_the_api_hold_an_sms_until_they_end(tmp_path: Path) -> None:
    zone = "Asia/Shanghai"
    now_local = datetime.now(ZoneInfo(zone)).replace(second=0, microsecond=0)
    start, end = now_local - timedelta(hours=1), now_local + timedelta(hours=2)
    informational_by_sms = {"channels": {"informational": ["inbox", "sms"]}, "digest": False}
    with api_and_worker(tmp_path) as (running, client):
        quiet = new_user(
            client,
            zone,
            quiet_hours={"start": clock(start), "end": clock(end)},
            **informational_by_sms,
        )
        stored = ok(client.get(f"/v1/users/{quiet['id']}/preferences"))["quiet_hours"]
        assert stored == {"start": clock(start), "end": clock(end)}
        awake = new_user(client, zone, **informational_by_sms)
        answered = "followup.ticket.answered"
        post(client, quiet, answered, {"ticket_id": "T-1", "summary": "安静时段的答复"})
        post(client, awake, answered, {"ticket_id": "T-2", "summary": "随时可发的答复"})

        def awake_texted() -> bool:
            return any("随时可发的答复" in line["body"] for line in sms_sent(tmp_path))

        wait_until(awake_texted, timeout=TIMEOUT, what="the SMS outside quiet hours", watch=running)
        held = wait_until(
            lambda: deliveries(client, quiet, answered),
            timeout=TIMEOUT,
            what="the notice in quiet hours to be planned",
            watch=running,
        )
        assert (held["sms"]["status"], held["sms"]["reason"]) == ("pending", "quiet_hours")
        assert datetime.fromisoformat(held["sms"]["due_at"]) == end.astimezone(UTC)
        assert not any("安静时段的答复" in line["body"] for line in sms_sent(tmp_path))
        assert inbox_items(client, quiet["id"]) == []  # it waits for the end too


def test_marketing_consent_set_through_the_api_decides_who_gets_a_promotion(
    tmp_path: Path,
) -> None:
    zone, _ = zone_where_it_is(13)  # inside the 08:00-20:00 window for hours yet
    channels = {"channels": {"marketing": ["inbox", "sms"]}}
    with api_and_worker(tmp_path) as (running, client):
        consenting = new_user(
            client, zone, marketing_consent={"inbox": True, "sms": True}, **channels
        )
        silent = new_user(client, zone, **channels)  # never asked: no consent anywhere
        withdrawn = new_user(
            client, zone, marketing_consent={"inbox": True, "sms": True}, **channels
        )
        ok(
            client.put(
                f"/v1/users/{withdrawn['id']}/preferences",
                json={"marketing_consent": {"sms": False}},
            )
        )
        promotion = "marketing.promotion"
        for user, title in ((consenting, "甲"), (silent, "乙"), (withdrawn, "丙")):
            data = {"campaign_id": "cmp-e2e", "title": f"会员日{title}", "body": "全场九折"}
            post(client, user, promotion, data)

        def everyone_planned() -> bool:
            return all(deliveries(client, u, promotion) for u in (consenting, silent, withdrawn))

        wait_until(everyone_planned, timeout=TIMEOUT, what="three promotions", watch=running)
        wait_until(
            lambda: any("会员日甲" in line["body"] for line in sms_sent(tmp_path)),
            timeout=TIMEOUT,
            what="the consenting user's promotion SMS",
            watch=running,
        )
        wait_until(
            lambda: len(inbox_items(client, withdrawn["id"])) == 1,
            timeout=TIMEOUT,
            what="the inbox copy of the user who kept inbox consent",
            watch=running,
        )
        assert [item["kind"] for item in inbox_items(client, consenting["id"])] == [promotion]
        assert inbox_items(client, silent["id"]) == []
        silent_plan = deliveries(client, silent, promotion)
        assert silent_plan is not None
        assert {c: (d["status"], d["reason"]) for c, d in silent_plan.items()} == {
            "inbox": ("suppressed", "no_consent"),
            "sms": ("suppressed", "no_consent"),
        }
        withdrawn_plan = deliveries(client, withdrawn, promotion)
        assert withdrawn_plan is not None
        assert (withdrawn_plan["sms"]["status"], withdrawn_plan["sms"]["reason"]) == (
            "suppressed",
            "no_consent",
        )
        texts = [line["body"] for line in sms_sent(tmp_path)]
        assert [t for t in texts if "会员日" in t] == [t for t in texts if "会员日甲" in t]
        assert len([t for t in texts if "会员日甲" in t]) == 1


def test_a_promotion_at_night_waits_for_the_window_and_a_withdrawal_cancels_it(
    tmp_path: Path,
) -> None:
    zone, now_local = zone_where_it_is(2)  # 02:xx: the window opens at 08:00
    opening = datetime.combine(now_local.date(), time(8), tzinfo=now_local.tzinfo)
    with api_and_worker(tmp_path) as (running, client):
        user = new_user(
            client,
            zone,
            channels={"marketing": ["inbox", "sms"]},
            marketing_consent={"inbox": True, "sms": True},
        )
        promotion = "marketing.promotion"
        data = {"campaign_id": "cmp-night", "title": "夜间促销", "body": "满100减20"}
        post(client, user, promotion, data)
        planned = wait_until(
            lambda: deliveries(client, user, promotion),
            timeout=TIMEOUT,
            what="the promotion to be planned",
            watch=running,
        )
        for channel in ("sms", "inbox"):
            assert (planned[channel]["status"], planned[channel]["reason"]) == (
                "pending",
                "marketing_window",
            )
            assert datetime.fromisoformat(planned[channel]["due_at"]) == opening.astimezone(UTC)

        ok(
            client.put(
                f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"sms": False}}
            )
        )
        after = deliveries(client, user, promotion)
        assert after is not None
        assert (after["sms"]["status"], after["sms"]["reason"]) == ("cancelled", "no_consent")
        assert after["inbox"]["status"] == "pending"
        listed = ok(client.get(f"/v1/users/{user['id']}/notifications"))["items"]
        assert {"channel": "sms", "status": "cancelled", "reason": "no_consent"} in listed[0][
            "deliveries"
        ]
        assert sms_sent(tmp_path) == []
        assert inbox_items(client, user["id"]) == []
