"""An idle dispatcher sleeps until its next delivery comes due: a provider's retry goes when
its Retry-After says, not at the next idle poll."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_user
from tests.notify_channels.stubs import Received, Reply, StubServer
from tidings.app.context import AppContext
from tidings.app.notify import dispatch_loop, relay_once, until_due_s
from tidings.kit.wakeups import Channel, ring
from tidings.notify.planner import PlannerPolicy

WAIT_S = 20.0
"""Far below the idle poll the test sets (60 s): only the due time can wake it in time."""


def test_a_retry_goes_when_it_comes_due_not_at_the_next_idle_poll(
    client: TestClient, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrived: list[float] = []

    def provider(request: Received) -> Reply:
        arrived.append(time.monotonic())
        if len(arrived) == 1:
            return Reply(503, {"error": "busy"}, headers={"Retry-After": "1"})
        return Reply(200, {"id": "msg-1"})

    with StubServer(provider) as server:
        monkeypatch.setenv(
            "TIDINGS_SMS_PROVIDERS",
            json.dumps([{"type": "http", "url": server.url, "api_key": "sk_test_123456"}]),
        )
        context.settings.worker_idle_ms = 60_000
        user = create_user(client)
        changed = client.post(f"/v1/users/{user['id']}/security-changes", json={"kind": "password"})
        assert changed.status_code == 201, changed.text
        relay_once(context, PlannerPolicy())
        stop = threading.Event()
        dispatcher = threading.Thread(target=dispatch_loop, args=(context, stop))
        dispatcher.start()
        try:
            deadline = time.monotonic() + WAIT_S
            while len(arrived) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            ring(context.engine, Channel)
            dispatcher.join()
        sms = server.requests

    tries = len(sms)
    assert tries == 2, f"the SMS was tried {tries} time(s) within {WAIT_S} s"
    assert sms[0].headers["idempotency-key"] == sms[1].headers["idempotency-key"]
    # Retry-After counts from when the first try started, a little before the stub saw it.
    assert arrived[1] - arrived[0] >= 0.8, "the retry came before the provider's Retry-After"


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_an_idle_dispatcher_sleeps_until_the_next_due_delivery() -> None:
    assert until_due_s(NOW + timedelta(seconds=1.5), now=NOW) == 1.5


def test_with_nothing_open_or_nothing_ahead_it_waits_for_the_idle_poll() -> None:
    assert until_due_s(None, now=NOW) is None
    # Due already but not claimed: it waits behind an earlier delivery of its user and channel.
    assert until_due_s(NOW - timedelta(seconds=5), now=NOW) is None
