"""The worker's scheduler runs periodic jobs by itself, one process at a time per job."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tidings.app import jobs
from tidings.app.context import AppContext
from tidings.app.scheduler import job_key, run_due_jobs, seconds_until_due


@pytest.fixture
def counting_job(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    runs: list[datetime] = []

    def job(context: AppContext, as_of: datetime) -> dict[str, Any]:
        runs.append(as_of)
        return {"runs": len(runs)}

    monkeypatch.setitem(jobs.JOBS, "test.counting", job)
    return runs


def test_a_due_job_runs_for_now_and_waits_its_interval_before_running_again(
    context: AppContext, counting_job: list[datetime]
) -> None:
    next_run: dict[str, float] = {}
    intervals = {"test.counting": timedelta(hours=1)}

    assert run_due_jobs(context, next_run, intervals) == ["test.counting"]
    assert run_due_jobs(context, next_run, intervals) == []

    assert len(counting_job) == 1
    assert abs(counting_job[0] - context.clock.now()) < timedelta(seconds=5)


def test_a_failing_job_is_logged_and_the_others_still_run(
    context: AppContext, counting_job: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(context: AppContext, as_of: datetime) -> dict[str, Any]:
        raise RuntimeError("provider down")

    monkeypatch.setitem(jobs.JOBS, "test.broken", broken)
    intervals = {"test.broken": timedelta(minutes=1), "test.counting": timedelta(minutes=1)}

    assert run_due_jobs(context, {}, intervals) == ["test.counting"]
    assert len(counting_job) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_job_another_worker_is_running_is_skipped(
    context: AppContext, counting_job: list[datetime]
) -> None:
    intervals = {"test.counting": timedelta(minutes=1)}
    with context.engine.connect() as other_worker:
        other_worker.execute(text("SELECT pg_advisory_lock(:k)"), {"k": job_key("test.counting")})
        assert run_due_jobs(context, {}, intervals) == []
        other_worker.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": job_key("test.counting")})
    assert run_due_jobs(context, {}, intervals) == ["test.counting"]
    assert len(counting_job) == 1


def test_the_scheduler_sleeps_until_the_first_job_comes_due() -> None:
    assert seconds_until_due({"a": 130.0, "b": 100.0}, now=90.0) == 10.0
    assert seconds_until_due({"a": 80.0}, now=90.0) == 0.0  # overdue: at once
    assert seconds_until_due({}, now=90.0) == 60.0  # no job at all: no busy loop
