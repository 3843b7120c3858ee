"""Jobs in the console: one of the registry's jobs run for a past moment shows what it did;
a future moment, a moment that is not one, or a job that does not exist is said next to its
field, with what was chosen kept."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.console.conftest import Operator
from tidings.kit.clock import FixedClock


def run(operator: Operator, **fields: str) -> tuple[int, str]:
    answer = operator.post("/console/jobs", form_page="/console/jobs", **fields)
    return answer.status_code, str(answer.text)


def test_a_job_runs_for_a_past_moment_and_shows_its_result(
    clock: FixedClock, operator: Operator
) -> None:
    status, page = run(operator, job="wallet.statements", as_of="2026-11-24T09:30")
    assert status == 200
    assert "The job ran" in page
    assert "2026-11-24T01:30:00+00:00" in page  # 09:30 in Shanghai
    assert "<code>statements</code>" in page
    assert '<option value="wallet.statements" selected>' in page
    status, page = run(operator, job="risk.expire_holds", as_of="")
    assert status == 200
    assert clock.now().isoformat() in page  # no moment: now


def test_a_future_moment_a_bad_moment_or_an_unknown_job_is_refused(
    clock: FixedClock, operator: Operator
) -> None:
    status, page = run(operator, job="wallet.statements", as_of="2027-01-01T00:00")
    assert status == 422
    assert "not for the future" in page
    assert 'value="2027-01-01T00:00"' in page
    status, page = run(operator, job="wallet.statements", as_of="yesterday")
    assert status == 422
    assert 'id="as-of-error"' in page
    status, page = run(operator, job="no.such.job")
    assert status == 422
    assert 'id="job-error"' in page


def test_the_jobs_page_lists_the_registry(client: TestClient, operator: Operator) -> None:
    page = operator.page("/console/jobs")
    for job in ("notify.digests", "wallet.statements", "credit.reminders", "risk.learn_model"):
        assert f'<option value="{job}"' in page
