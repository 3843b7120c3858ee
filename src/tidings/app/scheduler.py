"""Runs the periodic jobs of `JOB_INTERVALS` by themselves, so no operator has to.

Every worker process runs this loop. On PostgreSQL a session advisory lock per job lets one
process at a time run it; the jobs are idempotent, so a run that another process already did
for nearly the same moment only finds nothing left to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

import structlog
from sqlalchemy import text

from tidings.app.context import AppContext
from tidings.app.jobs import JOB_INTERVALS, run_job
from tidings.kit.db import advisory_key

log = structlog.get_logger(__name__)

IDLE_S = 60.0
"""How long the scheduler sleeps when it has no job at all."""


def job_key(job: str) -> int:
    """The advisory lock key of one job."""
    return advisory_key(f"job.{job}")


@contextmanager
def job_lock(context: AppContext, job: str) -> Iterator[bool]:
    """Yields whether this process may run `job` now; SQLite has one worker process."""
    if context.settings.is_sqlite:
        yield True
        return
    with context.engine.connect() as conn:
        key = job_key(job)
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def run_due_jobs(
    context: AppContext, next_run: dict[str, float], intervals: Mapping[str, timedelta]
) -> list[str]:
    """Run every job whose time has come; returns the names that ran here."""
    ran: list[str] = []
    for name, interval in intervals.items():
        now = time.monotonic()
        if next_run.get(name, 0.0) > now:
            continue
        next_run[name] = now + interval.total_seconds()
        with job_lock(context, name) as mine:
            if not mine:
                continue
            try:
                figures = run_job(context, name, None)
            except Exception:
                log.exception("scheduler.job_failed", job=name)
                continue
        log.info("scheduler.job_ran", **figures)
        ran.append(name)
    return ran


def seconds_until_due(next_run: Mapping[str, float], now: float) -> float:
    """How long the scheduler may sleep: until the first job comes due (the shortest interval
    is 30 s), not a tick every second, which on an idle server was most of its wake-ups."""
    return max(0.0, min(next_run.values(), default=now + IDLE_S) - now)


def scheduler_loop(context: AppContext, stop: threading.Event) -> None:
    next_run: dict[str, float] = {}
    while not stop.is_set():
        run_due_jobs(context, next_run, JOB_INTERVALS)
        stop.wait(seconds_until_due(next_run, time.monotonic()))
