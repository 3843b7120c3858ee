"""`tidings bus status` as an operator runs it (a real process), and the shared NATS server
this machine and CI provide."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e_notify.support import TIDINGS, environment, migrate
from tests.helpers import create_user, payment_event
from tidings.app.context import AppContext

from .support import NatsServer, bus_status, publish, running_bus, wait_for

SHARED_NATS = ("127.0.0.1", 4222)


def tidings(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIDINGS), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bus_status_prints_the_streams_the_consumer_and_the_lag(
    tmp_path: Path, client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    with running_bus(bus_context):
        wait_for(lambda: bus_status(bus_nats.url).consumer.exists, "the ingest consumer")
        event = json.dumps(payment_event(user["id"])).encode()
        publish(bus_nats.url, [("tidings.ingest.core", event, None)])
        wait_for(lambda: bus_status(bus_nats.url).consumer.ack_floor_seq == 1, "the ack")
    env = environment(
        bus_context.settings.database_url, tmp_path / "var", TIDINGS_NATS_URL=bus_nats.url
    )
    env["COLUMNS"] = "200"
    done = tidings(env, "bus", "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    streams = {s["name"]: s for s in status["streams"]}
    assert streams["TIDINGS_INGEST"]["messages"] == 1
    assert streams["TIDINGS"]["duplicate_window_s"] == 3600
    assert status["consumer"]["ack_floor_seq"] == 1
    # the ingested event is in the outbox: published already, or counted as lag
    assert status["unpublished_events"] + streams["TIDINGS"]["messages"] == 1
    table = tidings(env, "bus", "status")
    assert table.returncode == 0, table.stderr
    assert "tidings-ingest" in table.stdout
    assert f"not yet published: {status['unpublished_events']}" in table.stdout


def test_bus_status_without_a_nats_url_says_the_bus_is_off(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 't.db'}", tmp_path / "var")
    migrate(env)
    done = tidings(env, "bus", "status")
    assert done.returncode == 2
    assert "TIDINGS_NATS_URL is not set" in done.stderr


def test_the_machines_nats_server_answers_with_jetstream() -> None:
    """CI starts `nats-server -js` on 4222 when nothing answers; a missing one is a failure
    with CI set. (The other tests run servers of their own, so they never share streams.)"""
    try:
        socket.create_connection(SHARED_NATS, timeout=2).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("NATS is not answering on 127.0.0.1:4222 and CI is set")
        pytest.skip("NATS is not answering on 127.0.0.1:4222 (set CI to make this a failure)")
    import asyncio

    import nats

    async def account() -> int:
        connection = await nats.connect("nats://127.0.0.1:4222")
        try:
            info = await connection.jetstream().account_info()
            return int(info.limits.max_streams)
        finally:
            await connection.close()

    assert asyncio.run(account()) != 0  # JetStream is enabled for the account
