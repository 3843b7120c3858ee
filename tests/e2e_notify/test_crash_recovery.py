"""Crash recovery of the delivery pipeline on PostgreSQL, with real processes.

`tidings serve --no-worker` takes the events; separate `tidings worker` processes deliver
them. The SMS provider is a local stub of the generic "http" provider type: slow (every
request takes SMS_DELAY_S), it records every request and, like a real provider, sends one
text per `Idempotency-Key` (the delivery id). Each of N users gets one event that becomes an
inbox notice and an SMS.

1. A worker is SIGKILLed mid-backlog and another takes over after the lease runs out:
   nothing is lost, the inbox holds each notice exactly once, and the only SMS requests that
   reached the provider twice are those of the batch the dead worker had claimed but not
   recorded: the at-least-once window, which the idempotency key closes at the provider.
2. Two workers share one backlog: nothing lost, nothing sent twice.

Each worker process gets the provider under its own URL path (/first, /second…), so the
stub can tell which process sent what.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.notify_channels.stubs import Received, Reply, StubServer

from .conftest import PgDatabase
from .support import (
    Cluster,
    cloud_event,
    cluster,
    cny,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

N = 40
SMS_DELAY_S = 0.3
LEASE_S = 3
"""Short, so the dead worker's deliveries are taken over quickly."""
CALM_LEASE_S = 10
"""Where nobody dies, a lease the batches never outlast even on a loaded machine."""
BATCH = 3
"""Small batches: a batch takes at most BATCH × SMS_DELAY_S, well within the lease. (The
dispatcher neither renews its lease nor records a batch's outcomes before the batch ends,
so a batch that outlasts the lease is taken over, and re-sent, by another worker.)"""
KILL_AFTER = 8
"""SMS requests the first worker makes before it is killed."""
API_KEY = "sms-stub-api-key"
SETTLE_TIMEOUT = 60.0


@dataclass
class SmsProvider:
    """The generic "http" SMS provider, slow, de-duplicating by Idempotency-Key."""

    delay_s: float
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(path, Idempotency-Key) of every request, in arrival order."""
    texts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What was sent to phones: one text per key."""
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Received) -> Reply:
        key = request.headers.get("idempotency-key", "")
        body = request.json()
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            self.refused.append("no or wrong API key")
            return Reply(status=401, json={"error": "unauthorized"})
        if not key or body.get("id") != key:
            self.refused.append(f"id {body.get('id')!r} is not the Idempotency-Key {key!r}")
            return Reply(status=400, json={"error": "id and Idempotency-Key differ"})
        with self.lock:
            self.requests.append((request.path, key))
            self.texts.setdefault(key, body)
            number = list(self.texts).index(key) + 1
        return Reply(status=200, json={"id": f"msg-{number}"}, delay_s=self.delay_s)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def snapshot(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def sms_provider() -> Iterator[tuple[SmsProvider, str]]:
    provider = SmsProvider(delay_s=SMS_DELAY_S)
    with StubServer(provider) as server:
        yield provider, server.url


def settings(provider_url: str, path: str, *, lease_s: float = LEASE_S) -> dict[str, str]:
    sms = {"type": "http", "url": f"{provider_url}/{path}", "api_key": API_KEY, "timeout_s": 5}
    return {
        "TIDINGS_SMS_PROVIDERS": json.dumps([sms]),
        "TIDINGS_DELIVERY_LEASE_SECONDS": str(lease_s),
        "TIDINGS_DISPATCH_BATCH": str(BATCH),
    }


def worker_env(
    base: dict[str, str], provider_url: str, path: str, *, lease_s: float = LEASE_S
) -> dict[str, str]:
    return {**base, **settings(provider_url, path, lease_s=lease_s)}


# ---------------------------------------------------------------------------------------------
# The backlog and the database's view of it


def prepare_backlog(client: httpx.Client, run: str) -> list[str]:
    """N users who want transactional notices in the inbox and by SMS; one event each."""
    user_ids = []
    for n in range(N):
        user = ok(
            client.post(
                "/v1/users",
                json={
                    "external_id": f"crash-{run}-{n}",
                    "name": "刘晓红",
                    "phone": f"1390000{n:04d}",
                    "email": f"liu{n}@example.com",
                    "locale": "zh-CN",
                    "timezone": "Asia/Shanghai",
                },
            ),
            201,
        )
        ok(
            client.put(
                f"/v1/users/{user['id']}/preferences",
                json={"channels": {"transactional": ["inbox", "sms"]}},
            )
        )
        user_ids.append(user["id"])
    for n, user_id in enumerate(user_ids):
        accepted = ok(
            client.post(
                "/v1/events",
                json=cloud_event(
                    event_id=f"{run}-{n}",
                    type_="wallet.transfer.received",
                    subject=user_id,
                    data={
                        "amount": cny(10_000 + n),
                        "counterparty": "陈大文",
                        "balance_after": cny(50_000 + n),
                    },
                ),
            ),
            202,
        )
        assert accepted["duplicate"] is False
    return user_ids


def query(db: PgDatabase, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.dsn, connect_timeout=5) as conn:
        return list(conn.execute(sql).fetchall())


def settled(db: PgDatabase) -> bool:
    """Every event relayed and every delivery of those N notices final."""
    (unrelayed,) = query(db, "SELECT count(*) FROM outbox WHERE relayed_at IS NULL")[0]
    (open_deliveries,) = query(
        db, "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')"
    )[0]
    (total,) = query(db, "SELECT count(*) FROM deliveries")[0]
    return bool(unrelayed == 0 and open_deliveries == 0 and total >= 2 * N)


def check_everything_delivered_once(
    db: PgDatabase, client: httpx.Client, user_ids: list[str], provider: SmsProvider
) -> tuple[list[str], Counter[str]]:
    """The invariants both scenarios share; returns the SMS delivery ids and request counts."""
    statuses = dict(
        query(db, "SELECT channel || ':' || status, count(*) FROM deliveries GROUP BY 1")
    )
    assert statuses == {"inbox:sent": N, "sms:sent": N}, statuses

    # The inbox: exactly N rows, one per notice, one per user, as the API shows them too.
    (rows, notices) = query(
        db, "SELECT count(*), count(DISTINCT notification_id) FROM inbox_items"
    )[0]
    assert (rows, notices) == (N, N)
    for user_id in user_ids:
        items = inbox_items(client, user_id)
        assert [i["kind"] for i in items] == ["wallet.transfer.received"], items

    # The provider: every SMS delivery's id arrived (as Idempotency-Key), nothing else did.
    sms_ids = [row[0] for row in query(db, "SELECT id FROM deliveries WHERE channel = 'sms'")]
    per_key = Counter(key for _, key in provider.snapshot())
    assert set(per_key) == set(sms_ids), "an SMS delivery never reached the provider"
    assert len(per_key) == N
    assert len(provider.texts) == N
    assert provider.refused == []

    # Each recorded attempt says "sent" once per delivery (a lost batch left no attempt rows).
    attempts = dict(
        query(
            db,
            "SELECT d.id, count(a.id) FROM deliveries d LEFT JOIN delivery_attempts a "
            "ON a.delivery_id = d.id AND a.outcome = 'sent' WHERE d.channel = 'sms' GROUP BY d.id",
        )
    )
    assert set(attempts.values()) == {1}, attempts
    return sms_ids, per_key


# ---------------------------------------------------------------------------------------------
# The scenarios


def start_api(running: Cluster) -> httpx.Client:
    api = running.serve(worker=False)
    assert api.base_url is not None
    return operator(api.base_url)


def test_a_killed_worker_loses_nothing_and_resends_only_its_unrecorded_batch(
    tmp_path: Path,
    pg_database: PgDatabase,
    sms_provider: tuple[SmsProvider, str],
    record_property: Any,
) -> None:
    provider, url = sms_provider
    env = environment(pg_database.url, tmp_path / "var", **settings(url, "api"))
    with cluster(tmp_path, env) as running, start_api(running) as client:
        # The worker starts up (imports, connections) while the backlog is being written.
        first = running.launch_worker(env=worker_env(env, url, "first"), name="worker-first")
        user_ids = prepare_backlog(client, run=tmp_path.name[-8:])
        running.wait_started(first)
        wait_until(
            lambda: provider.count() >= KILL_AFTER,
            timeout=SETTLE_TIMEOUT,
            what=f"{KILL_AFTER} SMS requests from the first worker",
            interval=0.01,
            watch=running,
        )
        first.kill()
        at_kill = provider.count()
        assert at_kill < N, "the first worker finished before it could be killed"
        killed_keys = {key for _, key in provider.snapshot()}

        running.worker(env=worker_env(env, url, "second"), name="worker-second")
        wait_until(
            lambda: settled(pg_database),
            timeout=SETTLE_TIMEOUT,
            what="every delivery to be final after the restart",
            interval=0.2,
            watch=running,
        )
        sms_ids, per_key = check_everything_delivered_once(pg_database, client, user_ids, provider)
        running.assert_no_crash()

    requests = provider.snapshot()
    duplicates = {key: n for key, n in per_key.items() if n > 1}
    raw_duplicates = len(requests) - len(per_key)
    by_worker = Counter(path for path, _ in requests)
    print(
        f"\ncrash window: {len(requests)} SMS requests for {N} deliveries; "
        f"{raw_duplicates} duplicate request(s) reached the provider "
        f"({len(duplicates)} delivery id(s)); first worker sent {by_worker['/first']} "
        f"(killed after {at_kill} arrived), second sent {by_worker['/second']}"
    )
    record_property("sms_requests", len(requests))
    record_property("sms_duplicate_requests", raw_duplicates)
    record_property("sms_requests_before_kill", at_kill)

    # Distinct OutIds == N: a provider that honours the key sent each text once.
    assert len(set(per_key)) == N == len(sms_ids)
    # The only repeats are deliveries the dead worker sent but never recorded: at most one
    # batch, first sent by the killed worker, then again by its successor, once.
    assert raw_duplicates <= BATCH, duplicates
    assert set(duplicates.values()) <= {2}
    for key in duplicates:
        paths = [path for path, k in requests if k == key]
        assert paths == ["/first", "/second"], (key, paths)
        assert key in killed_keys
    # The first worker did work and so did the second (it finished the backlog).
    assert by_worker["/first"] >= KILL_AFTER
    assert by_worker["/second"] >= N - at_kill
    assert by_worker["/api"] == 0


def test_two_workers_share_a_backlog_without_losing_or_repeating_anything(
    tmp_path: Path,
    pg_database: PgDatabase,
    sms_provider: tuple[SmsProvider, str],
) -> None:
    provider, url = sms_provider
    env = environment(
        pg_database.url, tmp_path / "var", **settings(url, "api", lease_s=CALM_LEASE_S)
    )
    with cluster(tmp_path, env) as running, start_api(running) as client:
        # Both start up while the backlog is being written, so both find it waiting.
        workers = [
            running.launch_worker(
                env=worker_env(env, url, path, lease_s=CALM_LEASE_S), name=f"worker-{path}"
            )
            for path in ("a", "b")
        ]
        user_ids = prepare_backlog(client, run=tmp_path.name[-8:])
        running.wait_started(*workers)
        wait_until(
            lambda: settled(pg_database),
            timeout=SETTLE_TIMEOUT,
            what="every delivery to be final",
            interval=0.2,
            watch=running,
        )
        _, per_key = check_everything_delivered_once(pg_database, client, user_ids, provider)
        running.assert_no_crash()
        leases_lost = [
            e
            for p in running.processes
            for e in p.log_events()
            if e.get("event") == "notify.delivery.lease_lost"
        ]

    requests = provider.snapshot()
    by_worker = Counter(path for path, _ in requests)
    print(f"\ntwo workers: {dict(by_worker)} SMS requests for {N} deliveries")
    # Nothing was killed, so nothing may be sent twice: requests == distinct keys == N.
    assert len(requests) == len(per_key) == N, Counter(per_key.values())
    assert leases_lost == []
    # Both workers took part (SKIP LOCKED hands each its own rows).
    assert by_worker["/a"] > 0
    assert by_worker["/b"] > 0
    assert by_worker["/a"] + by_worker["/b"] == N
