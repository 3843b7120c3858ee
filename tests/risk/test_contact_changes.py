"""Changing the phone or email takes a code sent to the current contact; a change starts a
cooling period; one-time codes go only to contacts and devices the user has had for a while,
and are kept sealed and blanked once spent. On SQLite and PostgreSQL (issue #12)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import cny, create_user, deliver_everything, top_up
from tests.notify.test_pipeline import sink_lines
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.notify.models import deliveries, notifications
from tidings.privacy.codes import DESTINATIONS, SEALED_CODE
from tidings.privacy.masking import mask_email, mask_phone
from tidings.risk import events as security
from tidings.risk.models import contact_changes, security_changes
from tidings.wallets.jobs import run_expire_holds

from .conftest import Member, count_rows, events_of, later, new_member, sent_code, wallet

OWNER_PHONE = "+8613812348821"
THIEF_PHONE = "+8613912345678"
LARGE = 1_900_000
"""19,000.00: far above the step-up amount."""


def owner(client: TestClient, *, funds: int = 2_000_000, **contact: Any) -> Member:
    """A user who signed up with their phone and email, holding `funds`, with a token."""
    user = create_user(client, **{"phone": OWNER_PHONE, "email": "owner@example.com", **contact})
    top_up(client, user["wallet_id"], funds)
    token = client.post(f"/v1/users/{user['id']}/tokens")
    assert token.status_code == 201, token.text
    return Member(
        id=user["id"],
        wallet_id=user["wallet_id"],
        headers={"Authorization": f"Bearer {token.json()['token']}"},
    )


def settled_owner(client: TestClient, clock: FixedClock, **kwargs: Any) -> Member:
    """An owner whose contacts are older than the cooling period."""
    member = owner(client, **kwargs)
    later(clock, hours=49)
    return member


def ask_change(client: TestClient, member: Member, expect: int = 202, **body: str) -> Any:
    response = client.post(
        f"/v1/users/{member.id}/contact-changes", json=body, headers=member.headers
    )
    assert response.status_code == expect, response.text
    return response.json()


def confirm(client: TestClient, member: Member, change_id: str, code: str) -> Any:
    return client.post(
        f"/v1/users/{member.id}/contact-changes/{change_id}/confirm",
        json={"code": code},
        headers=member.headers,
    )


def withdraw(client: TestClient, member: Member, value: int) -> Any:
    return client.post(
        "/v1/transfers",
        json={"kind": "withdrawal", "source": member.wallet_id, "amount": cny(value)},
        headers=member.headers,
    )


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def change_code(engine: Engine, member: Member) -> str:
    return sent_code(engine, member.id, security.CONTACT_CHANGE_CODE)


def messages(context: AppContext, kind: str) -> list[dict[str, Any]]:
    return [line for line in sink_lines(context) if line["kind"] == kind]


def raw_rows(engine: Engine, *tables: str) -> str:
    """Every column of every row of these tables, as text, for searching."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in tables
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")
        )


def code_kept_anywhere(engine: Engine, context: AppContext, code: str) -> bool:
    stored = raw_rows(engine, "outbox", "notifications", "deliveries", "inbox_items")
    sink = "\n".join(str(line) for line in sink_lines(context))
    return code in stored or code in sink


# ---- PATCH is no way around the code --------------------------------------------------------


def test_user_token_patch_phone_is_403(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = owner(client)
    for body in ({"phone": THIEF_PHONE}, {"email": "thief@example.com"}):
        response = client.patch(f"/v1/users/{member.id}", json=body, headers=member.headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"].endswith("/contact-change-needs-code")
    user = client.get(f"/v1/users/{member.id}").json()
    assert (user["phone"], user["email"]) == (
        mask_phone(OWNER_PHONE),
        mask_email("owner@example.com"),
    )
    # Other fields the user still changes alone.
    renamed = client.patch(f"/v1/users/{member.id}", json={"locale": "en"}, headers=member.headers)
    assert renamed.status_code == 200, renamed.text


def test_an_operator_phone_change_is_a_security_change_alerting_the_old_phone(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = owner(client)
    response = client.patch(f"/v1/users/{member.id}", json={"phone": THIEF_PHONE})
    assert response.status_code == 200, response.text
    assert count_rows(engine, security_changes, user_id=member.id, kind="phone") == 1
    alert = events_of(engine, member.id, security.PHONE_CHANGED)[-1]
    assert OWNER_PHONE not in str(alert)  # the old phone rides along sealed
    assert set(alert[DESTINATIONS]) == {"sms", "email"}
    deliver_everything(context)
    sms = [m for m in messages(context, security.PHONE_CHANGED) if m["channel"] == "sms"]
    assert [m["to"] for m in sms][-1] == mask_phone(OWNER_PHONE)
    actions = [
        e["action"] for e in client.get("/v1/audit", params={"user_id": member.id}).json()["items"]
    ]
    assert "security_change" in actions


# ---- contact changes by code ------------------------------------------------------------


def test_phone_change_needs_code_to_old_phone(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, phone="139 1234 5678")
    assert set(asked) == {"id", "expires_at"}
    assert asked["id"].startswith("cch_")
    # Nothing changes before the code is confirmed.
    assert client.get(f"/v1/users/{member.id}").json()["phone"] == mask_phone(OWNER_PHONE)
    event = events_of(engine, member.id, security.CONTACT_CHANGE_CODE)[-1]
    assert set(event[DESTINATIONS]) == {"sms"}
    deliver_everything(context)
    sent = messages(context, security.CONTACT_CHANGE_CODE)
    assert [(m["channel"], m["to"]) for m in sent] == [("sms", mask_phone(OWNER_PHONE))]
    code = change_code(engine, member)
    assert code not in sent[0]["body"]
    assert "******" in sent[0]["body"]

    later(clock, minutes=3)
    response = confirm(client, member, asked["id"], code)
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == mask_phone(THIEF_PHONE)
    # A security change the risk rules see, an alert to the OLD phone, an audit row.
    with engine.connect() as conn:
        kinds = list(
            conn.execute(
                select(security_changes.c.kind).where(security_changes.c.user_id == member.id)
            ).scalars()
        )
    assert kinds == ["phone"]
    deliver_everything(context)
    alerts = [m for m in messages(context, security.PHONE_CHANGED) if m["channel"] == "sms"]
    assert [m["to"] for m in alerts] == [mask_phone(OWNER_PHONE)]
    actions = {
        e["action"] for e in client.get("/v1/audit", params={"user_id": member.id}).json()["items"]
    }
    assert {"contact_change.requested", "contact_change.confirmed", "security_change"} <= actions
    # The code was blanked once used; it cannot be used again.
    assert SEALED_CODE not in events_of(engine, member.id, security.CONTACT_CHANGE_CODE)[-1]
    assert confirm(client, member, asked["id"], code).status_code == 409
    assert not code_kept_anywhere(engine, context, code)


def test_email_change_code_goes_to_the_current_email(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, email="new.owner@example.com")
    deliver_everything(context)
    sent = messages(context, security.CONTACT_CHANGE_CODE)
    assert [(m["channel"], m["to"]) for m in sent] == [("email", mask_email("owner@example.com"))]
    response = confirm(client, member, asked["id"], change_code(engine, member))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == mask_email("new.owner@example.com")
    assert count_rows(engine, security_changes, user_id=member.id, kind="email") == 1


def test_wrong_contact_change_codes_count_down_and_the_third_ends_it(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, phone=THIEF_PHONE)
    bad = wrong(change_code(engine, member))
    for left in (2, 1):
        response = confirm(client, member, asked["id"], bad)
        assert response.status_code == 422, response.text
        assert response.json()["attempts_left"] == left
    third = confirm(client, member, asked["id"], bad)
    assert third.status_code == 422
    assert third.json()["type"].endswith("/verification-failed")
    assert confirm(client, member, asked["id"], bad).status_code == 409
    assert client.get(f"/v1/users/{member.id}").json()["phone"] == mask_phone(OWNER_PHONE)
    assert count_rows(engine, contact_changes, status="failed") == 1
    assert SEALED_CODE not in events_of(engine, member.id, security.CONTACT_CHANGE_CODE)[-1]


def test_a_repeated_idempotency_key_asks_once_and_spends_one_attempt(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    url = f"/v1/users/{member.id}/contact-changes"
    asking = {**member.headers, "Idempotency-Key": "ask-1"}
    first = client.post(url, json={"phone": THIEF_PHONE}, headers=asking)
    again = client.post(url, json={"phone": THIEF_PHONE}, headers=asking)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert count_rows(engine, contact_changes) == 1
    retry = {**member.headers, "Idempotency-Key": "confirm-1"}
    bad = {"code": wrong(change_code(engine, member))}
    for _ in range(2):
        response = client.post(f"{url}/{first.json()['id']}/confirm", json=bad, headers=retry)
        assert response.status_code == 422
        assert response.json()["attempts_left"] == 2  # the retry replays, spends nothing


def test_a_late_contact_change_code_is_410_and_changes_nothing(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, phone=THIEF_PHONE)
    code = change_code(engine, member)
    later(clock, minutes=16)
    response = confirm(client, member, asked["id"], code)
    assert response.status_code == 410, response.text
    assert response.json()["type"].endswith("/contact-change-expired")
    assert client.get(f"/v1/users/{member.id}").json()["phone"] == mask_phone(OWNER_PHONE)


def test_contact_change_requests_and_attempts_are_rate_limited(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    context.settings.verification_rate_limit = 2
    member = settled_owner(client, clock)
    asked = ask_change(client, member, phone=THIEF_PHONE)
    assert confirm(client, member, asked["id"], "000000").status_code in (200, 422)
    limited = confirm(client, member, asked["id"], "000000")
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["Retry-After"]) > 0


def test_a_contact_change_needs_something_new_and_only_reaches_its_own_user(
    client: TestClient, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    same = ask_change(client, member, expect=422, phone=OWNER_PHONE)
    assert same["type"].endswith("/nothing-to-change")
    ask_change(client, member, expect=422)
    other = new_member(client)
    response = client.post(
        f"/v1/users/{other.id}/contact-changes", json={"phone": THIEF_PHONE}, headers=member.headers
    )
    assert response.status_code == 404


# ---- cooling period ---------------------------------------------------------------------


def test_large_withdrawal_refused_during_cooling_period(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, phone=THIEF_PHONE)
    assert confirm(client, member, asked["id"], change_code(engine, member)).status_code == 200
    later(clock, hours=1)
    refused = withdraw(client, member, LARGE)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/contact-recently-changed")
    assert "contact_recently_changed" in refused.json()["reasons"]
    mine = wallet(client, member.wallet_id)
    assert mine["available"]["value"] == mine["balance"]["value"] == 2_000_000
    blocked = events_of(engine, member.id, security.TRANSACTION_SUSPICIOUS)
    assert blocked
    assert blocked[-1]["blocked"] is True
    # A small one is not refused for it; after the cooling period a large one steps up again.
    assert withdraw(client, member, 10_000).status_code == 201
    later(clock, hours=48)
    assert withdraw(client, member, LARGE).status_code == 202


def test_an_operator_change_starts_the_cooling_period_too(
    client: TestClient, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    assert (
        client.patch(f"/v1/users/{member.id}", json={"email": "x@example.com"}).status_code == 200
    )
    refused = withdraw(client, member, LARGE)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/contact-recently-changed")


# ---- where codes go -----------------------------------------------------------------------


def test_step_up_code_never_goes_to_a_push_token_registered_minutes_ago(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    # The stolen session registers its own device for push.
    put = client.put(
        f"/v1/users/{member.id}/preferences",
        json={"push_tokens": ["fcm-token-of-the-thief"]},
        headers=member.headers,
    )
    assert put.status_code == 200, put.text
    later(clock, minutes=5)
    # Two step-ups within a minute: the second SMS is over the per-number limit, where the
    # code used to fall back to push.
    first = withdraw(client, member, 600_000)
    second = withdraw(client, member, 600_000)
    assert (first.status_code, second.status_code) == (202, 202)
    deliver_everything(context)
    codes = messages(context, security.VERIFICATION_CODE)
    assert [(m["channel"], m["to"]) for m in codes] == [("sms", mask_phone(OWNER_PHONE))]
    with engine.connect() as conn:
        channels = list(
            conn.execute(
                select(deliveries.c.channel)
                .join(notifications, notifications.c.id == deliveries.c.notification_id)
                .where(notifications.c.kind == security.VERIFICATION_CODE)
            ).scalars()
        )
    assert "push" not in channels


def test_a_push_token_the_user_has_had_for_days_still_carries_the_code(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = owner(client)
    put = client.put(f"/v1/users/{member.id}/preferences", json={"push_tokens": ["owner-device"]})
    assert put.status_code == 200, put.text
    later(clock, days=3)
    # Registering the same token again keeps its age; a new one is young.
    client.put(
        f"/v1/users/{member.id}/preferences",
        json={"push_tokens": ["owner-device", "fresh-device"]},
    )
    assert withdraw(client, member, 600_000).status_code == 202
    assert withdraw(client, member, 600_000).status_code == 202
    deliver_everything(context)
    codes = messages(context, security.VERIFICATION_CODE)
    assert sorted(m["channel"] for m in codes) == ["push", "sms"]
    pushed = next(m for m in codes if m["channel"] == "push")
    assert pushed["to"] == "owner-…"  # the owner's token (masked), not the fresh one


def test_with_no_trusted_contact_the_transfer_is_refused_and_the_owner_alerted(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = owner(client, phone=None)
    # No phone, and only a push token registered minutes ago: nowhere safe for a code.
    client.put(f"/v1/users/{member.id}/preferences", json={"push_tokens": ["fresh-device"]})
    later(clock, minutes=5)
    refused = withdraw(client, member, 600_000)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/transfer-blocked")
    assert "no_trusted_contact" in refused.json()["reasons"]
    assert wallet(client, member.wallet_id)["available"]["value"] == 2_000_000
    alerts = events_of(engine, member.id, security.TRANSACTION_SUSPICIOUS)
    assert alerts
    assert alerts[-1]["blocked"] is True


def test_the_full_takeover_story_a_thief_cannot_verify_a_19000_withdrawal(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    thief = member.headers  # the stolen session
    # He registers his device for push, tries to change the phone outright, then by code.
    client.put(
        f"/v1/users/{member.id}/preferences", json={"push_tokens": ["thief-fcm"]}, headers=thief
    )
    patched = client.patch(f"/v1/users/{member.id}", json={"phone": THIEF_PHONE}, headers=thief)
    assert patched.status_code == 403
    asked = ask_change(client, member, phone=THIEF_PHONE)
    deliver_everything(context)
    sent = messages(context, security.CONTACT_CHANGE_CODE)
    assert [(m["channel"], m["to"]) for m in sent] == [("sms", mask_phone(OWNER_PHONE))]
    guess = wrong(change_code(engine, member))  # the code went to the owner's phone
    for _ in range(3):
        assert confirm(client, member, asked["id"], guess).status_code == 422
    assert client.get(f"/v1/users/{member.id}").json()["phone"] == mask_phone(OWNER_PHONE)
    # He reports his device as a known login: the backend alone may.
    login = client.post(
        f"/v1/users/{member.id}/logins",
        json={"device_id": "thief-phone", "ip": "203.0.113.9", "city": "上海"},
        headers=thief,
    )
    assert login.status_code == 403
    # Minutes later the withdrawal is held; its code goes to the owner's phone only, never
    # his push token.
    later(clock, minutes=2)
    held = withdraw(client, member, LARGE)
    assert held.status_code == 202, held.text
    deliver_everything(context)
    codes = messages(context, security.VERIFICATION_CODE)
    assert [(m["channel"], m["to"]) for m in codes] == [("sms", mask_phone(OWNER_PHONE))]
    url = f"/v1/transfers/{held.json()['id']}/verification"
    guess = wrong(sent_code(engine, member.id))
    answers = [client.post(url, json={"code": guess}, headers=thief) for _ in range(3)]
    assert answers[-1].json()["type"].endswith("/verification-failed")
    assert client.get(f"/v1/transfers/{held.json()['id']}").json()["status"] == "cancelled"
    mine = wallet(client, member.wallet_id)
    assert mine["balance"]["value"] == mine["available"]["value"] == 2_000_000


# ---- codes kept sealed and blanked ---------------------------------------------------------


def test_no_table_or_sink_keeps_a_step_up_code_after_it_is_verified_or_expires(
    client: TestClient,
    context: AppContext,
    engine: Engine,
    clock: FixedClock,
    capfd: pytest.CaptureFixture[str],
) -> None:
    member = settled_owner(client, clock)
    verified = withdraw(client, member, 600_000).json()
    deliver_everything(context)
    code = sent_code(engine, member.id)
    # Before use: sealed in the outbox, masked in what was sent and kept.
    assert not code_kept_anywhere(engine, context, code)
    answer = client.post(
        f"/v1/transfers/{verified['id']}/verification", json={"code": code}, headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    assert SEALED_CODE not in events_of(engine, member.id, security.VERIFICATION_CODE)[-1]
    assert not code_kept_anywhere(engine, context, code)

    later(clock, minutes=2)
    withdraw(client, member, 600_000)
    deliver_everything(context)
    expiring = sent_code(engine, member.id)
    later(clock, minutes=16)
    run_expire_holds(engine, as_of=clock.at)
    assert SEALED_CODE not in events_of(engine, member.id, security.VERIFICATION_CODE)[-1]
    assert not code_kept_anywhere(engine, context, expiring)
    logged = "".join(capfd.readouterr())
    assert "risk.transfer.held" in logged  # the logs were captured...
    assert code not in logged  # ...and never show a code
    assert expiring not in logged


def test_no_table_or_sink_keeps_a_contact_change_code_after_it_is_used_or_expires(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    asked = ask_change(client, member, email="new.owner@example.com")
    deliver_everything(context)
    code = change_code(engine, member)
    assert not code_kept_anywhere(engine, context, code)
    assert confirm(client, member, asked["id"], code).status_code == 200
    assert not code_kept_anywhere(engine, context, code)

    later(clock, hours=49)
    ask_change(client, member, phone=THIEF_PHONE)
    deliver_everything(context)
    expiring = change_code(engine, member)
    later(clock, minutes=16)
    assert run_expire_holds(engine, as_of=clock.at)["contact_changes_expired"] == 1
    assert count_rows(engine, contact_changes, status="expired") == 1
    assert SEALED_CODE not in events_of(engine, member.id, security.CONTACT_CHANGE_CODE)[-1]
    assert not code_kept_anywhere(engine, context, expiring)


def test_a_code_message_still_verifies_as_genuine_after_its_code_was_blanked(
    client: TestClient, context: AppContext, engine: Engine, clock: FixedClock
) -> None:
    member = settled_owner(client, clock)
    held = withdraw(client, member, 600_000).json()
    deliver_everything(context)
    code = sent_code(engine, member.id)
    body = messages(context, security.VERIFICATION_CODE)[-1]["body"].replace("******", code)
    client.post(
        f"/v1/transfers/{held['id']}/verification", json={"code": code}, headers=member.headers
    )
    assert client.post("/v1/messages/verify", json={"text": body}).json()["genuine"] is True
    forged = body.replace("6,000.00", "60.00")
    assert client.post("/v1/messages/verify", json={"text": forged}).json()["genuine"] is False
