"""`tidings serve`'s server wakes once a second when idle, yet stops at once on a signal and
keeps its `Date` header as fresh as uvicorn's own."""

from __future__ import annotations

import asyncio
import signal
import threading
from email.utils import formatdate

import pytest
import uvicorn

from tidings.cli.server import QuietServer

LATE_S = 30.0
"""Generous: the test asserts that the loop ends long before its tick, never how fast."""


async def _nothing(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called: only the server's main loop runs."""


def _server(tick_s: float) -> QuietServer:
    config = uvicorn.Config(_nothing, lifespan="off", log_level="warning")
    config.load()
    server = QuietServer(config)
    server.tick_s = tick_s
    return server


def test_a_signal_ends_the_main_loop_without_waiting_for_the_next_tick() -> None:
    server = _server(tick_s=3_600)

    async def run() -> None:
        loop_task = asyncio.create_task(server.main_loop())
        await asyncio.sleep(0.2)  # asleep in its first tick
        # as a signal handler would, from outside the event loop
        signalling = threading.Thread(target=server.handle_exit, args=(signal.SIGTERM, None))
        signalling.start()
        await asyncio.wait_for(loop_task, LATE_S)
        signalling.join()

    asyncio.run(run())
    assert server.should_exit


def test_every_tick_refreshes_the_date_header(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server(tick_s=0.01)
    clock = [1_000_000_000.0]
    monkeypatch.setattr("uvicorn.server.time.time", lambda: clock[0])

    def date_header() -> bytes:
        return dict(server.server_state.default_headers)[b"date"]

    async def run() -> None:
        loop_task = asyncio.create_task(server.main_loop())
        await asyncio.sleep(0.05)
        assert date_header() == formatdate(clock[0], usegmt=True).encode()
        clock[0] += 7
        await asyncio.sleep(0.05)  # a few ticks: any of them refreshes it
        assert date_header() == formatdate(clock[0], usegmt=True).encode()
        server.handle_exit(signal.SIGTERM, None)
        await asyncio.wait_for(loop_task, LATE_S)

    asyncio.run(run())
