"""Several `tidings serve` processes on one SQLite file: payments go in through all of them,
writes take turns through `<database>.writer`, exactly one process runs the worker loops
(the holder of `<database>.worker`) and another takes them over when it dies.

The workers' idle poll is set to a minute: every notice arriving well within that shows the
leader was woken by the other process's commits (SQLite's data_version), not by polling.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import support
from .support import Cluster, Process

pytestmark = pytest.mark.e2e

USERS = 6
PAYMENTS_PER_USER = 5
SETTLE_TIMEOUT = 30.0
TAKE_OVER_TIMEOUT = 30.0


def _env(tmp_path: Path) -> dict[str, str]:
    return support.environment(
        f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var", TIDINGS_WORKER_IDLE_MS="60000"
    )


def _events(process: Process, name: str) -> int:
    """Log lines naming the event `name` (whatever the log format)."""
    return len(re.findall(rf"(?<![\w.]){re.escape(name)}(?![\w.])", process.log_text()))


def _wait_for_one_leader(*servers: Process) -> tuple[Process, ...]:
    """The servers whose worker loops run, once every one has either started them or stood by."""

    def settled() -> bool:
        return all(
            _events(server, "worker.started") + _events(server, "worker.standby") >= 1
            for server in servers
        )

    support.wait_until(settled, timeout=SETTLE_TIMEOUT, what="each server to start or stand by")
    return tuple(server for server in servers if _events(server, "worker.started"))


def _new_user(client: httpx.Client, run: str, n: int) -> dict[str, Any]:
    user: dict[str, Any] = support.ok(
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
    support.ok(
        client.post(
            "/v1/transfers",
            json={
                "kind": "top_up",
                "destination": user["wallet_id"],
                "amount": support.cny(100_000),
            },
        ),
        201,
    )
    return user


def _assert_each_notice_once_and_every_event_relayed(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        repeated = conn.execute(support.NOTICES_DELIVERED_TWICE).fetchall()
        unrelayed = conn.execute(support.EVENTS_NOT_RELAYED).fetchone()
    assert repeated == []
    assert unrelayed == (0,)


def _assert_never_locked(running: Cluster) -> None:
    for process in running.processes:
        log = process.log_text().lower()
        assert "database is locked" not in log, process.log_tail()
        assert "db.transaction.retry" not in log, process.log_tail()


def test_two_servers_on_one_sqlite_file_share_the_writes_and_one_runs_the_worker(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    with support.cluster(tmp_path, env) as running:
        servers = [running.serve(), running.serve()]
        assert len(_wait_for_one_leader(*servers)) == 1
        clients = [support.operator(str(server.base_url)) for server in servers]
        run = uuid.uuid4().hex[:8]
        users = [_new_user(clients[n % 2], run, n) for n in range(USERS)]
        payments = [
            partial(
                support.pay, clients[(round_ + n) % 2], user["wallet_id"], key=f"{run}-{n}-{round_}"
            )
            for round_ in range(PAYMENTS_PER_USER)
            for n, user in enumerate(users)
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda payment: payment(), payments))
        support.wait_for_every_notice(clients[0], users, payments=PAYMENTS_PER_USER, watch=running)
        _assert_each_notice_once_and_every_event_relayed(tmp_path / "tidings.db")
        for client in clients:
            client.close()
        running.assert_no_crash()
        _assert_never_locked(running)
    support.assert_books_balance(env)


def test_the_worker_passes_to_the_standing_by_server_when_the_leader_dies(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    with support.cluster(tmp_path, env) as running:
        servers = [running.serve(), running.serve()]
        (leader,) = _wait_for_one_leader(*servers)
        (survivor,) = [server for server in servers if server is not leader]
        leader.kill()
        client = support.operator(str(survivor.base_url))
        run = uuid.uuid4().hex[:8]
        users = [_new_user(client, run, n) for n in range(2)]
        for n, user in enumerate(users):
            support.pay(client, user["wallet_id"], key=f"{run}-{n}")
        support.wait_until(
            lambda: _events(survivor, "worker.took_over") == 1,
            timeout=TAKE_OVER_TIMEOUT,
            what="the surviving server to take over the worker loops",
        )
        support.wait_for_every_notice(client, users, payments=1, watch=running)
        client.close()
        running.assert_no_crash()
    support.assert_books_balance(env)


def test_serve_processes_2_on_sqlite_serves_with_one_worker(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with support.cluster(tmp_path, env) as running:
        server = running.serve(processes=2)
        support.wait_until(
            lambda: _events(server, "worker.started") + _events(server, "worker.standby") == 2,
            timeout=SETTLE_TIMEOUT,
            what="both processes to start or stand by",
        )
        assert _events(server, "worker.started") == 1
        client = support.operator(str(server.base_url))
        run = uuid.uuid4().hex[:8]
        users = [_new_user(client, run, n) for n in range(USERS)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda n: support.pay(client, users[n % USERS]["wallet_id"], key=f"{run}-{n}"),
                    range(USERS * PAYMENTS_PER_USER),
                )
            )
        support.wait_for_every_notice(client, users, payments=PAYMENTS_PER_USER, watch=running)
        client.close()
        running.assert_no_crash()
        _assert_never_locked(running)
    support.assert_books_balance(env)
