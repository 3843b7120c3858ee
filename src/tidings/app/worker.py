"""Runs the background loops beside the API (`tidings serve`) or alone (`tidings worker`)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI

from tidings.app.bus import bus_loops
from tidings.app.context import AppContext, Loop
from tidings.app.notify import notify_loops
from tidings.app.scheduler import scheduler_loop
from tidings.kit.wakeups import Channel, listen, ring, watch_sqlite

log = structlog.get_logger(__name__)


def wakeups(context: AppContext, stop: threading.Event) -> None:
    """Turn other processes' commits into this process's wake-ups: PostgreSQL's NOTIFY, or
    SQLite's data version (commits in this process ring it directly)."""
    if context.settings.is_sqlite:
        watch_sqlite(context.engine, stop)
    else:
        listen(context.engine, stop)


def default_loops() -> tuple[Loop, ...]:
    """The loops registry: what every worker runs."""
    return (wakeups, *notify_loops(), scheduler_loop, *bus_loops())


@dataclass
class Worker:
    context: AppContext
    loops: tuple[Loop, ...] = field(default_factory=default_loops)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for loop in self.loops:
            thread = threading.Thread(
                target=self._guarded, args=(loop,), name=f"worker-{loop.__name__}", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        log.info("worker.started", loops=[loop.__name__ for loop in self.loops])

    def _guarded(self, loop: Loop) -> None:
        """Restart a crashed loop after a growing back-off, and let `/healthz` know."""
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                loop(self.context, self.stop)
            except Exception as exc:
                backoff = self.context.loop_health.crashed(
                    loop.__name__, exc, ran_for_s=time.monotonic() - started
                )
                log.exception("worker.loop_crashed", loop=loop.__name__, retry_in_s=backoff)
                self.stop.wait(backoff)

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        ring(self.context.engine, Channel)  # the idle loops: wake up to stop
        for thread in self.threads:
            thread.join(timeout)
        log.info("worker.stopped")


def attach_worker(app: FastAPI) -> None:
    """Start the worker with the app and stop it (finishing current work) on shutdown."""
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        worker = Worker(application.state.context)
        worker.start()
        async with original(application):
            yield
        worker.shutdown()

    app.router.lifespan_context = lifespan
