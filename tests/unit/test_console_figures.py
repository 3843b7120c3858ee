"""The console's pure parts: percentiles, the hour chart's geometry, masking of provider
text, template groups, the operator's sealed name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tidings.notify.templates.schemas import TemplateStatus, TemplateVersionOut
from tidings.notify.types import ChannelName
from tidings.privacy.crypto import Keyring
from tidings.web.console.delivery_stats import HourCounts, hour_starts, percentile
from tidings.web.console.hour_chart import hour_chart, nice_ceiling
from tidings.web.console.masking import masked_text
from tidings.web.console.message_templates import summarise
from tidings.web.console.operator import clean_operator_name, name_from, signed_name

AT = datetime(2026, 11, 24, 2, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("percent", "expected"), [(50, 5.0), (90, 9.0), (99, 10.0), (100, 10.0), (1, 1.0)]
)
def test_percentiles_are_nearest_rank(percent: int, expected: float) -> None:
    assert percentile([float(n) for n in range(1, 11)], percent) == expected


def test_a_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 99) == 0.0


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (50, 50), (501, 1000)]
)
def test_the_scale_ends_on_a_round_value(value: int, top: int) -> None:
    assert nice_ceiling(value) == top


def test_the_chart_has_24_whole_hours_the_last_holding_now() -> None:
    starts = hour_starts(AT)
    assert len(starts) == 24
    assert starts[-1] == datetime(2026, 11, 24, 2, tzinfo=UTC)
    assert starts[0] == starts[-1] - timedelta(hours=23)


def test_bars_scale_to_the_top_and_a_small_count_is_still_seen() -> None:
    hours = [HourCounts(start, 0, 0) for start in hour_starts(AT)]
    hours[-1] = HourCounts(hours[-1].starts_at, sent=1000, failed=1)
    chart = hour_chart(hours, ZoneInfo("Asia/Shanghai"))
    last = chart.columns[-1]
    assert last.sent_y == chart.baseline - last.sent_height
    assert last.sent_height == chart.baseline - 12  # the whole plot: 1000 is the top
    assert last.failed_height == 2
    assert chart.columns[0].sent_height == 0
    assert [line.value for line in chart.scale] == [0, 500, 1000]
    assert last.label == "10:00"  # 02:00 UTC in Shanghai
    assert [c.label for c in chart.columns if c.label][-2] == "07:00"


def test_provider_text_has_its_addresses_masked_but_not_dates_or_ids() -> None:
    text = (
        "invalid number +8613812348000 for zhang.san@example.com at 2026-11-24 09:00:00 "
        "(dlv_01JDQZKXWHMNPRSTVABCDE8821, HTTP 400)"
    )
    assert masked_text(text) == (
        "invalid number *********8000 for z***@example.com at 2026-11-24 09:00:00 "
        "(dlv_01JDQZKXWHMNPRSTVABCDE8821, HTTP 400)"
    )


def _version(version: int, status: TemplateStatus, *, shipped: bool = False) -> TemplateVersionOut:
    return TemplateVersionOut(
        id=f"tpl_{version}",
        status=status,
        kind="wallet.payment.succeeded",
        channel=ChannelName.SMS,
        locale="zh-CN",
        version=version,
        title=None,
        body="…",
        active=status is TemplateStatus.ACTIVE,
        shipped=shipped,
        created_by=None if shipped else "alice",
        created_at=None if shipped else AT,
    )


def test_a_group_summary_says_what_is_in_force_and_what_waits() -> None:
    [summary] = summarise(
        [
            _version(3, TemplateStatus.DRAFT),
            _version(2, TemplateStatus.ACTIVE),
            _version(1, TemplateStatus.APPROVED),
            _version(0, TemplateStatus.APPROVED, shipped=True),
        ]
    )
    assert summary.active is not None
    assert summary.active.version == 2
    assert (summary.drafts, summary.approved) == (1, 1)  # the shipped text is not "waiting"
    assert summary.group.path == "/console/templates/wallet.payment.succeeded/sms/zh-CN"


def test_the_operators_name_is_sealed_to_its_session(keyring: Keyring) -> None:
    cookie = signed_name(keyring, "tws_session-one", "张 Alice")
    assert name_from(keyring, "tws_session-one", cookie) == "张 Alice"
    assert name_from(keyring, "tws_session-two", cookie) is None  # moved to another session
    forged = (
        signed_name(keyring, "tws_session-one", "bob").split(".")[0] + cookie[cookie.index(".") :]
    )
    assert name_from(keyring, "tws_session-one", forged) is None
    assert name_from(keyring, "tws_session-one", "%%%.x") is None


@pytest.mark.parametrize(
    ("typed", "name"), [("  alice ", "alice"), ("", None), ("a" * 65, None), ("a\tb", None)]
)
def test_an_operators_name_is_printable_and_short(typed: str, name: str | None) -> None:
    assert clean_operator_name(typed) == name
