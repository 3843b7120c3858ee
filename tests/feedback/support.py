"""Builders for follow-up tests, through the public API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def as_user(client: TestClient, user: dict[str, Any]) -> dict[str, str]:
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def open_ticket(
    client: TestClient, user: dict[str, Any], body: str = "转账没到账", **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/tickets", json={"user_id": user["id"], "channel": "app", "body": body, **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def run_job(client: TestClient, name: str, as_of: str | None = None) -> dict[str, Any]:
    response = client.post(f"/v1/jobs/{name}/runs", json={"as_of": as_of} if as_of else {})
    assert response.status_code == 202, response.text
    return dict(response.json())


NPS_SURVEY: dict[str, Any] = {
    "name": "客服回访",
    "trigger": {"event_type": "followup.ticket.resolved"},
    "sample_percent": 100,
    "questions": [
        {
            "id": "nps",
            "kind": "nps",
            "text": {"zh-CN": "您有多大可能推荐我们？", "en": "How likely?"},
        },
        {"id": "csat", "kind": "csat", "text": {"zh-CN": "您对本次服务满意吗？"}},
        {
            "id": "fast",
            "kind": "choice",
            "text": {"zh-CN": "回复速度如何？"},
            "choices": [{"zh-CN": "快"}, {"zh-CN": "一般"}, {"zh-CN": "慢"}],
        },
        {"id": "say", "kind": "text", "text": {"zh-CN": "还有什么想说的？"}},
    ],
}


def create_survey(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/surveys", json={**NPS_SURVEY, **overrides})
    assert response.status_code == 201, response.text
    return dict(response.json())


def resolve(client: TestClient, ticket: dict[str, Any], status: str = "resolved") -> None:
    response = client.post(f"/v1/tickets/{ticket['id']}/status", json={"status": status})
    assert response.status_code == 200, response.text


def replayed(
    client: TestClient, path: str, body: dict[str, Any], other: dict[str, Any], *, status: int
) -> dict[str, Any]:
    """`body` posted twice under one Idempotency-Key gives the same answer; `other` under
    that key is 409. Returns the answer."""
    key = {"Idempotency-Key": f"replay:{path}"}
    first = client.post(path, json=body, headers=key)
    replay = client.post(path, json=body, headers=key)
    assert first.status_code == replay.status_code == status, first.text
    assert first.json() == replay.json()
    assert client.post(path, json=other, headers=key).status_code == 409
    return dict(first.json())


def assert_refused(response: Any, field: str) -> None:
    """A 422 whose errors name `field`."""
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
