from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.helpers import create_user
from tidings.config import Settings


def test_defaults_then_changes_are_kept(client: TestClient) -> None:
    user = create_user(client)
    prefs = client.get(f"/v1/users/{user['id']}/preferences").json()
    assert prefs["channels"]["critical"] == ["inbox", "push", "sms", "email"]
    assert prefs["marketing_consent"]["sms"] is False
    assert prefs["quiet_hours"] is None
    changed = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={
            "channels": {"transactional": ["inbox", "sms"]},
            "quiet_hours": {"start": "22:00", "end": "08:00"},
            "digest": False,
            "push_tokens": ["fcm-token-abcdefgh-1234"],
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["channels"]["transactional"] == ["inbox", "sms"]
    assert body["quiet_hours"] == {"start": "22:00", "end": "08:00"}
    assert body["digest"] is False
    assert body["push_tokens"] == ["fcm-…1234"]


def test_channels_per_kind_override_the_category_until_removed(client: TestClient) -> None:
    user = create_user(client)
    url = f"/v1/users/{user['id']}/preferences"
    first = client.put(
        url,
        json={
            "kind_channels": {
                "credit.repayment.due": ["inbox", "sms"],
                "wallet.payment.succeeded": ["push"],
            }
        },
    )
    assert first.status_code == 200, first.text
    assert first.json()["kind_channels"] == {
        "credit.repayment.due": ["inbox", "sms"],
        "wallet.payment.succeeded": ["push"],
    }
    second = client.put(url, json={"kind_channels": {"wallet.payment.succeeded": None}})
    assert second.json()["kind_channels"] == {"credit.repayment.due": ["inbox", "sms"]}
    assert second.json()["channels"]["transactional"] == ["inbox", "push"]


def test_unknown_kind_is_refused_naming_it_and_nothing_changes(client: TestClient) -> None:
    user = create_user(client)
    url = f"/v1/users/{user['id']}/preferences"
    response = client.put(
        url, json={"digest": False, "kind_channels": {"wallet.payment.teleported": ["sms"]}}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "kind_channels.wallet.payment.teleported"
    assert client.get(url).json()["digest"] is True


def test_a_webhook_into_our_own_network_is_refused_naming_the_field(client: TestClient) -> None:
    user = create_user(client)
    url = f"/v1/users/{user['id']}/preferences"
    for target in (
        "http://169.254.169.254/latest/",
        "http://127.0.0.1:8000/v1",
        "http://localhost/",
    ):
        response = client.put(url, json={"webhook_url": target})
        assert response.status_code == 422, target
        assert response.json()["errors"][0]["field"] == "webhook_url"
    assert client.get(url).json()["webhook_url"] is None
    public = client.put(url, json={"webhook_url": "https://hooks.example.com/tidings"})
    assert public.json()["webhook_url"] == "https://hooks.example.com/tidings"


def test_marketing_consent_is_a_ledger_with_who_and_how(client: TestClient) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    as_user = {"Authorization": f"Bearer {token}"}
    url = f"/v1/users/{user['id']}/preferences"
    client.put(url, json={"marketing_consent": {"sms": True, "push": True}}, headers=as_user)
    client.put(url, json={"marketing_consent": {"sms": False}}, headers=as_user)
    prefs = client.get(url, headers=as_user).json()
    assert prefs["marketing_consent"]["sms"] is False
    assert prefs["marketing_consent"]["push"] is True
    history = client.get(f"/v1/users/{user['id']}/consents", headers=as_user).json()["items"]
    sms = [e for e in history if e["channel"] == "sms"]
    assert [e["granted"] for e in sms] == [False, True]
    assert all(e["actor"] == user["id"] and e["method"] == "api" for e in history)


def test_bad_quiet_hours_and_channels_are_named(client: TestClient) -> None:
    user = create_user(client)
    response = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"quiet_hours": {"start": "25:00", "end": "08:00"}, "channels": {"critical": ["fax"]}},
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "quiet_hours.start" in fields
    assert any(f.startswith("channels.critical") for f in fields)


def test_sms_reply_td_withdraws_sms_marketing_consent(
    client: TestClient, settings: Settings
) -> None:
    user = create_user(client, phone="13912340001")
    url = f"/v1/users/{user['id']}/preferences"
    client.put(url, json={"marketing_consent": {"sms": True, "email": True}})
    assert client.post("/v1/providers/aliyun/sms-up", json=[]).status_code == 401
    settings.callback_token = SecretStr("cb-secret")
    reply = [
        {
            "phone_number": "13912340001",
            "content": "TD",
            "sign_name": "Tidings钱包",
            "dest_code": "1234",
            "send_time": "2026-11-24 12:00:00",
            "sequence_id": 77,
        }
    ]
    wrong = client.post("/v1/providers/aliyun/sms-up?token=nope", json=reply)
    assert wrong.status_code == 401
    response = client.post("/v1/providers/aliyun/sms-up?token=cb-secret", json=reply)
    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "成功"}
    consent = client.get(url).json()["marketing_consent"]
    assert consent["sms"] is False
    assert consent["email"] is True
    latest = client.get(f"/v1/users/{user['id']}/consents").json()["items"][0]
    assert latest["method"] == "sms_reply"
    assert latest["channel"] == "sms"
    assert "77" in latest["evidence"]
