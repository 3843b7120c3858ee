from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import create_user


def test_personal_fields_come_back_masked_and_are_encrypted_at_rest(
    client: TestClient, engine: Engine
) -> None:
    user = create_user(client, name="张三丰", phone="13812348000", email="zhang.san@example.com")
    assert user["name"] == "张*丰"
    assert user["phone"] == "138****8000"
    assert user["email"] == "z***@example.com"
    assert user["wallet_id"].startswith("wal_")
    with engine.connect() as conn:
        stored = " ".join(str(v) for v in conn.execute(text("SELECT * FROM users")).one())
    for secret in ("张三丰", "13812348000", "zhang.san@example.com"):
        assert secret not in stored


def test_phone_written_any_common_way_is_stored_as_e164(client: TestClient) -> None:
    user = create_user(client, phone="+86 138-1234-8000")
    assert user["phone"] == "138****8000"


def test_invalid_phone_timezone_and_locale_are_named_in_the_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/users",
        json={
            "external_id": "x1",
            "name": "李四",
            "phone": "12345",
            "timezone": "Mars/Base",
            "locale": "xx-QQ",
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"phone", "timezone", "locale"}


def test_duplicate_external_id_is_a_conflict_and_creates_nothing(client: TestClient) -> None:
    create_user(client, external_id="same")
    response = client.post("/v1/users", json={"external_id": "same", "name": "王五"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "external_id"


def test_user_token_sees_only_its_own_user(client: TestClient) -> None:
    alice, bob = create_user(client), create_user(client)
    token = client.post(f"/v1/users/{alice['id']}/tokens").json()["token"]
    as_alice = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/users/{alice['id']}", headers=as_alice).status_code == 200
    assert client.get(f"/v1/users/{bob['id']}", headers=as_alice).status_code == 404
    assert client.get(f"/v1/wallets/{bob['wallet_id']}", headers=as_alice).status_code == 404
    # a user may not mint tokens or create users
    assert client.post(f"/v1/users/{alice['id']}/tokens", headers=as_alice).status_code == 403
    assert (
        client.post(
            "/v1/users", headers=as_alice, json={"external_id": "e", "name": "n"}
        ).status_code
        == 403
    )


def test_bad_or_missing_credentials_are_401(client: TestClient) -> None:
    user = create_user(client)
    assert (
        client.get(f"/v1/users/{user['id']}", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    response = client.get(f"/v1/users/{user['id']}", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"


def test_revoked_token_stops_working_at_once(client: TestClient) -> None:
    user = create_user(client)
    issued = client.post(f"/v1/users/{user['id']}/tokens").json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get(f"/v1/users/{user['id']}", headers=headers).status_code == 200
    revoke = client.delete(f"/v1/users/{user['id']}/tokens/{issued['id']}", headers=headers)
    assert revoke.status_code == 204
    assert client.get(f"/v1/users/{user['id']}", headers=headers).status_code == 401


def test_tokens_are_stored_hashed(client: TestClient, engine: Engine) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    with engine.connect() as conn:
        hashes = list(conn.execute(text("SELECT token_hash FROM user_tokens")).scalars())
    assert token not in hashes
    assert len(hashes) == 1


def test_update_changes_threshold_and_time_zone(client: TestClient) -> None:
    user = create_user(client)
    response = client.patch(
        f"/v1/users/{user['id']}",
        json={
            "timezone": "Europe/London",
            "low_balance_threshold": {"value": 5000, "currency": "CNY"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == "Europe/London"
    assert response.json()["low_balance_threshold"] == {"value": 5000, "currency": "CNY"}
