"""Export: the person's data, readable, of each kind the registry lists; only for them."""

from __future__ import annotations

import json
import tracemalloc

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from tests.helpers import cny, create_user, top_up, transfer
from tests.privacy.conftest import Person, give_feedback, make_person
from tidings.app import privacy
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.db import read_transaction, write_transaction
from tidings.privacy.registry import Kind
from tidings.risk.models import audit_log

SECTIONS = ["preferences", "consents", "notifications", "logins", "tickets", "survey_answers"]


def test_the_export_holds_each_kind_of_data_in_clear(
    client: TestClient, engine: Engine, person: Person
) -> None:
    """API.md's sections, each filled; a value of every kind the registry lists (but the
    hashes and secrets it keeps out); the person's values in clear; money in from others."""
    said = give_feedback(client, person)
    prefs = client.put(
        f"/v1/users/{person.id}/preferences",
        json={
            "marketing_consent": {"sms": True},
            "quiet_hours": {"start": "22:00", "end": "07:00"},
        },
        headers=person.headers,
    )
    assert prefs.status_code == 200, prefs.text
    friend = create_user(client, name="黄药师")
    top_up(client, friend["wallet_id"], 3_000)
    gift = "师父的压岁钱"
    transfer(
        client,
        kind="p2p",
        source=friend["wallet_id"],
        destination=person.wallet_id,
        amount=cny(3_000),
        memo=gift,
    )

    response = client.get(f"/v1/users/{person.id}/export", headers=person.headers)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    document = json.loads(response.text)
    assert list(document) == [
        *("user_id", "exported_at", "profile", "wallets", "transactions"),
        *SECTIONS,
        "tables",
    ]
    assert all(document[section] for section in ("transactions", *SECTIONS)), document
    name, phone, email = person.secrets[:3]
    profile = document["profile"]
    assert (profile["name"], profile["phone"], profile["email"]) == (name, f"+86{phone}", email)
    assert document["wallets"][0]["id"] == person.wallet_id
    received = [t for t in document["transactions"] if t["kind"] == "p2p"]
    assert [(t["amount"]["value"], t["memo"]) for t in received] == [(3_000, gift)]
    assert {t["wallet_id"] for t in document["transactions"]} == {person.wallet_id}
    for value in (*person.secrets[:-1], *said):
        assert value in response.text, value

    rows = {privacy.SECTIONS[s]: document[s] for s in SECTIONS} | document["tables"]
    assert set(rows) == set(privacy.export_tables())
    found = {
        entry.kind
        for name, entries in privacy.export_tables().items()
        for entry in entries
        if any(row.get(entry.column) not in (None, "", {}, []) for row in rows[name])
    }
    assert found == set(Kind) - set(privacy.NOT_EXPORTED)
    assert "privacy_user_keys" not in rows
    assert "phone_hash" not in rows["users"][0]
    assert "webhook_secret_enc" not in document["preferences"][0]
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


def test_an_operator_may_export_for_the_user_audited_and_an_unknown_user_is_404(
    client: TestClient, engine: Engine, person: Person
) -> None:
    assert client.get(f"/v1/users/{person.id}/export").status_code == 200
    assert client.get("/v1/users/usr_nobody/export").status_code == 404
    with read_transaction(engine) as conn:
        audits = list(
            conn.execute(select(audit_log).where(audit_log.c.action == "privacy.exported"))
        )
    assert [(a.actor, a.user_id) for a in audits] == [("operator", person.id)]


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
