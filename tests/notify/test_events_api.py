from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import cny, create_user, payment_event


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT type, user_id, source, data FROM outbox")))


def test_core_event_by_external_id_is_stored_once(client: TestClient, engine: Engine) -> None:
    user = create_user(client, external_id="core-user-7")
    first = client.post("/v1/events", json=payment_event("core-user-7", channel_ref="POS-9"))
    again = client.post("/v1/events", json=payment_event("core-user-7", channel_ref="POS-9"))
    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    rows = outbox_rows(engine)
    assert len(rows) == 1
    assert rows[0].user_id == user["id"]
    assert rows[0].source == "urn:bank:core"


def test_extra_data_fields_are_kept(client: TestClient, engine: Engine) -> None:
    user = create_user(client)
    client.post("/v1/events", json=payment_event(user["id"], channel_ref="POS-9"))
    data = outbox_rows(engine)[0].data
    if isinstance(data, str):
        import json

        data = json.loads(data)
    assert data["channel_ref"] == "POS-9"
    assert data["amount"] == cny(12_800)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"merchant": {"name": "星巴克"}, "balance_after": cny(1)}}, "data.amount"),
        (
            {
                "data": {
                    "amount": {"value": 1.5, "currency": "CNY"},
                    "merchant": {"name": "x"},
                    "balance_after": cny(1),
                }
            },
            "data.amount.value",
        ),
        ({"specversion": "0.3"}, "specversion"),
        ({"subject": "nobody-knows-me"}, "subject"),
        ({"type": "Not A Type"}, "type"),
    ],
)
def test_bad_event_is_a_problem_naming_the_field(
    client: TestClient, engine: Engine, change: dict[str, Any], field: str
) -> None:
    user = create_user(client)
    response = client.post("/v1/events", json={**payment_event(user["id"]), **change})
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert outbox_rows(engine) == []


def test_unknown_type_is_accepted_but_flagged(client: TestClient) -> None:
    user = create_user(client)
    event = {**payment_event(user["id"]), "type": "bank.custom.thing", "data": {"x": 1}}
    response = client.post("/v1/events", json=event)
    assert response.status_code == 202
    assert response.json()["known_type"] is False


def test_users_cannot_post_events(client: TestClient) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    response = client.post(
        "/v1/events", json=payment_event(user["id"]), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
