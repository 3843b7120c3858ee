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
from tidings.kit.db import sqlite_sibling_path
from tidings.kit.filelock import FileLock
from tidings.kit.wakeups import Channel, listen, ring, watch_sqlite

log = structlog.get_logger(__name__)

LEADER_LOCK_SUFFIX = ".worker"
"""`<database>.worker`: on SQLite, the process holding a lock on it runs the worker loops."""

LEADER_RETRY_S = 2.0
"""How often a process standing by tries to take over the worker loops on SQLite."""


def wakeups(context: AppContext, stop: threading.Event) -> None:
    """Turn other processes' commits into this process's wake-ups: PostgreSQL's NOTIFY, or
    SQLite's data version (commits in this process ring it directly)."""
    if context.settings.is_sqlite:
        watch_sqlite(context.engine, stop, database=sqlite_sibling_path(context.engine.url, ""))
    else:
        listen(context.engine, stop)


def default_loops() -> tuple[Loop, ...]:
    """The loops registry: what every worker runs."""
    return (wakeups, *notify_loops(), scheduler_loop, *bus_loops())


def leader_lock(context: AppContext) -> FileLock | None:
    """SQLite on a file: the lock that gives the worker loops to one process of those sharing
    the database (on SQLite one process does the work). None on PostgreSQL, where every
    worker shares it through row leases."""
    path = (
        sqlite_sibling_path(context.engine.url, LEADER_LOCK_SUFFIX)
        if context.settings.is_sqlite
        else None
    )
    return FileLock(path) if path is not None else None


@dataclass
class Worker:
    """The loops on threads of their own. With a `leader` lock, only while holding it: until
    then it stands by, trying again every LEADER_RETRY_S, so that when the process holding it
    dies (the kernel lets go of its lock) another takes over."""

    context: AppContext
    loops: tuple[Loop, ...] = field(default_factory=default_loops)
    leader: FileLock | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    standby: threading.Thread | None = None

    def start(self) -> None:
        if self.leader is None or self.leader.acquire(blocking=False):
            self._start_loops()
            return
        log.info("worker.standby", lock=str(self.leader.path), retry_s=LEADER_RETRY_S)
        self.standby = threading.Thread(
            target=self._take_over_when_free, name="worker-standby", daemon=True
        )
        self.standby.start()

    def _take_over_when_free(self) -> None:
        assert self.leader is not None
        while not self.stop.wait(LEADER_RETRY_S):
            if self.leader.acquire(blocking=False):
                log.info("worker.took_over", lock=str(self.leader.path))
                self._start_loops()
                return

    def _start_loops(self) -> None:
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
        if self.standby is not None:
            self.standby.join(timeout)  # it may be starting the loops: joined below
        ring(self.context.engine, Channel)  # the idle loops: wake up to stop
        for thread in self.threads:
            thread.join(timeout)
        if self.leader is not None:
            self.leader.close()
        log.info("worker.stopped")


def attach_worker(app: FastAPI) -> None:
    """Start the worker with the app and stop it (finishing current work) on shutdown. On
    SQLite only one process sharing the database runs it (`tidings serve --processes N`):
    the others serve the API and stand by."""
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        context = application.state.context
        worker = Worker(context, leader=leader_lock(context))
        worker.start()
        async with original(application):
            yield
        worker.shutdown()

    app.router.lifespan_context = lifespan
