"""Who is asked: a sticky sample by a stable hash, and a recontact wait (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidings.feedback.sampling import in_sample, may_contact, sample_point
from tidings.feedback.triage import triage
from tidings.feedback.types import Category, Priority


@pytest.mark.parametrize("percent", [5, 20, 50])
def test_sampling_is_close_to_the_percentage_over_10000_users(percent: int) -> None:
    users = [f"usr_{n:026d}" for n in range(10_000)]
    chosen = sum(in_sample(u, "srv_a", percent * 100) for u in users)
    assert abs(chosen - percent * 100) < 300  # within 3 points of 10,000


def test_sampling_is_sticky_and_differs_between_surveys() -> None:
    users = [f"usr_{n:026d}" for n in range(2_000)]
    first = [in_sample(u, "srv_a", 3000) for u in users]
    assert first == [in_sample(u, "srv_a", 3000) for u in users]
    assert first != [in_sample(u, "srv_b", 3000) for u in users]
    assert all(0 <= sample_point(u, "srv_a") < 10_000 for u in users)


def test_nobody_is_contacted_again_within_the_recontact_wait() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert may_contact(None, now, 30)
    assert not may_contact(now - timedelta(days=29), now, 30)
    assert may_contact(now - timedelta(days=30), now, 30)


@pytest.mark.parametrize(
    ("body", "category", "priority"),
    [
        ("我的账户被盗刷了，不是我本人操作", Category.SECURITY, Priority.URGENT),
        ("Someone stole my money, this was not me", Category.SECURITY, Priority.URGENT),
        ("转账没到账", Category.PAYMENT, Priority.HIGH),
        ("请问借款利率是多少", Category.CREDIT, Priority.NORMAL),
        ("建议增加夜间模式", Category.SUGGESTION, Priority.LOW),
    ],
)
def test_triage_reads_the_category_and_a_security_complaint_is_urgent(
    body: str, category: Category, priority: Priority
) -> None:
    assert triage(subject=None, body=body, category=None) == (category, priority)


def test_a_security_complaint_filed_under_another_category_is_still_urgent() -> None:
    assert triage(subject=None, body="有人盗用我的账户转账", category=Category.PAYMENT) == (
        Category.PAYMENT,
        Priority.URGENT,
    )
