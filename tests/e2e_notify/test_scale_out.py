"""Scale-out on PostgreSQL: two `tidings serve --no-worker` processes and two `tidings worker`
processes share one database. Payments go in through both servers; every notice reaches the
inbox exactly once and the trial balance is exact.

The workers' idle poll is set to a minute: every notice arriving well within that shows the
workers were woken by the commits (LISTEN/NOTIFY), not by polling.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from .conftest import PgDatabase
from .support import cluster, cny, environment, inbox_items, ok, operator, run_command, wait_until

pytestmark = pytest.mark.e2e

USERS = 4
PAYMENTS_PER_USER = 5
NOTICE_TIMEOUT = 30.0


def test_two_servers_and_two_workers_deliver_every_notice_once_and_the_books_balance(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    env = environment(pg_database.url, tmp_path / "var", TIDINGS_WORKER_IDLE_MS="60000")
    with cluster(tmp_path, env) as running:
        servers = [running.serve(worker=False), running.serve(worker=False)]
        workers = [running.launch_worker(), running.launch_worker()]
        running.wait_started(*workers)
        clients = [operator(str(server.base_url)) for server in servers]
        run = uuid.uuid4().hex[:8]
        users = []
        for n in range(USERS):
            user = ok(
                clients[n % 2].post(
                    "/v1/users",
                    json={
                        "external_id": f"scale-{run}-{n}",
                        "name": f"扩展用户{n}",
                        "phone": f"1390000{n:04d}",
                        "locale": "zh-CN",
                        "timezone": "Asia/Shanghai",
                    },
                ),
                201,
            )
            ok(
                clients[(n + 1) % 2].post(
                    "/v1/transfers",
                    json={
                        "kind": "top_up",
                        "destination": user["wallet_id"],
                        "amount": cny(100_000),
                    },
                ),
                201,
            )
            users.append(user)
        for round_ in range(PAYMENTS_PER_USER):
            for n, user in enumerate(users):
                paid = ok(
                    clients[(round_ + n) % 2].post(
                        "/v1/transfers",
                        headers={"Idempotency-Key": f"{run}-{n}-{round_}"},
                        json={
                            "kind": "payment",
                            "source": user["wallet_id"],
                            "amount": cny(1_280),
                            "merchant": {"name": "瑞幸咖啡", "category": "5814"},
                        },
                    ),
                    201,
                )
                assert paid["status"] == "succeeded"

        def every_notice_arrived() -> bool:
            return all(
                Counter(item["kind"] for item in inbox_items(clients[0], user["id"]))
                == {"wallet.payment.succeeded": PAYMENTS_PER_USER, "wallet.top_up.succeeded": 1}
                for user in users
            )

        wait_until(
            every_notice_arrived,
            timeout=NOTICE_TIMEOUT,
            what="every payment's notice in its owner's inbox",
            watch=running,
        )
        with psycopg.connect(pg_database.dsn) as conn:
            repeated = conn.execute(
                "SELECT n.event_id FROM inbox_items i"
                " JOIN notifications n ON n.id = i.notification_id"
                " GROUP BY n.event_id HAVING count(*) > 1"
            ).fetchall()
            unrelayed = conn.execute(
                "SELECT count(*) FROM outbox WHERE relayed_at IS NULL"
            ).fetchone()
        assert repeated == []
        assert unrelayed == (0,)
        for client in clients:
            client.close()
        running.assert_no_crash()
    check = run_command(env, "ledger", "check", "--json")
    balance = json.loads(check.strip().splitlines()[-1])
    assert balance["ok"] is True
    assert balance["unbalanced_entries"] == []
    assert balance["inconsistent_accounts"] == []
