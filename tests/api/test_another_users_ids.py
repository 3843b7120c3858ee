"""Every operation that names something by id, called with one user's token and another user's
ids, on both databases: 403 or 404, the same answer an id nobody has gets, and nothing of the
other user changes.

The ids sit in the path (a user, wallet, transfer, notification, line, ticket…) or in the body
(a payment's source wallet, a loan's line, a ticket's user). Every body is valid and every id
real: the same requests with the operator key get past the ownership check (to a success, or
to a 409 or 422 of the business rules), so the 403s and 404s come from that check, not from
validation or a mistyped path. Operator-only operations are in the list too: a user's token
gets 403 there.

The list is checked against the app's own OpenAPI document: an operation added later with an id
in its path, or with a body field that names another user's thing, fails
`test_every_operation_that_takes_an_id_is_attacked_here` until it is added below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.campaigns.support import campaign_body
from tests.credit.support import draw
from tests.feedback.support import NPS_SURVEY, open_ticket, resolve, run_job
from tests.helpers import (
    cny,
    create_user,
    deliver_everything,
    payment_body,
    read_books,
    top_up,
)
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.events import outbox
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.kit.ids import is_id

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai, a Monday: inside every sending window."""

KIND = "acme.card.statement"
KIND_DEFINITION: dict[str, Any] = {
    "category": "transactional",
    "templates": {"zh-CN": {"title": "账单已出", "body": "本期账单已出。"}},
    "description": "The card core posted a statement.",
}


TRANSFERS_FROM_THEIR_WALLETS: list[dict[str, Any]] = [
    payment_body("{wallet_id}", 1_000),
    {"kind": "withdrawal", "source": "{wallet_id}", "amount": cny(1_000)},
    {"kind": "p2p", "source": "{wallet_id}", "destination": "{own_wallet_id}", "amount": cny(1)},
    {"kind": "allocation", "source": "{wallet_id}", "destination": "{sub_wallet_id}"}
    | {"amount": cny(1)},
]
LOAN: dict[str, Any] = {"line_id": "{line_id}", "amount": cny(10_000), "term_months": 3}
REPAYMENTS: list[dict[str, Any]] = [
    {"drawdown_id": "{drawdown_id}", "amount": cny(100)},
    {"drawdown_id": "{drawdown_id}", "amount": cny(100), "source": "{wallet_id}"},
]


@dataclass(frozen=True)
class Attack:
    """One request of the attacker's: `path` with `{name}`s the victim's ids fill."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    wallet: str = "main"
    """Which of the victim's wallets `{wallet_id}` is."""


ATTACKS: list[Attack] = [
    # users, tokens, web links
    Attack("GET", "/v1/users/{user_id}"),
    Attack("PATCH", "/v1/users/{user_id}", {"name": "小偷"}),
    Attack("POST", "/v1/users/{user_id}/tokens"),
    Attack("DELETE", "/v1/users/{user_id}/tokens/{token_id}"),
    Attack("POST", "/v1/users/{user_id}/web-links"),
    # wallets and transfers
    Attack("GET", "/v1/users/{user_id}/wallets"),
    Attack("GET", "/v1/wallets/{wallet_id}"),
    Attack("POST", "/v1/wallets/{wallet_id}/sub-wallets", {"name": "偷", "purpose": "travel"}),
    Attack("POST", "/v1/wallets/{wallet_id}/close", wallet="sub"),
    Attack("GET", "/v1/wallets/{wallet_id}/transactions"),
    Attack("GET", "/v1/wallets/{wallet_id}/statements"),
    Attack("POST", "/v1/wallets/{wallet_id}/freeze", {}),
    Attack("POST", "/v1/wallets/{wallet_id}/unfreeze"),
    Attack("GET", "/v1/transfers/{transfer_id}"),
    Attack("POST", "/v1/transfers/{held_id}/verification", {"code": "123456"}),
    Attack("PUT", "/v1/transfers/{transfer_id}/risk-outcome", {"fraudulent": True}),
    *(Attack("POST", "/v1/transfers", body) for body in TRANSFERS_FROM_THEIR_WALLETS),
    # security
    Attack("POST", "/v1/users/{user_id}/logins", {"device_id": "dev-thief", "ip": "198.51.100.7"}),
    Attack("POST", "/v1/users/{user_id}/security-changes", {"kind": "password"}),
    Attack("POST", "/v1/users/{user_id}/contact-changes", {"phone": "13900008888"}),
    Attack("POST", "/v1/users/{user_id}/contact-changes/{change_id}/confirm", {"code": "123456"}),
    # credit
    Attack("GET", "/v1/credit/applications/{application_id}"),
    Attack(
        "POST",
        "/v1/credit/applications/{application_id}/decision",
        {"decision": "approve", "limit": cny(1_000_000), "reason": "looks fine"},
    ),
    Attack("GET", "/v1/users/{user_id}/credit-line"),
    Attack("GET", "/v1/credit/lines/{line_id}"),
    Attack("POST", "/v1/credit/lines/{line_id}/limit", {"limit": cny(1), "reason": "x"}),
    Attack("POST", "/v1/credit/lines/{line_id}/auto-debit", {"enabled": False}),
    Attack("GET", "/v1/credit/lines/{line_id}/statement"),
    Attack("GET", "/v1/credit/drawdowns/{drawdown_id}"),
    Attack(
        "POST",
        "/v1/credit/applications",
        {"user_id": "{user_id}", "requested_limit": cny(100_000)},
    ),
    *(Attack("POST", path, LOAN) for path in ("/v1/credit/quotes", "/v1/credit/drawdowns")),
    *(Attack("POST", "/v1/credit/repayments", body) for body in REPAYMENTS),
    # insights
    Attack("GET", "/v1/users/{user_id}/spending"),
    Attack("GET", "/v1/users/{user_id}/suggestions"),
    # notifications and preferences
    Attack("GET", "/v1/users/{user_id}/inbox"),
    Attack("GET", "/v1/users/{user_id}/notifications"),
    Attack("POST", "/v1/users/{user_id}/inbox/read-all"),
    Attack("POST", "/v1/notifications/{notification_id}/read"),
    Attack("GET", "/v1/notifications/{notification_id}"),
    Attack("GET", "/v1/users/{user_id}/preferences"),
    Attack("PUT", "/v1/users/{user_id}/preferences", {"marketing_consent": {"sms": True}}),
    Attack("POST", "/v1/users/{user_id}/webhook-secret/rotate"),
    Attack("GET", "/v1/users/{user_id}/consents"),
    # privacy
    Attack("GET", "/v1/users/{user_id}/export"),
    Attack("POST", "/v1/users/{user_id}/erasure", {"reason": "not mine to erase"}),
    # follow-up and feedback
    Attack("GET", "/v1/users/{user_id}/surveys"),
    Attack(
        "POST",
        "/v1/surveys/{survey_id}/responses",
        {"invitation_id": "{invitation_id}", "answers": {"nps": 0}},
    ),
    Attack("GET", "/v1/surveys/{survey_id}/results"),
    Attack("GET", "/v1/users/{user_id}/tickets"),
    Attack("GET", "/v1/tickets/{ticket_id}"),
    Attack("POST", "/v1/tickets/{ticket_id}/messages", {"author": "user", "body": "我是本人"}),
    Attack("POST", "/v1/tickets/{ticket_id}/status", {"status": "resolved"}),
    Attack("GET", "/v1/tickets/{ticket_id}/suggestions"),
    Attack("POST", "/v1/users/{user_id}/deflections", {"faq_id": "{faq_id}"}),
    Attack(
        "POST",
        "/v1/tickets",
        {"user_id": "{user_id}", "channel": "app", "body": "替他开个单"},
    ),
    # operators' things: a user's token is refused whatever the id
    Attack(
        "POST",
        "/v1/changes",
        {"title": {"zh-CN": "改好了"}, "body": {"zh-CN": "已修复"}, "ticket_ids": ["{ticket_id}"]},
    ),
    Attack(
        "POST",
        "/v1/events",
        {
            "specversion": "1.0",
            "id": "forged-1",
            "source": "/thief",
            "type": "wallet.payment.succeeded",
            "subject": "{user_id}",
            "data": {"amount": cny(1), "balance_after": cny(1), "merchant": "x"},
        },
    ),
    Attack("POST", "/v1/templates/{template_id}/approve"),
    Attack("POST", "/v1/templates/{template_id}/activate"),
    Attack("GET", "/v1/kinds/{kind}"),
    Attack("PUT", "/v1/kinds/{kind}", KIND_DEFINITION),
    Attack("DELETE", "/v1/kinds/{kind}"),
    Attack("GET", "/v1/kinds/{kind}/changes"),
    Attack("POST", "/v1/jobs/{name}/runs", {}),
    Attack(
        "PUT", "/v1/sla-policies/{priority}", {"first_response_minutes": 1, "resolution_minutes": 2}
    ),
    Attack("GET", "/v1/campaigns/{campaign_id}"),
    Attack("PUT", "/v1/campaigns/{campaign_id}", campaign_body(name="改掉")),
    Attack("GET", "/v1/campaigns/{campaign_id}/audit"),
    Attack("GET", "/v1/campaigns/{campaign_id}/audience"),
    Attack("POST", "/v1/campaigns/{campaign_id}/launch"),
    Attack("POST", "/v1/campaigns/{campaign_id}/cancel"),
    Attack("GET", "/v1/campaigns/{campaign_id}/report"),
]

NAMED_IN_BODIES = {
    "user_id",
    "source",
    "line_id",
    "drawdown_id",
    "invitation_id",
    "ticket_ids",
}
"""Body fields that name a thing its owner alone may use. Not here: `destination` (paying
someone is what a p2p transfer is for), `refund_of` (refunds are the operator's), `faq_id`
(the knowledge base is everyone's). A CloudEvent's `source` is no wallet, but posting events is
the operator's, so it is attacked here all the same."""

TOKEN_PAGES = {"/u/{token}", "/l/{token}"}
"""Opened by the signed token in their path, not by a bearer token (their own tests)."""


def _operations_naming_ids(document: dict[str, Any]) -> set[str]:
    """`METHOD /path` of every operation with an id in its path, or a body field that names
    another user's thing."""
    schemas = document["components"]["schemas"]
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "{" in path and path not in TOKEN_PAGES:
                found.add(f"{method.upper()} {path}")
                continue
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            fields = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
            if NAMED_IN_BODIES & set(fields.get("properties", {})) and not _providers(path):
                found.add(f"{method.upper()} {path}")
    return found


def _providers(path: str) -> bool:
    """Provider callbacks take the callback token; a bearer token never opens them."""
    return path.startswith("/v1/providers/")


def _covered(attack: Attack) -> str:
    """The OpenAPI operation the attack is sent to (`{held_id}` is a transfer's id)."""
    return f"{attack.method} {attack.path.replace('{held_id}', '{transfer_id}')}"


def test_every_operation_that_takes_an_id_is_attacked_here(context: AppContext) -> None:
    document = create_app(context).openapi()
    covered = {_covered(attack) for attack in ATTACKS}
    missing = _operations_naming_ids(document) - covered
    assert not missing, f"add an Attack for each of: {sorted(missing)}"
    assert covered <= {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    }, "an Attack names an operation the app does not serve"


@dataclass(frozen=True)
class Victim:
    ids: dict[str, str]
    wallets: dict[str, str]

    def filled(self, value: Any, *, wallet: str = "main", thief_wallet: str = "") -> Any:
        """`value` (a path, or a body at any depth) with each `{name}` the victim's id of that
        name; `{wallet_id}` is the victim's `wallet` wallet, `{own_wallet_id}` the thief's."""
        if isinstance(value, dict):
            return {
                key: self.filled(v, wallet=wallet, thief_wallet=thief_wallet)
                for key, v in value.items()
            }
        if isinstance(value, list):
            return [self.filled(v, wallet=wallet, thief_wallet=thief_wallet) for v in value]
        if not isinstance(value, str):
            return value
        names = {**self.ids, "wallet_id": self.wallets[wallet], "own_wallet_id": thief_wallet}
        for name, id_ in names.items():
            value = value.replace("{" + name + "}", id_)
        return value


def _seed_victim(client: TestClient, context: AppContext) -> Victim:
    """A user with one of everything, each made as an integrator would, through the API."""
    user = create_user(client, phone="13900001111", email="victim@example.com")
    token = client.post(f"/v1/users/{user['id']}/tokens")
    assert token.status_code == 201, token.text
    own = {"Authorization": f"Bearer {token.json()['token']}"}
    main = user["wallet_id"]
    top_up(client, main, 1_000_000)
    sub = client.post(f"/v1/wallets/{main}/sub-wallets", json={"name": "旅行", "purpose": "travel"})
    assert sub.status_code == 201, sub.text
    payment = client.post("/v1/transfers", json=payment_body(main, 1_000), headers=own)
    held = client.post(
        "/v1/transfers",
        json={"kind": "withdrawal", "source": main, "amount": cny(600_000)},
        headers=own,
    )
    change = client.post(
        f"/v1/users/{user['id']}/contact-changes", json={"phone": "13900002222"}, headers=own
    )
    assert (payment.status_code, held.status_code, change.status_code) == (201, 202, 202)
    application = client.post(
        "/v1/credit/applications", json={"user_id": user["id"], "requested_limit": cny(2_000_000)}
    ).json()
    if application["status"] != "approved":
        decided = client.post(
            f"/v1/credit/applications/{application['id']}/decision",
            json={"decision": "approve", "limit": cny(2_000_000), "reason": "seed"},
        )
        assert decided.status_code == 200, decided.text
    line = client.get(f"/v1/users/{user['id']}/credit-line").json()
    drawdown = draw(client, line["id"], 100_000)
    survey = client.post("/v1/surveys", json=NPS_SURVEY)
    assert survey.status_code == 201, survey.text
    resolve(client, open_ticket(client, user))
    run_job(client, "followup.invitations")
    [invitation] = client.get(f"/v1/users/{user['id']}/surveys").json()["items"]
    ticket = open_ticket(client, user)
    faq = client.post(
        "/v1/faq",
        json={"question": {"zh-CN": "怎么还款？"}, "answer": {"zh-CN": "在借款页还款。"}},
    )
    template = client.post(
        "/v1/templates",
        json={
            "kind": "wallet.payment.succeeded",
            "channel": "sms",
            "locale": "zh-CN",
            "body": "您消费{{ amount|money }}（{{ merchant.name }}）。",
        },
        headers={"X-Operator": "alice"},
    )
    kind = client.post("/v1/kinds", json={"type": KIND, **KIND_DEFINITION})
    campaign = client.post("/v1/campaigns", json=campaign_body())
    assert (faq.status_code, template.status_code, kind.status_code) == (201, 201, 201)
    assert campaign.status_code == 201, campaign.text
    deliver_everything(context)
    [notice, *_] = client.get(f"/v1/users/{user['id']}/notifications").json()["items"]
    return Victim(
        ids={
            "user_id": user["id"],
            "token_id": token.json()["id"],
            "transfer_id": payment.json()["id"],
            "held_id": held.json()["id"],
            "change_id": change.json()["id"],
            "application_id": application["id"],
            "line_id": line["id"],
            "drawdown_id": drawdown["id"],
            "notification_id": notice["id"],
            "survey_id": survey.json()["id"],
            "invitation_id": invitation["invitation_id"],
            "ticket_id": ticket["id"],
            "faq_id": faq.json()["id"],
            "template_id": template.json()["id"],
            "kind": KIND,
            "name": "followup.invitations",
            "priority": "high",
            "campaign_id": campaign.json()["id"],
            "sub_wallet_id": sub.json()["id"],
        },
        wallets={"main": main, "sub": sub.json()["id"]},
    )


READ_BACK = [
    "/v1/users/{user_id}",
    "/v1/users/{user_id}/wallets",
    "/v1/wallets/{wallet_id}/transactions",
    "/v1/transfers/{transfer_id}",
    "/v1/transfers/{held_id}",
    "/v1/users/{user_id}/credit-line",
    "/v1/credit/applications/{application_id}",
    "/v1/credit/drawdowns/{drawdown_id}",
    "/v1/users/{user_id}/inbox",
    "/v1/users/{user_id}/notifications",
    "/v1/users/{user_id}/preferences",
    "/v1/users/{user_id}/consents",
    "/v1/users/{user_id}/surveys",
    "/v1/users/{user_id}/tickets",
    "/v1/tickets/{ticket_id}",
    "/v1/kinds/{kind}",
    "/v1/campaigns/{campaign_id}",
    "/v1/templates?kind=wallet.payment.succeeded",
    "/v1/sla-policies",
]
"""What the victim (and the operator) would see: read back as the operator, before and after."""


def _everything_seen(client: TestClient, engine: Engine, victim: Victim) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for path in READ_BACK:
        answer = client.get(victim.filled(path))
        assert answer.status_code == 200, (path, answer.text)
        seen[path] = answer.json()
    seen["books"] = read_books(engine, victim.wallets.values())
    with read_transaction(engine) as conn:
        stmt = select(outbox.c.id).where(outbox.c.user_id == victim.ids["user_id"])
        seen["victim's events"] = sorted(conn.execute(stmt).scalars())
    return seen


@pytest.fixture
def attacked(client: TestClient, context: AppContext) -> tuple[Victim, dict[str, Any]]:
    context.clock = FixedClock(NOW)
    context.settings.risk_model = True  # transfers are scored: an operator may report outcomes
    victim = _seed_victim(client, context)
    attacker = create_user(client, phone="13900003333", email="thief@example.com")
    top_up(client, attacker["wallet_id"], 1_000_000)
    return victim, attacker


def _attack(
    client: TestClient,
    victim: Victim,
    attacker: dict[str, Any],
    headers: dict[str, str],
) -> dict[str, tuple[int, str]]:
    """Every attack once, `headers` on each (a write's under an `Idempotency-Key` of its own,
    so nothing is answered from an earlier one); the answers by attack."""
    answered = {}
    for n, attack in enumerate(ATTACKS):
        path, body = victim.filled(
            [attack.path, attack.body], wallet=attack.wallet, thief_wallet=attacker["wallet_id"]
        )
        assert "{" not in path, path
        keyed = headers if attack.method == "GET" else {**headers, "Idempotency-Key": f"k-{n}"}
        response = client.request(attack.method, path, json=body, headers=keyed)
        problem = response.json().get("type", "") if response.status_code >= 400 else ""
        answered[f"{attack.method} {attack.path} {attack.body or ''}"] = (
            response.status_code,
            problem,
        )
    return answered


def test_a_users_token_with_another_users_ids_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, attacked: tuple[Victim, dict[str, Any]]
) -> None:
    victim, attacker = attacked
    token = client.post(f"/v1/users/{attacker['id']}/tokens").json()["token"]
    thief = {"Authorization": f"Bearer {token}"}
    before = _everything_seen(client, engine, victim)
    answered = _attack(client, victim, attacker, thief)
    # Refused by the app's own check (a problem of ours), never by a route that is not there.
    wrong = {
        name: answer
        for name, answer in answered.items()
        if answer[0] not in (403, 404) or not answer[1].startswith("https://tidings.dev/")
    }
    assert not wrong, wrong
    assert _everything_seen(client, engine, victim) == before
    # As if it did not exist: ids nobody has get the very same answers, so the answers tell
    # an attacker nothing about which ids are real.
    assert _attack(client, _nobody(victim), attacker, thief) == answered


SHARED = {"survey_id", "faq_id", "template_id", "kind", "name", "priority", "campaign_id"}
"""Ids of things that are nobody's own (a survey many are invited to, the knowledge base, the
operators' templates, kinds, jobs and campaigns): whether they exist is no user's secret."""


def _nobody(victim: Victim) -> Victim:
    """The victim's ids, each turned into an id of the same kind that nobody has."""

    def unused(value: str) -> str:
        prefix, _, _ = value.partition("_")
        return f"{prefix}_01ARZ3NDEKTSV4RRFFQ69G5FAV" if is_id(value, prefix) else value

    return Victim(
        ids={
            name: value if name in SHARED else unused(value) for name, value in victim.ids.items()
        },
        wallets={name: unused(value) for name, value in victim.wallets.items()},
    )


def test_the_same_requests_with_the_operator_key_get_past_the_ownership_check(
    client: TestClient, attacked: tuple[Victim, dict[str, Any]]
) -> None:
    """The attacks are real: every id resolves and every body is valid, so the 403 and 404
    above come from the ownership check (an operator's answer may still be a 409 or 422 of
    the business rules, such as a decision already made)."""
    victim, attacker = attacked
    answered = _attack(client, victim, attacker, {"X-Operator": "bob"})
    refused = {name: answer for name, answer in answered.items() if answer[0] in (403, 404)}
    assert not refused, refused
