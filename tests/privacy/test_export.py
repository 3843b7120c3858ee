"""Export: the person's data, readable, of each kind the registry lists; only for them."""

from __future__ import annotations

import json
import tracemalloc

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from tests.privacy.conftest import Person, make_person
from tidings.app import privacy
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.db import read_transaction, write_transaction
from tidings.privacy.registry import Kind
from tidings.risk.models import audit_log


def test_the_export_holds_each_kind_of_data_in_clear(
    client: TestClient, engine: Engine, person: Person
) -> None:
    response = client.get(f"/v1/users/{person.id}/export", headers=person.headers)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    document = json.loads(response.text)
    text = response.text
    name, phone, email, external, memo, webhook, push, agent, city, _ = person.secrets
    for value in (name, phone, email, external, memo, webhook, push, agent, city):
        assert value in text, value
    tables = document["tables"]
    assert set(tables) == set(privacy.export_tables())
    kinds = {entry.kind for entries in privacy.export_tables().values() for entry in entries}
    assert {Kind.IDENTITY, Kind.CONTACT, Kind.DEVICE, Kind.FREE_TEXT, Kind.EVENT_DATA} <= kinds
    for name_ in ("users", "transfers", "inbox_items", "security_logins", "notify_preferences"):
        assert tables[name_], name_
    assert "privacy_user_keys" not in tables
    assert "phone_hash" not in tables["users"][0]
    assert document["wallets"][0]["id"] == person.wallet_id
    with read_transaction(engine) as conn:
        audits = list(
            conn.execute(select(audit_log).where(audit_log.c.action == "privacy.exported"))
        )
    assert [(a.actor, a.user_id) for a in audits] == [(f"user:{person.id}", person.id)]


def test_another_users_token_gets_404_and_nothing_is_audited(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    other = make_person(client, context)
    response = client.get(f"/v1/users/{other.id}/export", headers=person.headers)
    assert response.status_code == 404
    assert "欧阳锋锐" not in response.text
    with read_transaction(engine) as conn:
        assert not list(
            conn.execute(select(audit_log).where(audit_log.c.action == "privacy.exported"))
        )


def test_an_operator_may_export_for_the_user_and_an_unknown_user_is_404(
    client: TestClient, person: Person
) -> None:
    assert client.get(f"/v1/users/{person.id}/export").status_code == 200
    assert client.get("/v1/users/usr_nobody/export").status_code == 404


def test_a_large_history_streams_without_being_held_in_memory(
    client: TestClient, engine: Engine, context: AppContext, person: Person
) -> None:
    """10,000 events of 1 KB each (10 MB of JSON) leave the export while it holds under 3 MB."""
    filler = "数据" * 170
    rows = [
        {
            "id": f"evt_bulk{n:024d}",
            "source": "core",
            "type": "core.history",
            "subject": person.id,
            "user_id": person.id,
            "time": context.clock.now(),
            "data": {"n": n, "text": filler},
            "relayed_at": context.clock.now(),
        }
        for n in range(10_000)
    ]
    with write_transaction(engine) as conn:
        conn.execute(insert(outbox), rows)
    del rows
    chunks = privacy.export_chunks(engine, context.keyring, person.id, at=context.clock.now())
    tracemalloc.start()
    size = events = 0
    for chunk in chunks:
        size += len(chunk.encode())
        events += chunk.count('"core.history"')
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert events == 10_000
    assert size > 10_000_000
    assert peak < 3_000_000, peak
