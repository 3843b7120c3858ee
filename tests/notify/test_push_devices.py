"""A notice goes to every device of the user; a token FCM reports unregistered is removed;
a user with no device gets a `skipped` push delivery with reason `no_device`."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.helpers import create_user, top_up
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.notify.channels.push_fcm import FcmPushAdapter, FcmSettings
from tidings.notify.delivery.dispatcher import Dispatcher
from tidings.notify.planner import PlannerPolicy
from tidings.notify.types import ChannelName

PHONE_TOKEN = "fcm-token-phone-0001"
TABLET_TOKEN = "fcm-token-tablet-0002"


class FcmStub:
    """FCM `messages:send`: tokens in `gone` answer 404 UNREGISTERED; `flaky` ones answer
    503 once; the rest are accepted."""

    def __init__(self, *, gone: set[str] | None = None, flaky: set[str] | None = None) -> None:
        self.gone = set(gone or ())
        self.flaky = set(flaky or ())
        self.received: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        message = json.loads(request.content)["message"]
        token = message["token"]
        if token in self.gone:
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": 404,
                        "status": "NOT_FOUND",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": "UNREGISTERED",
                            }
                        ],
                    }
                },
            )
        if token in self.flaky:
            self.flaky.discard(token)
            return httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE"}})
        self.received.append(message)
        return httpx.Response(200, json={"name": f"projects/p/messages/{len(self.received)}"})

    def tokens_for(self, kind: str) -> list[str]:
        return [m["token"] for m in self.received if m["data"]["kind"] == kind]


def dispatcher_for(context: AppContext, fcm: FcmStub) -> Dispatcher:
    dispatcher = build_dispatcher(context)
    adapter = FcmPushAdapter(
        FcmSettings(project_id="p", access_token="stub-token"),  # type: ignore[arg-type]
        transport=httpx.MockTransport(fcm),
    )
    dispatcher.senders = {**dispatcher.senders, ChannelName.PUSH: adapter}
    dispatcher.retry_delay = lambda channel, attempts, after: 0.0 if attempts < 5 else None
    return dispatcher


def deliver(context: AppContext, dispatcher: Dispatcher) -> None:
    for _ in range(10):
        relayed = relay_once(context, PlannerPolicy()).events
        if not relayed and not dispatcher.run_once():
            return
    raise AssertionError("the pipeline did not settle")


def user_with_devices(client: TestClient, phone: str, tokens: list[str]) -> dict[str, Any]:
    user = create_user(client, phone=phone)
    saved = client.put(f"/v1/users/{user['id']}/preferences", json={"push_tokens": tokens})
    assert saved.status_code == 200
    return user


def push_delivery(client: TestClient, user_id: str, kind: str) -> dict[str, Any]:
    notices = client.get(f"/v1/users/{user_id}/notifications").json()["items"]
    notice = next(n for n in notices if n["kind"] == kind)
    detail = client.get(f"/v1/notifications/{notice['id']}").json()
    [push] = [d for d in detail["deliveries"] if d["channel"] == "push"]
    return push


def test_a_notice_reaches_both_devices_with_an_attempt_each(
    client: TestClient, context: AppContext
) -> None:
    fcm = FcmStub()
    dispatcher = dispatcher_for(context, fcm)
    user = user_with_devices(client, "13812346001", [PHONE_TOKEN, TABLET_TOKEN])
    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    assert sorted(fcm.tokens_for("wallet.top_up.succeeded")) == [PHONE_TOKEN, TABLET_TOKEN]
    push = push_delivery(client, user["id"], "wallet.top_up.succeeded")
    assert push["status"] == "sent"
    devices = {a["device"] for a in push["attempts"] if a["outcome"] == "sent"}
    assert len(devices) == 2
    assert not any(PHONE_TOKEN in str(a) or TABLET_TOKEN in str(a) for a in push["attempts"])


def test_a_retry_goes_only_to_the_device_that_did_not_get_it(
    client: TestClient, context: AppContext
) -> None:
    fcm = FcmStub(flaky={TABLET_TOKEN})
    dispatcher = dispatcher_for(context, fcm)
    user = user_with_devices(client, "13812346002", [PHONE_TOKEN, TABLET_TOKEN])
    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    # Each device once: the phone at the first try, the tablet at the retry.
    assert sorted(fcm.tokens_for("wallet.top_up.succeeded")) == [PHONE_TOKEN, TABLET_TOKEN]
    push = push_delivery(client, user["id"], "wallet.top_up.succeeded")
    assert push["status"] == "sent"
    assert sorted(a["outcome"] for a in push["attempts"]) == ["retryable", "sent", "sent"]


def test_an_unregistered_token_is_removed_and_the_other_device_still_gets_later_pushes(
    client: TestClient, context: AppContext
) -> None:
    fcm = FcmStub(gone={PHONE_TOKEN})
    dispatcher = dispatcher_for(context, fcm)
    user = user_with_devices(client, "13812346003", [PHONE_TOKEN, TABLET_TOKEN])
    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    push = push_delivery(client, user["id"], "wallet.top_up.succeeded")
    assert push["status"] == "sent"  # the tablet has it
    assert sorted(a["outcome"] for a in push["attempts"]) == ["permanent", "sent"]
    prefs = client.get(f"/v1/users/{user['id']}/preferences").json()
    assert prefs["push_tokens"] == [TABLET_TOKEN[:4] + "…" + TABLET_TOKEN[-4:]]

    fcm.gone.clear()  # even were it answering again, it is no longer the user's device
    client.post(
        "/v1/transfers",
        json={
            "kind": "withdrawal",
            "source": user["wallet_id"],
            "amount": {"value": 1_000, "currency": "CNY"},
        },
    )
    deliver(context, dispatcher)
    later = [m["token"] for m in fcm.received if m["data"]["kind"] != "wallet.top_up.succeeded"]
    assert later  # the withdrawal's notice (and any other it brought)
    assert set(later) == {TABLET_TOKEN}


def test_a_user_with_no_device_gets_a_skipped_push_with_reason_no_device(
    client: TestClient, context: AppContext
) -> None:
    fcm = FcmStub()
    dispatcher = dispatcher_for(context, fcm)
    user = create_user(client, phone="13812346004")
    top_up(client, user["wallet_id"], 10_000)
    deliver(context, dispatcher)
    assert fcm.received == []
    push = push_delivery(client, user["id"], "wallet.top_up.succeeded")
    assert (push["status"], push["reason"]) == ("skipped", "no_device")
    summary = client.get(f"/v1/users/{user['id']}/notifications").json()["items"][0]
    assert {"channel": "push", "status": "skipped", "reason": "no_device"} in summary["deliveries"]


def test_a_device_removed_after_planning_makes_the_push_skipped_not_failed(
    client: TestClient, context: AppContext
) -> None:
    fcm = FcmStub()
    dispatcher = dispatcher_for(context, fcm)
    user = user_with_devices(client, "13812346005", [PHONE_TOKEN])
    top_up(client, user["wallet_id"], 10_000)
    relay_once(context, PlannerPolicy())
    client.put(f"/v1/users/{user['id']}/preferences", json={"push_tokens": []})
    deliver(context, dispatcher)
    push = push_delivery(client, user["id"], "wallet.top_up.succeeded")
    assert (push["status"], push["reason"]) == ("skipped", "no_device")
