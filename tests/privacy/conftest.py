"""A user with something of every kind the registry lists, made through the public API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, Engine, String, select

from tests.feedback.support import create_survey, open_ticket, resolve, run_job
from tests.helpers import cny, create_user, deliver_everything, top_up, transfer
from tidings.app.context import AppContext
from tidings.kit.db import read_transaction
from tidings.kit.tables import metadata

_serial = itertools.count(1)


@dataclass(frozen=True)
class Person:
    id: str
    wallet_id: str
    token: str
    secrets: tuple[str, ...]
    """Every personal value given in clear: none may remain after erasure."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_person(client: TestClient, context: AppContext, *, keep: int = 0) -> Person:
    """A user with a profile, preferences (webhook, push token), a login, money moved with a
    memo and delivered notices; `keep` minor units stay in the wallet."""
    n = next(_serial)
    name, phone, email = "欧阳锋锐", f"1390000{n:04d}", f"ouyang{n}@mail.example"
    external, memo, city = f"crm-{n}-77", f"给阿{n}的生日红包", "喀什"
    webhook, push = f"https://hooks.example/ouyang{n}", f"push-token-ouyang-{n}-abcdef"
    agent = f"OuyangPhone/{n}.0"
    user = create_user(client, name=name, phone=phone, email=email, external_id=external)
    prefs = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"webhook_url": webhook, "push_tokens": [push]},
    )
    assert prefs.status_code == 200, prefs.text
    login = client.post(
        f"/v1/users/{user['id']}/logins",
        json={"device_id": f"dev-{n}", "ip": "203.0.113.9", "city": city, "user_agent": agent},
    )
    assert login.status_code in (200, 201), login.text
    top_up(client, user["wallet_id"], 50_000)
    transfer(
        client,
        kind="payment",
        source=user["wallet_id"],
        amount=cny(10_000),
        merchant={"name": "星巴克", "category": "5814"},
        memo=memo,
    )
    if 40_000 - keep:
        transfer(client, kind="withdrawal", source=user["wallet_id"], amount=cny(40_000 - keep))
    deliver_everything(context)
    issued = client.post(f"/v1/users/{user['id']}/tokens")
    assert issued.status_code == 201, issued.text
    return Person(
        id=user["id"],
        wallet_id=user["wallet_id"],
        token=issued.json()["token"],
        secrets=(name, phone, email, external, memo, webhook, push, agent, city, "欧**锐"),
    )


@pytest.fixture
def person(client: TestClient, context: AppContext) -> Person:
    return make_person(client, context)


def give_feedback(client: TestClient, person: Person) -> tuple[str, ...]:
    """A ticket in the person's words with an answer, resolved, and a survey answer with
    free text: what the export must hold and erasure must leave nowhere. Once per test (one
    survey, one invitation)."""
    n = next(_serial)
    subject, body = f"欧阳{n}的转账问题", f"我转给阿{n}的钱没到账，请打给我"
    answer = f"客服{n}号很耐心，谢谢"
    ticket = open_ticket(client, {"id": person.id}, body=body, subject=subject)
    said = client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author": "user", "body": answer + "！"}
    )
    assert said.status_code == 201, said.text
    survey = create_survey(client)
    resolve(client, ticket)
    assert run_job(client, "followup.invitations")["invited"] == 1
    invited = client.get(f"/v1/users/{person.id}/surveys", headers=person.headers)
    [invitation] = invited.json()["items"]
    answered = client.post(
        f"/v1/surveys/{survey['id']}/responses",
        json={
            "invitation_id": invitation["invitation_id"],
            "answers": {"nps": 9, "csat": 4, "fast": 0, "say": answer},
        },
        headers=person.headers,
    )
    assert answered.status_code == 201, answered.text
    return subject, body, answer


def text_values(engine: Engine) -> list[tuple[str, str]]:
    """Every text and JSON value in the database, as `(table.column, text)`."""
    found: list[tuple[str, str]] = []
    with read_transaction(engine) as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | JSON)]
            if not columns:
                continue
            for row in conn.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        found.append((f"{table.name}.{column.name}", str(value)))
    return found


def ciphertexts_of(engine: Engine, user_id: str) -> list[str]:
    """The user's sealed values as stored (users row, preferences, per-user key)."""
    users = metadata.tables["users"]
    prefs = metadata.tables["notify_preferences"]
    with read_transaction(engine) as conn:
        row: Any = conn.execute(select(users).where(users.c.id == user_id)).one()
        pref: Any = conn.execute(select(prefs).where(prefs.c.user_id == user_id)).one()
    values = [row.name_enc, row.phone_enc, row.email_enc, row.external_id_enc, row.phone_hash]
    values += [row.email_hash, row.external_id_hash, pref.push_tokens_enc, pref.webhook_secret_enc]
    return [v for v in values if v]
