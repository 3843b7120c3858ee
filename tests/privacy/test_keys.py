"""`tidings keys rotate | check`: every value under the newest key, while writes go on."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from tests.conftest import ADMIN_KEY, DATA_KEY, LOOKUP_KEY
from tests.helpers import create_user, deliver_everything
from tests.privacy.conftest import Person, text_values
from tidings.app import keys
from tidings.app.context import AppContext
from tidings.cli.main import app as cli
from tidings.config import Settings, get_settings
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.tables import metadata
from tidings.privacy.crypto import Keyring
from tidings.users import service as users
from tidings.users.schemas import UserUpdate

NEW_KEY = "k2:" + base64.b64encode(b"\x07" * 32).decode()
BOTH = Keyring.from_specs(data_key_spec=f"{NEW_KEY},{DATA_KEY}", lookup_key_b64=LOOKUP_KEY)
NEW_ONLY = Keyring.from_specs(data_key_spec=NEW_KEY, lookup_key_b64=LOOKUP_KEY)


def all_values(engine: Engine) -> list[tuple[keys.Sealed, Any]]:
    found = []
    with read_transaction(engine) as conn:
        for place in keys.places():
            column = metadata.tables[place.table].c[place.column]
            found += [(place, v) for (v,) in conn.execute(select(column)) if v]
    return found


def test_rotation_under_concurrent_writes_leaves_every_value_readable_under_the_new_key(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    people = [create_user(client, name=f"用户{n}") for n in range(12)]
    change = client.post(  # a sealed code and a pinned address in the event and the notice
        f"/v1/users/{person.id}/contact-changes", json={"phone": "13911112222"}
    )
    assert change.status_code == 202, change.text
    deliver_everything(context)
    assert keys.check(engine, BOTH, retiring="k1").retiring  # everything is under k1 yet
    stop, written = threading.Event(), {}

    def writer() -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            for user in people[::3]:
                name = f"改名{round_}"
                with write_transaction(engine) as conn:
                    users.update_user(
                        conn, BOTH, user["id"], UserUpdate(name=name), at=datetime.now(UTC)
                    )
                written[user["id"]] = name

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        rewritten = keys.rotate(engine, BOTH, batch=3)
    finally:
        stop.set()
        thread.join()
    assert rewritten["users.name_enc"] > 0
    assert rewritten["notify_preferences.push_tokens_enc"] == 1
    assert rewritten["privacy_user_keys.key_enc"] >= 1
    assert rewritten["outbox.data"] >= 1
    assert rewritten["notifications.data"] >= 1

    report = keys.check(engine, NEW_ONLY, retiring="k1")
    assert report.ok, (report.unknown, report.retiring)
    under_k1 = re.compile(r"(?<![a-z])k1\$")  # not the per-user keys' `uk1$`
    assert [where for where, value in text_values(engine) if under_k1.search(value)] == []
    assert all(keys.readable(NEW_ONLY, place, value) for place, value in all_values(engine))
    with read_transaction(engine) as conn:
        for user_id, name in written.items():
            row = conn.execute(
                select(metadata.tables["users"].c.name_enc).where(
                    metadata.tables["users"].c.id == user_id
                )
            ).scalar_one()
            assert NEW_ONLY.decrypt(row, context="users.name") == name  # no write was lost
    # the user's own free text still opens through the rotated per-user key
    memo = person.secrets[4]
    client.app.state.context.keyring = NEW_ONLY  # type: ignore[attr-defined]
    shown = client.get(f"/v1/wallets/{person.wallet_id}/transactions").json()["items"]
    assert memo in [item["memo"] for item in shown]
    assert keys.rotate(engine, BOTH) == dict.fromkeys(rewritten, 0)  # a second run: nothing


class Crash(Exception):
    pass


def test_a_rotation_stopped_midway_resumes_where_values_are_left(
    client: TestClient, engine: Engine
) -> None:
    for n in range(7):
        create_user(client, name=f"用户{n}")

    def crash(place: keys.Sealed, seen: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        keys.rotate(engine, BOTH, batch=2, on_batch=crash)
    assert keys.check(engine, BOTH, retiring="k1").retiring  # half done
    resumed = keys.rotate(engine, BOTH, batch=2)
    assert resumed["users.name_enc"] == 7 - 2  # the first batch was committed before the crash
    assert keys.check(engine, NEW_ONLY).ok


def invoke(*args: str) -> Any:
    """The command as a shell runs it: settings read afresh from the environment."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def test_the_commands_rotate_resume_and_check(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, client: TestClient, person: Person
) -> None:
    monkeypatch.setenv("TIDINGS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TIDINGS_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("TIDINGS_LOOKUP_KEY", LOOKUP_KEY)
    monkeypatch.setenv("TIDINGS_DATA_KEY", NEW_ONLY_SPEC)
    unreadable = invoke("keys", "check")
    assert unreadable.exit_code == 1
    assert "no key for users.name_enc" in unreadable.output

    monkeypatch.setenv("TIDINGS_DATA_KEY", f"{NEW_KEY},{DATA_KEY}")
    retiring = invoke("keys", "check", "--retiring", "k1")
    assert retiring.exit_code == 1
    rotated = invoke("keys", "rotate", "--batch", "2")
    assert rotated.exit_code == 0, rotated.output
    summary = json.loads(rotated.stdout.strip().splitlines()[-1])
    assert summary["active_key"] == "k2"
    assert summary["rewritten"]["users.name_enc"] == 1

    monkeypatch.setenv("TIDINGS_DATA_KEY", NEW_ONLY_SPEC)  # the old key removed
    checked = invoke("keys", "check")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout.strip().splitlines()[-1])["ok"] is True


NEW_ONLY_SPEC = NEW_KEY
