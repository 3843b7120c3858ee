"""A NATS server of each test's own (`nats-server -js`, its own port and store, stopped and
started again at will), and small synchronous helpers to read and write its streams."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.e2e_notify.support import free_port, wait_until
from tidings.app.bus import bus_loops
from tidings.app.context import AppContext
from tidings.app.notify import notify_loops
from tidings.app.worker import Worker
from tidings.bus.status import BusStatus, status_at, stream_state

START_TIMEOUT = 15.0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class NatsServer:
    """`nats-server -js` on a free port with its own store: never the shared one."""

    binary: str
    store: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: _answers(self.port), timeout=START_TIMEOUT, what="nats-server to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=START_TIMEOUT)
        self.process = None


def nats_binary() -> str:
    found = shutil.which("nats-server")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server is not installed and CI is set: the bus tests must run")
        pytest.skip("nats-server is not installed (set CI to make this a failure)")
    return found


@contextmanager
def nats_server(workdir: Path) -> Iterator[NatsServer]:
    server = NatsServer(binary=nats_binary(), store=workdir / "jetstream", log=workdir / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class StreamMessage:
    subject: str
    msg_id: str | None
    headers: dict[str, str]
    body: dict[str, Any]


def read_stream(url: str, stream: str) -> list[StreamMessage]:
    """Every message the stream holds, in its order (an ephemeral consumer from the start)."""

    async def read() -> list[StreamMessage]:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            total = (await js.stream_info(stream)).state.messages
            found: list[StreamMessage] = []
            if total == 0:
                return found
            subscription = await js.pull_subscribe(
                "", stream=stream, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            )
            while len(found) < total:
                for message in await subscription.fetch(min(total - len(found), 1000), timeout=5):
                    headers = dict(message.headers or {})
                    found.append(
                        StreamMessage(
                            subject=message.subject,
                            msg_id=headers.get("Nats-Msg-Id"),
                            headers=headers,
                            body=json.loads(message.data),
                        )
                    )
                    await message.ack()
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def stream_count(url: str, stream: str) -> int:
    return stream_state(bus_status(url), stream).messages


def publish(url: str, messages: list[tuple[str, bytes, dict[str, str] | None]]) -> None:
    """Publish (subject, body, headers) to JetStream, each acked."""

    async def send() -> None:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            for subject, body, headers in messages:
                await js.publish(subject, body, headers=headers)
        finally:
            await connection.close()

    asyncio.run(send())


@contextmanager
def running_bus(context: AppContext, *, notify: bool = False) -> Iterator[Worker]:
    """The bus's two loops in this process, as `tidings worker` runs them (with `notify`,
    the relay and the dispatcher too: events become notices)."""
    worker = Worker(context, loops=(*(notify_loops() if notify else ()), *bus_loops()))
    worker.start()
    try:
        yield worker
    finally:
        worker.shutdown()


def bus_status(url: str) -> BusStatus:
    return asyncio.run(status_at(url))


def wait_for(probe: Any, what: str, timeout: float = 30.0) -> Any:
    return wait_until(probe, timeout=timeout, what=what, interval=0.05)
