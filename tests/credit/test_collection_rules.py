"""Overdue notices are collection notices: the planner keeps them to 08:00-21:00 in the
borrower's time zone and to one contact a day, whatever the job's timing; and the periodic
limit review raises a line repaid on time and lowers one that is overdue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.credit.support import draw, open_line, repay
from tests.helpers import create_user, deliver_everything, top_up
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.kit.clock import FixedClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(datetime(2027, 1, 10, 2, 0, tzinfo=UTC))
    context.clock = fixed
    context.settings.allow_time_travel = True
    return fixed


def at_local(clock: FixedClock, day: date, hour: int, minute: int = 0) -> None:
    clock.at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def overdue_items(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    return [i for i in items if i["kind"] == "credit.overdue"]


def test_overdue_notices_wait_for_8am_and_only_one_a_day_interrupts(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, phone="13812348821")
    prefs = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"channels": {"transactional": ["inbox", "sms"]}},
    )
    assert prefs.status_code == 200, prefs.text
    line = open_line(client, user)
    for _ in range(2):  # two loans, both first due on 10 February
        draw(client, line["id"], 300_000, term=3, method="equal_principal")
    deliver_everything(context)

    at_local(clock, date(2027, 2, 11), 22, 30)  # day 1, but 22:30 local
    assert run_job(context, "credit.overdue", None)["overdue_notices"] == 2
    deliver_everything(context)
    assert overdue_items(client, user) == []  # not even the inbox before 08:00

    at_local(clock, date(2027, 2, 12), 8, 0)
    deliver_everything(context)
    items = overdue_items(client, user)
    assert len(items) == 2  # the inbox disturbs nobody: both land
    interrupting = []
    for item in items:
        detail = client.get(f"/v1/notifications/{item['id']}").json()
        for delivery in detail["deliveries"]:
            if delivery["channel"] != "inbox":
                interrupting.append((delivery["status"], delivery["reason"]))
            if delivery["status"] == "sent":
                sent = datetime.fromisoformat(delivery["sent_at"]).astimezone(SHANGHAI)
                assert 8 <= sent.hour < 21
    assert ("suppressed", "collection_daily_limit") in interrupting
    assert sum(1 for status, _ in interrupting if status == "sent") >= 1
    sent_per_notice = {
        item["id"]: [
            d["status"]
            for d in client.get(f"/v1/notifications/{item['id']}").json()["deliveries"]
            if d["channel"] != "inbox" and d["status"] == "sent"
        ]
        for item in items
    }
    assert sorted(bool(s) for s in sent_per_notice.values()) == [False, True]


def test_limit_review_raises_a_line_repaid_on_time_and_lowers_an_overdue_one(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    good, late = create_user(client), create_user(client)
    good_line = open_line(client, good, limit=1_000_000)
    late_line = open_line(client, late, limit=1_000_000)
    deliver_everything(context)  # the dispatcher sends one notice per user per round
    good_loan = draw(client, good_line["id"], 300_000, term=3, method="equal_principal")
    draw(client, late_line["id"], 300_000, term=3, method="equal_principal")
    top_up(client, good["wallet_id"], 10_000)  # the interest on top of what was drawn
    deliver_everything(context)
    for due, total in ((date(2027, 2, 10), 102_752), (date(2027, 3, 10), 101_657)):
        at_local(clock, due, 10)
        repay(client, good_loan["id"], total)
    at_local(clock, date(2027, 4, 10), 10)
    repay(client, good_loan["id"], 100_917)
    deliver_everything(context)
    run_job(context, "credit.overdue", None)
    review = run_job(context, "credit.limit_review", None)
    assert (review["limits_raised"], review["limits_lowered"]) == (1, 1)
    assert client.get(f"/v1/credit/lines/{good_line['id']}").json()["limit"]["value"] == 1_200_000
    lowered = client.get(f"/v1/credit/lines/{late_line['id']}").json()
    assert lowered["limit"]["value"] == 500_000  # half, still above the 3,000.00 owed
    again = run_job(context, "credit.limit_review", None)
    assert (again["limits_raised"], again["limits_lowered"]) == (0, 0)  # once per 30 days
    deliver_everything(context)
    bodies = [i["body"] for i in client.get(f"/v1/users/{good['id']}/inbox").json()["items"]]
    assert any(
        "因您一直按时还款，您的信用额度已由10,000.00元提升至12,000.00元" in b for b in bodies
    )
    late_bodies = [i["body"] for i in client.get(f"/v1/users/{late['id']}/inbox").json()["items"]]
    assert any(
        "因您有一笔还款已逾期，您的信用额度已由10,000.00元调整为5,000.00元" in b
        for b in late_bodies
    )
