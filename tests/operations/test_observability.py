from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY, DATA_KEY, LOOKUP_KEY
from tests.helpers import cny, create_user, top_up
from tidings.config import Settings

TIDINGS = str(Path(sys.executable).with_name("tidings"))


def test_healthz_answers_when_the_database_does(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    user = create_user(client)
    client.get(f"/v1/wallets/{user['wallet_id']}")
    text = client.get("/metrics").text
    assert 'tidings_http_requests_total{method="POST",route="/v1/users",status="201"}' in text
    assert (
        'tidings_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/v1/wallets/{wallet_id}"}'
        in text
    )


def test_logs_are_json_lines_without_personal_data(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(client, name="欧阳娜娜", phone="13912345678", email="nana@example.com")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert any(line["event"] == "http.request" and line["status"] == 201 for line in lines)
    dumped = json.dumps(lines, ensure_ascii=False)
    for secret in ("欧阳娜娜", "13912345678", "nana@example.com"):
        assert secret not in dumped


def test_token_and_ledger_check_commands(settings: Settings, client: TestClient) -> None:
    user = create_user(client, external_id="cli-user")
    top_up(client, user["wallet_id"], 1_000)
    env = {
        "TIDINGS_DATABASE_URL": settings.database_url,
        "TIDINGS_DATA_KEY": DATA_KEY,
        "TIDINGS_LOOKUP_KEY": LOOKUP_KEY,
        "TIDINGS_ADMIN_KEY": ADMIN_KEY,
        "TIDINGS_VAR_DIR": str(settings.var_dir),
        "PATH": str(Path(sys.executable).parent),
    }
    token = subprocess.run(
        [TIDINGS, "token", "cli-user"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    as_user = client.get(
        f"/v1/wallets/{user['wallet_id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert as_user.status_code == 200
    assert as_user.json()["balance"] == cny(1_000)
    check = subprocess.run(
        [TIDINGS, "ledger", "check", "--json"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout.splitlines()[-1])["ok"] is True
    missing = subprocess.run([TIDINGS, "token", "nobody"], env=env, capture_output=True, text=True)
    assert missing.returncode == 1
