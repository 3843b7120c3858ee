"""Inputs are read as JSON spells them: `0` is not `false`, `"5"` is not `5`, `0.5` is not a
time; each is a 422 naming the field. What JSON legitimately carries still works: times and
dates as strings, enums as their values; query parameters as text spelled like JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_inputs import assert_refused, payment_event
from tests.helpers import cny, create_user, top_up

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def member(client: TestClient) -> dict[str, Any]:
    user = create_user(client)
    top_up(client, user["wallet_id"], 100_000)
    return user


def test_zero_is_not_false(client: TestClient, member: dict[str, Any]) -> None:
    preferences = f"/v1/users/{member['id']}/preferences"
    assert_refused(client.put(preferences, json={"digest": 0}), "digest")
    assert_refused(
        client.put(preferences, json={"clear_quiet_hours": "false"}), "clear_quiet_hours"
    )
    assert client.put(preferences, json={"digest": True}).json()["digest"] is True
    payment = client.post(
        "/v1/transfers",
        json={
            "kind": "payment",
            "source": member["wallet_id"],
            "amount": cny(100),
            "merchant": {"name": "星巴克", "category": "5814"},
        },
    ).json()
    outcome = f"/v1/transfers/{payment['id']}/risk-outcome"
    assert_refused(client.put(outcome, json={"fraudulent": 1}), "fraudulent")


def test_a_string_is_not_an_integer(client: TestClient, member: dict[str, Any]) -> None:
    quote = {"line_id": "lin_01JD0000000000000000000000", "amount": cny(10_000)}
    assert_refused(
        client.post("/v1/credit/quotes", json={**quote, "term_months": "3"}), "term_months"
    )
    assert_refused(
        client.post("/v1/credit/quotes", json={**quote, "term_months": 3.5}), "term_months"
    )
    transfer = {"kind": "top_up", "destination": member["wallet_id"]}
    refused = client.post(
        "/v1/transfers", json={**transfer, "amount": {"value": "5", "currency": "CNY"}}
    )
    assert_refused(refused, "amount.value")


def test_a_number_is_not_a_time(client: TestClient, member: dict[str, Any]) -> None:
    assert_refused(client.post("/v1/jobs/notify.digests/runs", json={"as_of": 0.5}), "as_of")
    assert_refused(client.post("/v1/jobs/notify.digests/runs", json={"as_of": "0.5"}), "as_of")
    logins = f"/v1/users/{member['id']}/logins"
    assert_refused(client.post(logins, json={"device_id": "d", "ip": "1.2.3.4", "at": 0.5}), "at")
    event = {**payment_event(member["external_id"]), "time": 1_700_000_000}
    assert_refused(client.post("/v1/events", json=event), "time")


def test_a_number_is_not_a_date(client: TestClient, member: dict[str, Any]) -> None:
    path = f"/v1/wallets/{member['wallet_id']}/sub-wallets"
    goal = {"target": cny(100_000), "by": 20301231}
    refused = client.post(path, json={"name": "旅行", "purpose": "travel", "goal": goal})
    assert_refused(refused, "goal.by")


def test_json_strings_still_carry_times_dates_and_enums(
    client: TestClient, member: dict[str, Any]
) -> None:
    path = f"/v1/wallets/{member['wallet_id']}/sub-wallets"
    body = {
        "name": "旅行",
        "purpose": "travel",
        "budget": {"limit": cny(50_000), "period": "month"},
        "goal": {"target": cny(100_000), "by": "2030-12-31"},
    }
    opened = client.post(path, json=body)
    assert opened.status_code == 201, opened.text
    assert opened.json()["goal"]["by"] == "2030-12-31"
    event = payment_event(member["external_id"])
    assert client.post("/v1/events", json=event).status_code == 202
    preferences = f"/v1/users/{member['id']}/preferences"
    chosen = client.put(preferences, json={"channels": {"transactional": ["inbox", "sms"]}})
    assert chosen.status_code == 200, chosen.text
    ran = client.post("/v1/jobs/notify.digests/runs", json={"as_of": "2026-01-01T00:00:00+08:00"})
    assert ran.status_code == 202, ran.text


def test_query_numbers_and_booleans_are_spelled_as_json(
    client: TestClient, member: dict[str, Any]
) -> None:
    inbox = f"/v1/users/{member['id']}/inbox"
    assert client.get(inbox, params={"limit": "5", "unread": "true"}).status_code == 200
    assert_refused(client.get(inbox, params={"limit": "5.0"}), "limit")
    assert_refused(client.get(inbox, params={"limit": "+5"}), "limit")
    assert_refused(client.get(inbox, params={"unread": "2"}), "unread")
    assert_refused(client.get(inbox, params={"unread": "1"}), "unread")
    transactions = f"/v1/wallets/{member['wallet_id']}/transactions"
    assert_refused(client.get(transactions, params={"since": "0.5"}), "since")
    listed = client.get(transactions, params={"since": "2026-01-01T00:00:00Z", "kind": "top_up"})
    assert listed.status_code == 200, listed.text


def test_a_body_that_is_not_json_is_415_and_nan_is_malformed(client: TestClient) -> None:
    body = b'{"external_id": "e-1", "name": "x"}'
    for content_type in ("text/plain", ""):
        refused = client.post("/v1/users", content=body, headers={"Content-Type": content_type})
        assert refused.status_code == 415, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    nan = client.post(
        "/v1/users",
        content=b'{"external_id": "e-1", "name": "x", "low_balance_threshold": {"value": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 400, nan.text
