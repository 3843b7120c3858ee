"""Template versions made live the way operators do it: drafted by one, approved by another."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

AUTHOR = {"X-Operator": "alice"}
REVIEWER = {"X-Operator": "bob"}


def publish(client: TestClient, template: dict[str, Any]) -> dict[str, Any]:
    """Draft as alice, approve and activate as bob; the version as activated."""
    drafted = client.post("/v1/templates", json=template, headers=AUTHOR)
    assert drafted.status_code == 201, drafted.text
    version_id = drafted.json()["id"]
    approved = client.post(f"/v1/templates/{version_id}/approve", headers=REVIEWER)
    assert approved.status_code == 200, approved.text
    activated = client.post(f"/v1/templates/{version_id}/activate", headers=REVIEWER)
    assert activated.status_code == 200, activated.text
    return dict(activated.json())
