"""Real processes for the notification end-to-end tests: `tidings migrate`, `tidings serve`,
`tidings worker`, each with its own environment, log file and a bounded stop.

Everything waits with a deadline; a failure prints the tail of the process logs.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

TIDINGS = Path(sys.executable).with_name("tidings")
ADMIN_KEY = "e2e-notify-admin-key-0123456789abcdefghij"
CALLBACK_TOKEN = "e2e-notify-callback-token"
DATA_KEY = "k1:" + base64.b64encode(b"\x11" * 32).decode()
LOOKUP_KEY = base64.b64encode(b"\x22" * 32).decode()
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

T = TypeVar("T")


def cny(value: int) -> dict[str, Any]:
    return {"value": value, "currency": "CNY"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, var_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment minus its own TIDINGS_* settings (and proxies), plus ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIDINGS_") and k.lower() not in {"http_proxy", "https_proxy"}
    }
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_VAR_DIR=str(var_dir),
        TIDINGS_ADMIN_KEY=ADMIN_KEY,
        TIDINGS_DATA_KEY=DATA_KEY,
        TIDINGS_LOOKUP_KEY=LOOKUP_KEY,
        TIDINGS_CALLBACK_TOKEN=CALLBACK_TOKEN,
        TIDINGS_LOG_JSON="true",
        TIDINGS_WORKER_IDLE_MS="20",
        TIDINGS_WEBHOOK_ALLOW_PRIVATE="true",  # every receiver here is on 127.0.0.1
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(settings)
    return env


def run_command(env: dict[str, str], *args: str) -> str:
    """`tidings ARGS` to completion; its output, once it has succeeded."""
    assert TIDINGS.exists(), f"no `tidings` script next to {sys.executable}"
    done = subprocess.run(
        [str(TIDINGS), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def migrate(env: dict[str, str]) -> None:
    run_command(env, "migrate")


@dataclass
class Process:
    """One `tidings` process; its output goes to `log`."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    base_url: str | None = None

    def start(self, cwd: Path) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [str(TIDINGS), *self.args],
                env=self.env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log, without the access log (one line per request)."""
        kept = [line for line in self.log_text().splitlines() if '"http.request"' not in line]
        return f"--- {self.name} ({self.log.name}) ---\n" + "\n".join(kept[-lines:])

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines (structlog), skipping anything else the process printed."""
        events = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def started(self) -> bool:
        return '"worker.started"' in self.log_text()

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs, as when a machine or container dies."""
        assert self.popen is not None
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        return self.popen.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(timeout=STOP_TIMEOUT)


@dataclass
class Cluster:
    """The processes of one test, stopped (and their logs shown on failure) at the end."""

    workdir: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def _process(self, name: str, args: list[str], env: dict[str, str] | None) -> Process:
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        process = Process(name, args, env or self.env, log)
        self.processes.append(process)
        return process

    def serve(
        self, *, worker: bool = True, env: dict[str, str] | None = None, processes: int = 1
    ) -> Process:
        """`tidings serve --port N` (retrying on a port another process took first)."""
        for _ in range(3):
            port = free_port()
            args = ["serve", "--port", str(port), "--processes", str(processes)]
            args += [] if worker else ["--no-worker"]
            process = self._process("serve", args, env).start(self.workdir)
            process.base_url = f"http://127.0.0.1:{port}"
            if wait_healthy(process):
                return process
            if "address already in use" not in process.log_text().lower():
                pytest.fail(
                    f"the server exited with {process.popen.returncode}:\n"  # type: ignore[union-attr]
                    + process.log_tail()
                )
        pytest.fail("no free port for the server after 3 attempts")

    def worker(
        self, *args: str, env: dict[str, str] | None = None, name: str = "worker"
    ) -> Process:
        """`tidings worker [args]`, once it has logged that its loops run."""
        process = self.launch_worker(*args, env=env, name=name)
        self.wait_started(process)
        return process

    def launch_worker(
        self, *args: str, env: dict[str, str] | None = None, name: str = "worker"
    ) -> Process:
        """`tidings worker [args]`, without waiting for it (start several at once, then wait)."""
        return self._process(name, ["worker", *args], env).start(self.workdir)

    def wait_started(self, *workers: Process) -> None:
        for process in workers:

            def up(process: Process = process) -> bool:
                return process.started() or not process.alive()

            wait_until(up, timeout=START_TIMEOUT, what=f"{process.name} to start")
            assert process.alive(), process.log_tail()

    def crashes(self) -> list[str]:
        """Worker loops that died with an exception (`worker.loop_crashed`), any process."""
        found = []
        for process in self.processes:
            for line in process.log_text().splitlines():
                if '"worker.loop_crashed"' in line:
                    event = json.loads(line)
                    found.append(f"{process.name}: {event.get('loop')}: {event.get('exception')}")
        return found

    def assert_no_crash(self) -> None:
        crashes = self.crashes()
        assert not crashes, "a worker loop crashed:\n" + "\n\n".join(crashes)

    def logs(self) -> str:
        return "\n".join(p.log_tail() for p in self.processes)

    def stop_all(self) -> None:
        """SIGTERM to every process at once, then wait for each (SIGKILL after a while)."""
        for process in self.processes:
            if process.alive():
                assert process.popen is not None
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.stop()


@contextmanager
def cluster(workdir: Path, env: dict[str, str]) -> Iterator[Cluster]:
    """Migrate, then yield a `Cluster`; every process it started is stopped afterwards."""
    migrate(env)
    running = Cluster(workdir, env)
    with ExitStack() as stack:
        stack.callback(running.stop_all)
        try:
            yield running
        except BaseException:
            print(running.logs())
            raise


def wait_healthy(process: Process) -> bool:
    """True once /healthz answers 200; False if the process died first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not process.alive():
            return False
        try:
            if httpx.get(f"{process.base_url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.stop()
    pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT:.0f} s")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    watch: Cluster | None = None,
) -> T:
    """The first truthy value `probe` returns, or fail after `timeout` seconds; with `watch`,
    fail at once when one of its worker loops crashes (it would only be waited out)."""
    deadline = time.monotonic() + timeout
    checked = 0.0
    while True:
        value = probe()
        if value:
            return value
        now = time.monotonic()
        if watch is not None and now - checked > 0.5:
            checked = now
            watch.assert_no_crash()
        if now >= deadline:
            if watch is not None:
                watch.assert_no_crash()
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}: "
        f"{response.text}"
    )
    return response.json()


def operator(base_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=15,
        trust_env=False,
    )


def cloud_event(
    *, event_id: str, type_: str, subject: str, data: dict[str, Any], source: str = "urn:core"
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type_,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def inbox_items(client: httpx.Client, user_id: str) -> list[dict[str, Any]]:
    page = ok(client.get(f"/v1/users/{user_id}/inbox", params={"limit": 100}))
    items: list[dict[str, Any]] = page["items"]
    return items


NOTICES_DELIVERED_TWICE = (
    "SELECT n.event_id FROM inbox_items i JOIN notifications n ON n.id = i.notification_id"
    " GROUP BY n.event_id HAVING count(*) > 1"
)
"""The events whose notice reached an inbox more than once (none, ever)."""

EVENTS_NOT_RELAYED = "SELECT count(*) FROM outbox WHERE relayed_at IS NULL"


def pay(client: httpx.Client, wallet_id: str, *, key: str) -> None:
    """A 12.80 CNY coffee paid from `wallet_id`, which succeeds."""
    paid = ok(
        client.post(
            "/v1/transfers",
            headers={"Idempotency-Key": key},
            json={
                "kind": "payment",
                "source": wallet_id,
                "amount": cny(1_280),
                "merchant": {"name": "瑞幸咖啡", "category": "5814"},
            },
        ),
        201,
    )
    assert paid["status"] == "succeeded"


def wait_for_every_notice(
    client: httpx.Client, users: list[dict[str, Any]], *, payments: int, watch: Cluster
) -> None:
    """Until each user's inbox holds the notice of its top-up and of each of its payments."""

    def every_notice_arrived() -> bool:
        return all(
            Counter(item["kind"] for item in inbox_items(client, user["id"]))
            == {"wallet.payment.succeeded": payments, "wallet.top_up.succeeded": 1}
            for user in users
        )

    wait_until(
        every_notice_arrived,
        timeout=30.0,
        what="every payment's notice in its owner's inbox",
        watch=watch,
    )


def assert_books_balance(env: dict[str, str]) -> None:
    """`tidings ledger check`: every balance is the sum of its postings, which sum to zero."""
    check = run_command(env, "ledger", "check", "--json")
    balance = json.loads(check.strip().splitlines()[-1])
    assert balance["ok"] is True
    assert balance["unbalanced_entries"] == []
    assert balance["inconsistent_accounts"] == []


def zone_where_it_is(hour: int) -> tuple[str, datetime]:
    """A fixed-offset IANA zone whose clock now shows `hour`:xx, and that local moment."""
    now = datetime.now(UTC)
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    name = "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    return name, now.astimezone(ZoneInfo(name))
