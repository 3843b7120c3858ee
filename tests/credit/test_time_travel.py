"""A 3-month loan walked day by day with a controllable clock: reminders, one missed payment,
overdue notices on days 1, 3 and 7 with penalties, repayment, settled — exact figures in the
rendered zh-CN and en texts, every job run twice a day so nothing is ever sent twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
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
NIGHTLY = ("credit.auto_debit", "credit.overdue", "credit.reminders")

# 3,000.00 over 3 months, equal principal, 10.80% a year, taken on 10 January 2027:
# interest by days — 31, 28 and 31 days on 3,000, 2,000 and 1,000 — is 27.52, 16.57, 9.17.
FIRST, SECOND, THIRD = 102_752, 101_657, 100_917
DAILY_PENALTY = 51  # 0.05% a day of 1,016.57 = 0.508… → 0.51


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(datetime(2027, 1, 10, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    context.clock = fixed
    context.settings.allow_time_travel = True
    return fixed


def at_local(clock: FixedClock, day: date, hour: int = 10) -> None:
    clock.at = datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def nightly(context: AppContext) -> None:
    for name in NIGHTLY:
        run_job(context, name, None)


def notices(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    items = client.get(f"/v1/users/{user['id']}/inbox", params={"limit": 200}).json()["items"]
    return [i for i in items if i["kind"].startswith("credit.")]


def test_three_month_loan_day_by_day_with_one_missed_payment(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    zh = create_user(client, name="张三丰", phone="13812348821")
    en = create_user(client, name="Li Lei", phone="13812348822", locale="en")
    borrowers = (zh, en)
    drawdowns: dict[str, str] = {}
    for user in borrowers:
        line = open_line(client, user, limit=2_000_000)
        loan = draw(client, line["id"], 300_000, term=3, method="equal_principal")
        assert [i["total"]["value"] for i in loan["schedule"]] == [FIRST, SECOND, THIRD]
        assert [i["due_date"] for i in loan["schedule"]] == [
            "2027-02-10",
            "2027-03-10",
            "2027-04-10",
        ]
        drawdowns[user["id"]] = loan["id"]
    deliver_everything(context)

    seen: dict[str, list[tuple[date, str]]] = defaultdict(list)
    known: dict[str, set[str]] = defaultdict(set)
    day = date(2027, 1, 10)
    while day <= date(2027, 4, 20):
        at_local(clock, day)
        nightly(context)
        nightly(context)  # the same moment twice: nothing twice
        for user in borrowers:
            if day == date(2027, 2, 10):
                top_up(client, user["wallet_id"], FIRST)
                repay(client, drawdowns[user["id"]], FIRST)
            if day == date(2027, 3, 17):
                loan = client.get(f"/v1/credit/drawdowns/{drawdowns[user['id']]}").json()
                assert loan["overdue_days"] == 7
                assert loan["penalty"]["value"] == 7 * DAILY_PENALTY
                assert loan["schedule"][1]["status"] == "overdue"
            if day == date(2027, 3, 18):  # day 8: pays installment 2 and 8 days of penalty
                owed = SECOND + 8 * DAILY_PENALTY
                top_up(client, user["wallet_id"], owed)
                paid = repay(client, drawdowns[user["id"]], owed)
                assert paid["allocated"]["penalty"]["value"] == 8 * DAILY_PENALTY
                assert paid["allocated"]["interest"]["value"] == 1_657
                assert paid["allocated"]["principal"]["value"] == 100_000
                assert paid["remaining"]["value"] == THIRD
            if day == date(2027, 4, 10):
                top_up(client, user["wallet_id"], THIRD)
                assert repay(client, drawdowns[user["id"]], THIRD)["remaining"]["value"] == 0
        deliver_everything(context)
        for user in borrowers:
            for item in notices(client, user):
                if item["id"] not in known[user["id"]]:
                    known[user["id"]].add(item["id"])
                    seen[user["id"]].append((day, item["body"]))
        day += timedelta(days=1)

    zh_notices = seen[zh["id"]]
    en_notices = seen[en["id"]]
    assert len(zh_notices) == len(en_notices)

    def on(notices_: list[tuple[date, str]], when: date, text: str) -> None:
        bodies = [body for day_, body in notices_ if day_ == when]
        assert any(text in body for body in bodies), (when, text, bodies)

    expected_zh = [
        (date(2027, 2, 7), "您的借款3,000.00元将于2月10日到期，应还1,027.52元，请确保余额充足。"),
        (date(2027, 2, 9), "您的借款3,000.00元将于2月10日到期，应还1,027.52元"),
        (date(2027, 2, 10), "您的借款3,000.00元今天（2月10日）到期，应还1,027.52元"),
        (date(2027, 2, 10), "已收到您的还款1,027.52元，剩余应还2,025.74元。"),
        (date(2027, 3, 7), "您的借款3,000.00元将于3月10日到期，应还1,016.57元"),
        (date(2027, 3, 10), "您的借款3,000.00元今天（3月10日）到期，应还1,016.57元"),
        (date(2027, 3, 11), "您3月10日到期的借款应还1,016.57元，已逾期1天，产生罚息0.51元。"),
        (date(2027, 3, 13), "您3月10日到期的借款应还1,016.57元，已逾期3天，产生罚息1.53元。"),
        (date(2027, 3, 17), "您3月10日到期的借款应还1,016.57元，已逾期7天，产生罚息3.57元。"),
        (date(2027, 3, 18), "已收到您的还款1,020.65元，剩余应还1,009.17元。"),
        (date(2027, 4, 7), "您的借款3,000.00元将于4月10日到期，应还1,009.17元"),
        (date(2027, 4, 10), "已收到您的还款1,009.17元，该笔借款已全部还清。"),
    ]
    for when, text in expected_zh:
        on(zh_notices, when, text)
    expected_en = [
        (date(2027, 2, 7), "Your loan of CNY 3,000.00 is due on 10 Feb. Amount due: CNY 1,027.52."),
        (
            date(2027, 2, 10),
            "Your loan of CNY 3,000.00 is due today (10 Feb). Amount due: CNY 1,027.52.",
        ),
        (
            date(2027, 2, 10),
            "We received your repayment of CNY 1,027.52. Still to repay: CNY 2,025.74.",
        ),
        (
            date(2027, 3, 11),
            "Your repayment of CNY 1,016.57 due on 10 Mar is 1 day overdue. "
            "Penalty so far: CNY 0.51.",
        ),
        (date(2027, 3, 13), "is 3 days overdue. Penalty so far: CNY 1.53."),
        (date(2027, 3, 17), "is 7 days overdue. Penalty so far: CNY 3.57."),
        (
            date(2027, 3, 18),
            "We received your repayment of CNY 1,020.65. Still to repay: CNY 1,009.17.",
        ),
        (
            date(2027, 4, 10),
            "We received your repayment of CNY 1,009.17. This loan is now fully repaid.",
        ),
    ]
    for when, text in expected_en:
        on(en_notices, when, text)

    # Every reminder step once per installment, overdue only on days 1, 3 and 7, and no
    # reminder for an installment already paid (the third was paid on its due day at 10:00,
    # after that day's reminder).
    reminder_days = [d_ for d_, body in zh_notices if "请确保余额充足" in body]
    assert reminder_days == [
        date(2027, 2, 7),
        date(2027, 2, 9),
        date(2027, 2, 10),
        date(2027, 3, 7),
        date(2027, 3, 9),
        date(2027, 3, 10),
        date(2027, 4, 7),
        date(2027, 4, 9),
        date(2027, 4, 10),
    ]
    overdue_days = [d_ for d_, body in zh_notices if "已逾期" in body]
    assert overdue_days == [date(2027, 3, 11), date(2027, 3, 13), date(2027, 3, 17)]
    assert len([b for _, b in zh_notices if "借款已全部还清" in b or "全部还清" in b]) == 1

    for user in borrowers:
        loan = client.get(f"/v1/credit/drawdowns/{drawdowns[user['id']]}").json()
        assert loan["status"] == "settled"
        assert loan["remaining"]["value"] == 0
        assert [i["status"] for i in loan["schedule"]] == ["paid", "paid", "paid"]
        line = client.get(f"/v1/users/{user['id']}/credit-line").json()
        assert line["outstanding"]["value"] == 0
        assert line["available"]["value"] == 2_000_000
        history = client.get(f"/v1/credit/lines/{line['id']}/statement").json()["items"]
        kinds = [item["kind"] for item in history]
        assert kinds.count("penalty") == 8
        assert kinds.count("repayment") == 3
        assert kinds.count("drawdown") == 1
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_after_downtime_a_late_run_catches_up_every_penalty_day_and_sends_one_notice(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    line = open_line(client, user)
    loan = draw(client, line["id"], 300_000, term=3, method="equal_principal")
    at_local(clock, date(2027, 2, 17))  # nothing ran since the drawdown: 7 days overdue
    first = run_job(context, "credit.overdue", None)
    assert first["penalty_entries"] == 7
    assert first["overdue_notices"] == 1
    again = run_job(context, "credit.overdue", None)
    assert again["penalty_entries"] == 0
    assert again["overdue_notices"] == 0
    assert run_job(context, "credit.reminders", None)["reminders"] == 0  # the due day is past
    deliver_everything(context)
    overdue = [n for n in notices(client, user) if n["kind"] == "credit.overdue"]
    assert len(overdue) == 1
    daily = (FIRST * 5 * 2 + 10_000) // 20_000
    assert f"已逾期7天，产生罚息{7 * daily / 100:.2f}元" in overdue[0]["body"]
    state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
    assert (state["overdue_days"], state["penalty"]["value"]) == (7, 7 * daily)


def test_auto_debit_repays_on_the_due_day_when_enabled(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    line = open_line(client, user)
    switched = client.post(f"/v1/credit/lines/{line['id']}/auto-debit", json={"enabled": True})
    assert switched.status_code == 200
    assert switched.json()["auto_debit"] is True
    loan = draw(client, line["id"], 300_000, term=3, method="equal_principal")
    at_local(clock, date(2027, 2, 9))
    assert run_job(context, "credit.auto_debit", None)["auto_debits"] == 0  # not due yet
    at_local(clock, date(2027, 2, 10), hour=0)
    first = run_job(context, "credit.auto_debit", None)
    assert (first["auto_debits"], first["auto_debit_minor_units"]) == (1, FIRST)
    assert run_job(context, "credit.auto_debit", None)["auto_debits"] == 0
    state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
    assert state["schedule"][0]["status"] == "paid"
    at_local(clock, date(2027, 2, 10), hour=10)
    assert run_job(context, "credit.reminders", None)["reminders"] == 0  # paid: no reminder


def test_a_night_of_auto_debits_repays_every_due_drawdown_once_and_keeps_the_books(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    # On PostgreSQL the job debits several drawdowns at once; two of them share a borrower,
    # her wallet and her line.
    loans: list[dict[str, Any]] = []
    for n in range(5):
        line = open_line(client, create_user(client))
        client.post(f"/v1/credit/lines/{line['id']}/auto-debit", json={"enabled": True})
        for _ in range(2 if n == 0 else 1):
            loans.append(draw(client, line["id"], 300_000, term=3, method="equal_principal"))
    at_local(clock, date(2027, 2, 10), hour=0)
    night = run_job(context, "credit.auto_debit", None)
    assert (night["auto_debits"], night["auto_debit_minor_units"]) == (6, 6 * FIRST)
    assert night["auto_debit_refused"] == 0
    assert run_job(context, "credit.auto_debit", None)["auto_debits"] == 0
    for loan in loans:
        state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
        assert [i["status"] for i in state["schedule"]] == ["paid", "pending", "pending"]
    line = client.get(f"/v1/credit/lines/{loans[0]['line_id']}").json()
    assert line["outstanding"]["value"] == 2 * (300_000 - 100_000)
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_due_dates_follow_the_borrowers_calendar_clamped_to_the_month_end(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, timezone="America/New_York", locale="en")
    line = open_line(client, user)
    # 20:00 on 31 January in New York is already 1 February in UTC and in Shanghai.
    clock.at = datetime(2027, 1, 31, 20, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    loan = draw(client, line["id"], 300_000, term=3, method="equal_principal")
    assert loan["start_date"] == "2027-01-31"
    assert [i["due_date"] for i in loan["schedule"]] == ["2027-02-28", "2027-03-31", "2027-04-30"]
    # 00:30 on 1 March in New York: the first installment is one day overdue there.
    clock.at = datetime(2027, 3, 1, 0, 30, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert run_job(context, "credit.overdue", None)["penalty_entries"] == 1
    assert client.get(f"/v1/credit/drawdowns/{loan['id']}").json()["overdue_days"] == 1


def test_grace_days_delay_the_penalty_but_not_the_overdue_notice(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    graceful = {
        "code": "graceful",
        "name": "宽限期产品",
        "annual_rate_bp": 1080,
        "penalty_bp_per_day": 5,
        "grace_days": 3,
        "terms": [3],
        "methods": ["equal_principal"],
        "min_amount": {"value": 10_000, "currency": "CNY"},
        "max_limit": {"value": 5_000_000, "currency": "CNY"},
    }
    assert client.post("/v1/credit/products", json=graceful).status_code == 200
    user = create_user(client)
    applied = client.post(
        "/v1/credit/applications",
        json={
            "user_id": user["id"],
            "requested_limit": {"value": 2_000_000, "currency": "CNY"},
            "product": "graceful",
        },
    ).json()
    client.post(f"/v1/credit/applications/{applied['id']}/decision", json={"decision": "approve"})
    line = client.get(f"/v1/users/{user['id']}/credit-line").json()
    loan = draw(client, line["id"], 300_000, term=3, method="equal_principal")
    at_local(clock, date(2027, 2, 11))  # day 1: overdue, still in grace
    day1 = run_job(context, "credit.overdue", None)
    assert (day1["overdue_notices"], day1["penalty_entries"]) == (1, 0)
    at_local(clock, date(2027, 2, 17))  # day 7: penalties for days 4 to 7
    day7 = run_job(context, "credit.overdue", None)
    assert (day7["overdue_notices"], day7["penalty_entries"]) == (1, 4)
    daily = (FIRST * 5 * 2 + 10_000) // 20_000
    state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
    assert (state["overdue_days"], state["penalty"]["value"]) == (7, 4 * daily)


def test_operators_run_credit_jobs_over_http_for_a_past_moment_not_a_future_one(
    client: TestClient, context: AppContext
) -> None:
    context.clock = FixedClock(datetime(2027, 1, 10, 2, tzinfo=UTC))
    user = create_user(client)
    line = open_line(client, user)
    draw(client, line["id"], 300_000, term=3, method="equal_principal")
    context.clock = FixedClock(datetime(2027, 3, 1, 2, tzinfo=UTC))
    future = client.post("/v1/jobs/credit.overdue/runs", json={"as_of": "2027-04-01T02:00:00Z"})
    assert future.status_code == 422
    past = client.post("/v1/jobs/credit.overdue/runs", json={"as_of": "2027-02-12T02:00:00Z"})
    assert past.status_code == 202, past.text
    assert past.json()["penalty_entries"] == 2  # 11 and 12 February
    now = client.post("/v1/jobs/credit.overdue/runs", json={})
    assert now.json()["penalty_entries"] == 17  # 13 February to 1 March
    headers = {
        "Authorization": "Bearer " + client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    }
    assert client.post("/v1/jobs/credit.overdue/runs", json={}, headers=headers).status_code == 403
