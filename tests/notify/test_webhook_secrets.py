"""Each user's webhook endpoint signs with its own secret, shown once and rotatable with an
overlap; receivers verify with the reference library (`standardwebhooks`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.helpers import cny, create_user, top_up, transfer
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.kit.clock import FixedClock
from tidings.notify.channels.webhook import WebhookAdapter, decode_secret, generate_secret
from tidings.notify.delivery.dispatcher import Dispatcher
from tidings.notify.planner import PlannerPolicy
from tidings.notify.types import ChannelName

HOOK_URL = "https://hooks.example.com/tidings"


class Receiver:
    """Keeps every request it gets, raw, as a webhook receiver sees it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)

    def accepts(self, secret: str, request: httpx.Request) -> bool:
        try:
            Webhook(secret).verify(request.content, dict(request.headers))
        except WebhookVerificationError:
            return False
        return True


def dispatcher_for(context: AppContext, receiver: Receiver) -> Dispatcher:
    dispatcher = build_dispatcher(context)
    adapter = WebhookAdapter(
        secret=generate_secret(), transport=httpx.MockTransport(receiver), allow_private=True
    )
    dispatcher.senders = {**dispatcher.senders, ChannelName.WEBHOOK: adapter}
    return dispatcher


def deliver(context: AppContext, dispatcher: Dispatcher) -> None:
    for _ in range(10):
        relayed = relay_once(context, PlannerPolicy()).events
        if not relayed and not dispatcher.run_once():
            return
    raise AssertionError("the pipeline did not settle")


def hooked_user(client: TestClient, phone: str) -> tuple[dict[str, Any], str]:
    user = create_user(client, phone=phone)
    saved = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"channels": {"transactional": ["inbox", "webhook"]}, "webhook_url": HOOK_URL},
    )
    assert saved.status_code == 200
    secret = saved.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    return user, secret


def test_a_users_webhook_secret_is_shown_once_and_signs_what_reaches_their_endpoint(
    client: TestClient, context: AppContext
) -> None:
    receiver = Receiver()
    dispatcher = dispatcher_for(context, receiver)
    user, secret = hooked_user(client, "13812345001")
    _, other_secret = hooked_user(client, "13812345002")
    assert secret != other_secret
    prefs_url = f"/v1/users/{user['id']}/preferences"
    assert client.get(prefs_url).json()["webhook_secret"] is None
    again = client.put(prefs_url, json={"webhook_url": HOOK_URL})  # the same URL: same secret
    assert again.json()["webhook_secret"] is None
    with context.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT webhook_secret_enc FROM notify_preferences WHERE user_id = ?"
            if context.engine.dialect.name == "sqlite"
            else "SELECT webhook_secret_enc FROM notify_preferences WHERE user_id = %s",
            (user["id"],),
        ).scalar_one()
    assert secret not in stored  # sealed at rest

    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    mine = [r for r in receiver.requests if user["id"] in r.content.decode()]
    assert len(mine) == 1
    assert receiver.accepts(secret, mine[0])
    assert not receiver.accepts(other_secret, mine[0])


def test_during_a_rotation_both_secrets_verify_and_after_the_overlap_only_the_new(
    client: TestClient, context: AppContext
) -> None:
    receiver = Receiver()
    dispatcher = dispatcher_for(context, receiver)
    user, old = hooked_user(client, "13812345003")
    rotated = client.post(f"/v1/users/{user['id']}/webhook-secret/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert rotated.json()["previous_valid_until"] is not None

    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split()) == 2
    assert receiver.accepts(old, during)
    assert receiver.accepts(new, during)

    dispatcher.clock = FixedClock(context.clock.now() + timedelta(hours=25))
    transfer(client, kind="withdrawal", source=user["wallet_id"], amount=cny(1_000))
    relay_once(context, PlannerPolicy())
    dispatcher.run_once()
    after = receiver.requests[-1]
    assert after is not during
    assert receiver.accepts(new, after)
    assert not receiver.accepts(old, after)


def stored_secret(context: AppContext, user_id: str) -> str | None:
    with context.engine.connect() as conn:
        value = conn.execute(
            text("SELECT webhook_secret_enc FROM notify_preferences WHERE user_id = :u"),
            {"u": user_id},
        ).scalar_one_or_none()
    return None if value is None else str(value)


def test_a_repeated_idempotency_key_rotates_again_and_every_secret_still_signs(
    client: TestClient, context: AppContext
) -> None:
    """Replaying the first answer would mean keeping a secret in clear (as with tokens): a
    retry with the same key gets a fresh secret, and the one it may have missed still signs
    through the overlap."""
    owner, first = hooked_user(client, "13812345006")
    url = f"/v1/users/{owner['id']}/webhook-secret/rotate"
    key = {"Idempotency-Key": "rotate-1"}
    second = client.post(url, headers=key)
    third = client.post(url, headers=key)
    assert second.status_code == third.status_code == 200
    assert second.json()["secret"] != third.json()["secret"]
    receiver = Receiver()
    dispatcher = dispatcher_for(context, receiver)
    top_up(client, owner["wallet_id"], 10_000)
    deliver(context, dispatcher)
    [sent] = receiver.requests
    for secret in (first, second.json()["secret"], third.json()["secret"]):
        assert receiver.accepts(secret, sent)


def test_another_users_token_cannot_rotate_their_secret(
    client: TestClient, context: AppContext
) -> None:
    owner, _ = hooked_user(client, "13812345004")
    intruder = create_user(client, phone="13812345005")
    token = client.post(f"/v1/users/{intruder['id']}/tokens").json()["token"]
    as_intruder = {"Authorization": f"Bearer {token}"}
    before = stored_secret(context, owner["id"])
    refused = client.post(f"/v1/users/{owner['id']}/webhook-secret/rotate", headers=as_intruder)
    assert refused.status_code == 404
    assert stored_secret(context, owner["id"]) == before  # nothing rotated
    own = client.post(f"/v1/users/{intruder['id']}/webhook-secret/rotate", headers=as_intruder)
    assert own.status_code == 409  # no webhook URL yet
    assert own.json()["type"].endswith("/no-webhook")


@pytest.mark.parametrize("padded", [True, False])
def test_secrets_in_the_unpadded_form_the_reference_library_accepts_are_accepted(
    padded: bool,
) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, no padding needed
    odd = "whsec_" + "dGVzdC1zZWNyZXQtb2YtMjUtYnl0ZXMhIQ"  # 25 bytes, unpadded
    for value in (secret, odd if not padded else odd + "=="):
        assert decode_secret(value) == Webhook(value)._whsecret
