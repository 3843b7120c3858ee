"""Guessing keys is throttled per client address across processes; a short operator key never
starts a service."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from tests.conftest import ADMIN_KEY
from tests.helpers import create_user
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.kit.clock import FixedClock

NOW = datetime(2026, 12, 6, 10, 1, 40, tzinfo=UTC)
"""100 s into a 5-minute window (windows start at whole multiples of 300 s since the epoch)."""
ATTACKER = ("198.51.100.66", 40000)
OFFICE = ("203.0.113.10", 40000)


@pytest.fixture
def clients(context: AppContext) -> Iterator[dict[str, TestClient]]:
    """The same app seen from two addresses, and a second process's app on the same database."""
    context.clock = FixedClock(NOW)
    second = AppContext(
        settings=context.settings,
        engine=context.engine,
        keyring=context.keyring,
        clock=context.clock,
    )
    with (
        TestClient(create_app(context), client=ATTACKER) as attacker,
        TestClient(create_app(context), client=OFFICE) as office,
        TestClient(create_app(second), client=ATTACKER) as attacker_elsewhere,
    ):
        yield {"attacker": attacker, "office": office, "elsewhere": attacker_elsewhere}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_wrong_operator_keys_are_throttled_per_address(
    clients: dict[str, TestClient], context: AppContext
) -> None:
    limit = context.settings.auth_failure_limit
    assert limit == 20
    answers = [
        clients["attacker"]
        .get("/v1/ledger/trial-balance", headers=bearer(f"guess-{n:04d}"))
        .status_code
        for n in range(300)
    ]
    assert answers[:limit] == [401] * limit
    assert set(answers[limit:]) == {429}
    refused = clients["attacker"].get("/v1/ledger/trial-balance", headers=bearer("guess-x"))
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert context.settings.auth_failure_window_seconds == 300
    assert refused.headers["Retry-After"] == "200"  # the rest of the window, to the second
    # From the throttled address even the right key waits (or guessing would go on)…
    assert (
        clients["attacker"].get("/v1/ledger/trial-balance", headers=bearer(ADMIN_KEY)).status_code
        == 429
    )
    # …in every process, since the count lives in the database…
    elsewhere = clients["elsewhere"].get("/v1/ledger/trial-balance", headers=bearer(ADMIN_KEY))
    assert elsewhere.status_code == 429
    # …while another address is not affected.
    office = clients["office"].get("/v1/ledger/trial-balance", headers=bearer(ADMIN_KEY))
    assert office.status_code == 200, office.text


def test_wrong_user_tokens_count_as_failures_too(
    clients: dict[str, TestClient], context: AppContext
) -> None:
    office = clients["office"]
    office.headers.update(bearer(ADMIN_KEY))
    user = create_user(office)
    token = office.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    for n in range(context.settings.auth_failure_limit):
        wrong = clients["attacker"].get(f"/v1/users/{user['id']}", headers=bearer(f"tdu_{n}"))
        assert wrong.status_code == 401
    own = clients["attacker"].get(f"/v1/users/{user['id']}", headers=bearer(token))
    assert own.status_code == 429
    assert office.get(f"/v1/users/{user['id']}", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("key", ["x", "a" * 31])
def test_a_short_admin_key_is_not_a_setting(key: str) -> None:
    with pytest.raises(ValidationError, match="TIDINGS_ADMIN_KEY"):
        Settings(admin_key=SecretStr(key))
    assert Settings(admin_key=SecretStr("k" * 32)).admin_key is not None


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_short_admin_key_refuses_to_start(command: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TIDINGS_ADMIN_KEY": "dev-admin",
        "TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path / 'tidings.db'}",
        "TIDINGS_VAR_DIR": str(tmp_path / "var"),
    }
    started = subprocess.run(
        [str(Path(sys.executable).parent / "tidings"), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert started.returncode != 0
    assert "TIDINGS_ADMIN_KEY" in started.stdout + started.stderr
