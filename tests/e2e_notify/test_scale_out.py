"""Scale-out on PostgreSQL: two `tidings serve --no-worker` processes and two `tidings worker`
processes share one database. Payments go in through both servers; every notice reaches the
inbox exactly once and the trial balance is exact.

The workers' idle poll is set to a minute: every notice arriving well within that shows the
workers were woken by the commits (LISTEN/NOTIFY), not by polling.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from .conftest import PgDatabase
from .support import (
    EVENTS_NOT_RELAYED,
    NOTICES_DELIVERED_TWICE,
    assert_books_balance,
    cluster,
    cny,
    environment,
    ok,
    operator,
    pay,
    wait_for_every_notice,
)

pytestmark = pytest.mark.e2e

USERS = 4
PAYMENTS_PER_USER = 5


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
                pay(clients[(round_ + n) % 2], user["wallet_id"], key=f"{run}-{n}-{round_}")
        wait_for_every_notice(clients[0], users, payments=PAYMENTS_PER_USER, watch=running)
        with psycopg.connect(pg_database.dsn) as conn:
            repeated = conn.execute(NOTICES_DELIVERED_TWICE).fetchall()
            unrelayed = conn.execute(EVENTS_NOT_RELAYED).fetchone()
        assert repeated == []
        assert unrelayed == (0,)
        for client in clients:
            client.close()
        running.assert_no_crash()
    assert_books_balance(env)
