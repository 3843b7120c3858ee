"""The credit line over HTTP on both databases: applications and decisions, limits, quotes,
drawdowns through the ledger, repayments, statements — and bad input that is a 4xx problem
and changes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.credit.support import draw, open_line, repay
from tests.helpers import balance, cny, create_user, deliver_everything, top_up, transfer
from tidings.app.context import AppContext
from tidings.credit.models import credit_drawdowns, credit_lines
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.ledger import service as ledger
from tidings.ledger.models import accounts


def as_user(client: TestClient, user: dict[str, Any]) -> dict[str, str]:
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def kinds_in_inbox(client: TestClient, user: dict[str, Any]) -> list[str]:
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    return [i["kind"] for i in reversed(items)]


@pytest.fixture
def borrower(client: TestClient) -> dict[str, Any]:
    user = create_user(client)
    user["line"] = open_line(client, user, limit=1_000_000)
    return user


def test_a_new_wallet_is_rejected_by_the_rule_and_an_operator_may_overturn_it(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    applied = client.post(
        "/v1/credit/applications", json={"user_id": user["id"], "requested_limit": cny(500_000)}
    ).json()
    assert (applied["status"], applied["decided_by"]) == ("rejected", "rule")
    assert "score" in applied["reason"]
    assert client.get(f"/v1/users/{user['id']}/credit-line").status_code == 404

    approved = client.post(
        f"/v1/credit/applications/{applied['id']}/decision",
        json={"decision": "approve", "limit": cny(300_000), "reason": "known customer"},
    ).json()
    assert (approved["status"], approved["decided_by"]) == ("approved", "operator")
    assert approved["reason"] == "known customer"
    line = client.get(f"/v1/users/{user['id']}/credit-line").json()
    assert line["limit"] == cny(300_000)
    assert line["available"] == cny(300_000)
    assert line["outstanding"] == cny(0)
    assert line["id"] == approved["line_id"]

    again = client.post(
        f"/v1/credit/applications/{applied['id']}/decision", json={"decision": "reject"}
    )
    problem(again, 409)  # an approval is final
    deliver_everything(context)
    assert kinds_in_inbox(client, user) == [
        "credit.application.received",
        "credit.application.under_review",
        "credit.application.rejected",
        "credit.application.approved",
    ]
    approved_notice = client.get(f"/v1/users/{user['id']}/inbox").json()["items"][0]
    assert "额度3,000.00元" in approved_notice["body"]


def test_a_wallet_with_history_is_approved_by_the_rule_and_a_referral_waits_for_an_operator(
    client: TestClient, context: AppContext
) -> None:
    clock = FixedClock(datetime(2027, 1, 1, 2, tzinfo=UTC))
    context.clock = clock
    seasoned = create_user(client)
    clock.at += timedelta(days=60)  # 40 points of age
    top_up(client, seasoned["wallet_id"], 1_500_000)  # 30 points of money in, 10 of cushion
    for _ in range(10):
        transfer(
            client,
            kind="payment",
            source=seasoned["wallet_id"],
            amount=cny(1_000),
            merchant={"name": "便利店", "category": "5411"},
        )
        deliver_everything(context)
    approved = client.post(
        "/v1/credit/applications",
        json={"user_id": seasoned["id"], "requested_limit": cny(20_000_000)},
    ).json()
    assert approved["status"] == "approved"
    assert approved["decided_by"] == "rule"
    assert approved["score"] == 100
    assert approved["granted_limit"] == cny(10_000_000)  # 1,000.00 a point

    # The same money in a wallet opened today scores 40: referred to an operator.
    fresh = create_user(client)
    top_up(client, fresh["wallet_id"], 1_500_000)
    referred = client.post(
        "/v1/credit/applications", json={"user_id": fresh["id"], "requested_limit": cny(500_000)}
    ).json()
    assert (referred["status"], referred["score"], referred["decided_by"]) == (
        "under_review",
        40,
        None,
    )
    duplicate = client.post(
        "/v1/credit/applications", json={"user_id": fresh["id"], "requested_limit": cny(1)}
    )
    problem(duplicate, 409)
    rejected = client.post(
        f"/v1/credit/applications/{referred['id']}/decision",
        json={"decision": "reject", "reason": "收入证明不足"},
    ).json()
    assert (rejected["status"], rejected["decided_by"]) == ("rejected", "operator")
    overturn = client.post(
        f"/v1/credit/applications/{referred['id']}/decision", json={"decision": "approve"}
    )
    problem(overturn, 409)  # only an automatic rejection may be overturned
    deliver_everything(context)
    latest = client.get(f"/v1/users/{fresh['id']}/inbox").json()["items"][0]
    assert "原因：收入证明不足" in latest["body"]


def test_limit_changes_are_notices_and_statement_lines_with_old_and_new_limit(
    client: TestClient, context: AppContext, borrower: dict[str, Any]
) -> None:
    line_id = borrower["line"]["id"]
    raised = client.post(
        f"/v1/credit/lines/{line_id}/limit", json={"limit": cny(1_500_000), "reason": "good"}
    )
    assert raised.json()["limit"] == cny(1_500_000)
    lowered = client.post(
        f"/v1/credit/lines/{line_id}/limit",
        json={"limit": cny(800_000), "reason": "case 7781", "reason_code": "risk_control"},
    )
    assert lowered.json()["available"] == cny(800_000)
    deliver_everything(context)
    bodies = [i["body"] for i in client.get(f"/v1/users/{borrower['id']}/inbox").json()["items"]]
    assert any("已由10,000.00元提升至15,000.00元" in b for b in bodies)
    assert any(
        "因您的账户近期有异常活动，您的信用额度已由15,000.00元调整为8,000.00元" in b for b in bodies
    )
    assert not any("case 7781" in b for b in bodies)  # the internal reason is never sent
    headers = as_user(client, borrower)
    statement = client.get(f"/v1/credit/lines/{line_id}/statement", headers=headers).json()
    changes = [
        (i["kind"], i["drawdown_id"], i["previous_limit"], i["amount"]) for i in statement["items"]
    ]
    assert changes == [
        ("limit_change", None, cny(1_500_000), cny(800_000)),
        ("limit_change", None, cny(1_000_000), cny(1_500_000)),
    ]
    forbidden = client.post(
        f"/v1/credit/lines/{line_id}/limit",
        json={"limit": cny(9_000_000), "reason": "me"},
        headers=headers,
    )
    problem(forbidden, 403)


def test_a_quote_is_the_drawdown_to_the_fen_and_writes_nothing(
    client: TestClient, borrower: dict[str, Any]
) -> None:
    headers = as_user(client, borrower)
    body = {"line_id": borrower["line"]["id"], "amount": cny(600_000), "term_months": 6}
    quoted = client.post("/v1/credit/quotes", json=body, headers=headers).json()
    assert quoted["apr_bp"] > 0
    assert quoted["apr"] == f"{quoted['apr_bp'] // 100}.{quoted['apr_bp'] % 100:02d}"
    assert sum(i["principal"]["value"] for i in quoted["schedule"]) == 600_000
    assert quoted["total_interest"]["value"] == sum(
        i["interest"]["value"] for i in quoted["schedule"]
    )
    line = client.get(f"/v1/credit/lines/{borrower['line']['id']}", headers=headers).json()
    assert line["outstanding"] == cny(0)

    before = balance(client, borrower["wallet_id"])
    made = client.post("/v1/credit/drawdowns", json=body, headers=headers)
    assert made.status_code == 201, made.text
    loan = made.json()
    assert loan["schedule"] == quoted["schedule"]
    assert loan["apr"] == quoted["apr"]
    assert balance(client, borrower["wallet_id"]) == before + 600_000
    line = client.get(f"/v1/users/{borrower['id']}/credit-line", headers=headers).json()
    assert (line["outstanding"], line["available"]) == (cny(600_000), cny(400_000))
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_a_product_with_a_fee_keeps_it_from_the_disbursement_and_shows_it_in_the_apr(
    client: TestClient,
) -> None:
    product = {
        "code": "fee_plan",
        "name": "手续费产品",
        "annual_rate_bp": 1080,
        "fee_bp": 100,
        "penalty_bp_per_day": 5,
        "grace_days": 3,
        "terms": [3, 6],
        "methods": ["equal_principal", "bullet"],
        "min_amount": cny(10_000),
        "max_limit": cny(5_000_000),
    }
    saved = client.post("/v1/credit/products", json=product)
    assert saved.status_code == 200, saved.text
    codes = {p["code"] for p in client.get("/v1/credit/products").json()}
    assert codes == {"standard", "fee_plan"}
    user = create_user(client)
    applied = client.post(
        "/v1/credit/applications",
        json={"user_id": user["id"], "requested_limit": cny(500_000), "product": "fee_plan"},
    ).json()
    client.post(f"/v1/credit/applications/{applied['id']}/decision", json={"decision": "approve"})
    line = client.get(f"/v1/users/{user['id']}/credit-line").json()
    assert line["product"] == "fee_plan"
    loan = draw(client, line["id"], 300_000, term=3, method="bullet")
    assert loan["fee"] == cny(3_000)
    assert loan["disbursed"] == cny(297_000)
    assert balance(client, user["wallet_id"]) == 297_000
    assert loan["apr_bp"] > 1080 + 300  # 1% up front on a 3-month loan is ~4% a year
    assert [i["principal"]["value"] for i in loan["schedule"]] == [0, 0, 300_000]
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True
    user_headers = as_user(client, user)
    problem(client.post("/v1/credit/products", json=product, headers=user_headers), 403)
    problem(draw_response(client, line["id"], 100_000, 12), 422, "term_months")
    problem(
        draw_response(client, line["id"], 100_000, 3, method="equal_installment"), 422, "method"
    )


def draw_response(client: TestClient, line_id: str, amount: int, term: int, **extra: Any) -> Any:
    return client.post(
        "/v1/credit/drawdowns",
        json={"line_id": line_id, "amount": cny(amount), "term_months": term, **extra},
    )


def test_repayment_pays_and_reports_what_is_left_and_the_statement_lists_it(
    client: TestClient, context: AppContext, borrower: dict[str, Any]
) -> None:
    loan = draw(client, borrower["line"]["id"], 300_000, term=3)
    paid = repay(client, loan["id"], 100_000)
    assert paid["allocated"] == {"penalty": cny(0), "interest": cny(0), "principal": cny(100_000)}
    after = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
    assert after["outstanding"] == cny(200_000)
    assert paid["remaining"] == after["remaining"]
    assert sum(i["principal"]["value"] for i in after["schedule"]) == 300_000
    line = client.get(f"/v1/credit/lines/{borrower['line']['id']}").json()
    assert line["outstanding"] == cny(200_000)
    settled = repay(client, loan["id"], after["payoff"]["value"])
    assert settled["remaining"] == cny(0)
    assert client.get(f"/v1/credit/drawdowns/{loan['id']}").json()["status"] == "settled"
    problem(repay_response(client, loan["id"], 1), 422, "drawdown_id")

    page = client.get(
        f"/v1/credit/lines/{borrower['line']['id']}/statement", params={"limit": 2}
    ).json()
    assert [i["kind"] for i in page["items"]] == ["repayment", "repayment"]
    rest = client.get(
        f"/v1/credit/lines/{borrower['line']['id']}/statement",
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [i["kind"] for i in rest["items"]] == ["drawdown"]
    assert rest["next_cursor"] is None
    problem(
        client.get(f"/v1/credit/lines/{borrower['line']['id']}/statement", params={"cursor": "@@"}),
        422,
        "cursor",
    )
    deliver_everything(context)
    bodies = [i["body"] for i in client.get(f"/v1/users/{borrower['id']}/inbox").json()["items"]]
    assert any("已收到您的还款1,000.00元，剩余应还" in b for b in bodies)
    assert any("该笔借款已全部还清" in b for b in bodies)


def repay_response(client: TestClient, drawdown_id: str, amount: int, **extra: Any) -> Any:
    return client.post(
        "/v1/credit/repayments",
        json={"drawdown_id": drawdown_id, "amount": cny(amount), **extra},
    )


def snapshot(client: TestClient, context: AppContext, user: dict[str, Any]) -> Any:
    with read_transaction(context.engine) as conn:
        drawdowns = conn.execute(select(func.count()).select_from(credit_drawdowns)).scalar()
        outstanding = conn.execute(select(func.sum(credit_lines.c.outstanding))).scalar()
    return (balance(client, user["wallet_id"]), drawdowns, outstanding)


def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(
    client: TestClient, context: AppContext, borrower: dict[str, Any]
) -> None:
    line_id = borrower["line"]["id"]
    loan = draw(client, line_id, 200_000, term=3)
    before = snapshot(client, context, borrower)

    problem(draw_response(client, line_id, 800_001, 3), 422, "amount")  # 8,000.00 available
    problem(draw_response(client, line_id, 100_000, 5), 422, "term_months")  # unknown term
    problem(draw_response(client, line_id, 100_000, 3, method="balloon"), 422)
    problem(draw_response(client, line_id, 100, 3), 422, "amount")  # below the minimum
    problem(
        client.post(
            "/v1/credit/drawdowns",
            json={
                "line_id": line_id,
                "amount": {"value": 10.5, "currency": "CNY"},
                "term_months": 3,
            },
        ),
        422,
    )
    problem(
        client.post(
            "/v1/credit/drawdowns",
            json={
                "line_id": line_id,
                "amount": cny(100_000) | {"currency": "USD"},
                "term_months": 3,
            },
        ),
        422,
        "amount.currency",
    )
    payoff = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()["payoff"]["value"]
    too_much = problem(repay_response(client, loan["id"], payoff + 1), 422, "amount")
    assert too_much["payoff"] == cny(payoff)
    problem(repay_response(client, "drw_01JD0000000000000000000000", 100), 404)
    problem(repay_response(client, "not-an-id", 100), 422)

    # Not enough money in the wallet: the wallet holds what was drawn and nothing else.
    transfer(client, kind="withdrawal", source=borrower["wallet_id"], amount=cny(199_000))
    poor = problem(repay_response(client, loan["id"], 150_000), 422, "amount")
    assert poor["type"].endswith("insufficient-funds")
    after_withdrawal = snapshot(client, context, borrower)
    assert after_withdrawal == (before[0] - 199_000, before[1], before[2])

    # Another user's line and loan look absent.
    stranger = create_user(client)
    headers = as_user(client, stranger)
    problem(client.get(f"/v1/credit/lines/{line_id}", headers=headers), 404)
    problem(client.get(f"/v1/users/{borrower['id']}/credit-line", headers=headers), 404)
    problem(client.get(f"/v1/credit/drawdowns/{loan['id']}", headers=headers), 404)
    problem(client.get(f"/v1/credit/lines/{line_id}/statement", headers=headers), 404)
    problem(
        client.post(
            "/v1/credit/quotes",
            json={"line_id": line_id, "amount": cny(100_000), "term_months": 3},
            headers=headers,
        ),
        404,
        "line_id",
    )
    problem(
        client.post(
            "/v1/credit/drawdowns",
            json={"line_id": line_id, "amount": cny(100_000), "term_months": 3},
            headers=headers,
        ),
        404,
        "line_id",
    )
    problem(
        client.post(
            "/v1/credit/repayments",
            json={"drawdown_id": loan["id"], "amount": cny(100)},
            headers=headers,
        ),
        404,
        "drawdown_id",
    )
    problem(
        client.post(
            f"/v1/credit/lines/{line_id}/auto-debit", json={"enabled": True}, headers=headers
        ),
        404,
    )
    problem(
        client.post(
            "/v1/credit/applications",
            json={"user_id": borrower["id"], "requested_limit": cny(100)},
            headers=headers,
        ),
        404,
        "user_id",
    )
    problem(
        client.post(
            "/v1/credit/applications/cap_01JD0000000000000000000000/decision",
            json={"decision": "approve"},
            headers=headers,
        ),
        403,
    )
    # Repaying from another user's wallet is refused as if it did not exist.
    problem(repay_response(client, loan["id"], 100, source=stranger["wallet_id"]), 404, "source")
    assert snapshot(client, context, borrower) == after_withdrawal
    with read_transaction(context.engine) as conn:
        assert ledger.trial_balance(conn).ok


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.integers(min_value=10_000, max_value=1_000_000),
    term=st.sampled_from([1, 3, 6, 12]),
    method=st.sampled_from(["equal_installment", "equal_principal", "bullet"]),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=120), st.integers(min_value=1, max_value=10**6)
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_repayments_in_any_order_keep_the_ledger_balanced_and_nothing_negative(
    client: TestClient,
    context: AppContext,
    amount: int,
    term: int,
    method: str,
    steps: list[tuple[int, int]],
) -> None:
    clock = FixedClock(datetime(2027, 5, 31, 4, tzinfo=UTC))
    context.clock = clock
    user = create_user(client)
    line = open_line(client, user, limit=1_000_000)
    loan = draw(client, line["id"], amount, term=term, method=method)
    top_up(client, user["wallet_id"], 2_000_000)
    start = clock.at
    for days, wanted in sorted(steps):
        clock.at = start + timedelta(days=days)
        state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
        if state["status"] == "settled":
            break
        pay = min(wanted, state["payoff"]["value"])
        if pay == 0:
            break
        paid = repay(client, loan["id"], pay)
        assert paid["remaining"]["value"] >= 0
        assert (
            sum(paid["allocated"][k]["value"] for k in ("penalty", "interest", "principal")) == pay
        )
    state = client.get(f"/v1/credit/drawdowns/{loan['id']}").json()
    line_now = client.get(f"/v1/credit/lines/{line['id']}").json()
    assert line_now["outstanding"] == state["outstanding"]
    assert 0 <= state["outstanding"]["value"] <= amount
    with read_transaction(context.engine) as conn:
        assert ledger.trial_balance(conn).ok
        receivable = conn.execute(
            select(func.sum(accounts.c.balance)).where(accounts.c.kind == "credit_receivable")
        ).scalar()
        total_outstanding = conn.execute(select(func.sum(credit_lines.c.outstanding))).scalar()
    assert -int(receivable) == int(total_outstanding)  # the receivable is what is owed


def test_two_drawdowns_racing_for_one_limit_cannot_both_succeed(
    client: TestClient, context: AppContext, borrower: dict[str, Any]
) -> None:
    line_id = borrower["line"]["id"]  # 10,000.00
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(
            pool.map(lambda _: draw_response(client, line_id, 600_000, 3).status_code, range(2))
        )
    assert statuses == [201, 422]
    line = client.get(f"/v1/credit/lines/{line_id}").json()
    assert (line["outstanding"], line["available"]) == (cny(600_000), cny(400_000))
    assert balance(client, borrower["wallet_id"]) == 600_000


def test_an_application_under_one_key_is_received_once_and_another_body_is_409(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    mine = {**as_user(client, user), "Idempotency-Key": "apply-1"}
    body = {"user_id": user["id"], "requested_limit": cny(500_000)}
    first = client.post("/v1/credit/applications", json=body, headers=mine)
    again = client.post("/v1/credit/applications", json=body, headers=mine)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = {**body, "requested_limit": cny(600_000)}
    problem(client.post("/v1/credit/applications", json=other, headers=mine), 409)


def test_applying_for_another_user_is_the_same_404_as_for_a_user_nobody_is(
    client: TestClient,
) -> None:
    stranger = as_user(client, create_user(client))
    answers = []
    for user_id in (create_user(client)["id"], "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        body = {"user_id": user_id, "requested_limit": cny(500_000)}
        answer = client.post("/v1/credit/applications", json=body, headers=stranger)
        problem(answer, 404, "user_id")
        answers.append(answer.text.replace(user_id, "<id>"))
    assert answers[0] == answers[1]
    assert "https://tidings.dev/problems/user-not-found" in answers[0]
