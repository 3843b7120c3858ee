"""Several `tidings serve` processes on one SQLite file: payments go in through all of them,
writes take turns through `<database>.writer`, exactly one process runs the worker loops
(the holder of `<database>.worker`) and another takes them over when it dies.

The workers' idle poll is set to a minute: every notice arriving well within that shows the
leader was woken by the other process's commits (SQLite's data_version), not by polling.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import (
    Cluster,
    Process,
    cluster,
    cny,
    environment,
    inbox_items,
    ok,
    operator,
    run_command,
    wait_until,
)

pytestmark = pytest.mark.e2e

USERS = 6
PAYMENTS_PER_USER = 5
NOTICE_TIMEOUT = 30.0
TAKE_OVER_TIMEOUT = 30.0


def _env(tmp_path: Path) -> dict[str, str]:
    return environment(
        f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var", TIDINGS_WORKER_IDLE_MS="60000"
    )


def _events(process: Process, name: str) -> int:
    """Log lines of the event `name` (the processes of `serve --processes N` do not log JSON)."""
    return len(re.findall(rf"(?<![\w.]){re.escape(name)}(?![\w.])", process.log_text()))


def _wait_for_one_leader(*servers: Process) -> tuple[Process, ...]:
    """The servers whose worker loops run, once every one has either started them or stood by."""

    def settled() -> bool:
        return all(
            _events(server, "worker.started") + _events(server, "worker.standby") >= 1
            for server in servers
        )

    wait_until(settled, timeout=NOTICE_TIMEOUT, what="each server to start or stand by")
    return tuple(server for server in servers if _events(server, "worker.started"))


def _new_user(client: httpx.Client, run: str, n: int) -> dict[str, Any]:
    user: dict[str, Any] = ok(
        client.post(
            "/v1/users",
            json={
                "external_id": f"sqlite-{run}-{n}",
                "name": f"共享用户{n}",
                "phone": f"1380000{n:04d}",
                "locale": "zh-CN",
                "timezone": "Asia/Shanghai",
            },
        ),
        201,
    )
    ok(
        client.post(
            "/v1/transfers",
            json={"kind": "top_up", "destination": user["wallet_id"], "amount": cny(100_000)},
        ),
        201,
    )
    return user


def _pay(client: httpx.Client, user: dict[str, Any], key: str) -> None:
    paid = ok(
        client.post(
            "/v1/transfers",
            headers={"Idempotency-Key": key},
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


def _wait_for_notices(
    client: httpx.Client, users: list[dict[str, Any]], payments: int, running: Cluster
) -> None:
    def every_notice_arrived() -> bool:
        return all(
            Counter(item["kind"] for item in inbox_items(client, user["id"]))
            == {"wallet.payment.succeeded": payments, "wallet.top_up.succeeded": 1}
            for user in users
        )

    wait_until(
        every_notice_arrived,
        timeout=NOTICE_TIMEOUT,
        what="every payment's notice in its owner's inbox",
        watch=running,
    )


def _assert_each_notice_once_and_every_event_relayed(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        repeated = conn.execute(
            "SELECT n.event_id FROM inbox_items i"
            " JOIN notifications n ON n.id = i.notification_id"
            " GROUP BY n.event_id HAVING count(*) > 1"
        ).fetchall()
        unrelayed = conn.execute("SELECT count(*) FROM outbox WHERE relayed_at IS NULL").fetchone()
    assert repeated == []
    assert unrelayed == (0,)


def _assert_books_balance(env: dict[str, str]) -> None:
    check = run_command(env, "ledger", "check", "--json")
    balance = json.loads(check.strip().splitlines()[-1])
    assert balance["ok"] is True
    assert balance["unbalanced_entries"] == []
    assert balance["inconsistent_accounts"] == []


def _assert_never_locked(running: Cluster) -> None:
    for process in running.processes:
        log = process.log_text().lower()
        assert "database is locked" not in log, process.log_tail()
        assert "db.transaction.retry" not in log, process.log_tail()


def test_two_servers_on_one_sqlite_file_share_the_writes_and_one_runs_the_worker(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    with cluster(tmp_path, env) as running:
        servers = [running.serve(), running.serve()]
        assert len(_wait_for_one_leader(*servers)) == 1
        clients = [operator(str(server.base_url)) for server in servers]
        run = uuid.uuid4().hex[:8]
        users = [_new_user(clients[n % 2], run, n) for n in range(USERS)]
        payments = [
            (clients[(round_ + n) % 2], user, f"{run}-{n}-{round_}")
            for round_ in range(PAYMENTS_PER_USER)
            for n, user in enumerate(users)
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda payment: _pay(*payment), payments))
        _wait_for_notices(clients[0], users, PAYMENTS_PER_USER, running)
        _assert_each_notice_once_and_every_event_relayed(tmp_path / "tidings.db")
        for client in clients:
            client.close()
        running.assert_no_crash()
        _assert_never_locked(running)
    _assert_books_balance(env)


def test_the_worker_passes_to_the_standing_by_server_when_the_leader_dies(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    with cluster(tmp_path, env) as running:
        servers = [running.serve(), running.serve()]
        (leader,) = _wait_for_one_leader(*servers)
        (survivor,) = [server for server in servers if server is not leader]
        leader.kill()
        client = operator(str(survivor.base_url))
        run = uuid.uuid4().hex[:8]
        users = [_new_user(client, run, n) for n in range(2)]
        for n, user in enumerate(users):
            _pay(client, user, f"{run}-{n}")
        wait_until(
            lambda: _events(survivor, "worker.took_over") == 1,
            timeout=TAKE_OVER_TIMEOUT,
            what="the surviving server to take over the worker loops",
        )
        _wait_for_notices(client, users, 1, running)
        client.close()
        running.assert_no_crash()
    _assert_books_balance(env)


def test_serve_processes_2_on_sqlite_serves_with_one_worker(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with cluster(tmp_path, env) as running:
        server = running.serve(processes=2)
        wait_until(
            lambda: _events(server, "worker.started") + _events(server, "worker.standby") == 2,
            timeout=NOTICE_TIMEOUT,
            what="both processes to start or stand by",
        )
        assert _events(server, "worker.started") == 1
        client = operator(str(server.base_url))
        run = uuid.uuid4().hex[:8]
        users = [_new_user(client, run, n) for n in range(USERS)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda n: _pay(client, users[n % USERS], f"{run}-{n}"),
                    range(USERS * PAYMENTS_PER_USER),
                )
            )
        _wait_for_notices(client, users, PAYMENTS_PER_USER, running)
        client.close()
        running.assert_no_crash()
        _assert_never_locked(running)
    _assert_books_balance(env)
