"""The notification planner, as a specification: which channels, when, and why not."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.notify.planner import (
    PlannedDelivery,
    PlannerPolicy,
    SendCheck,
    SentRecord,
    in_daily_span,
    plan,
    recheck_marketing,
    user_zone,
)
from tidings.notify.types import Category, ChannelName, Intent, Preferences, QuietHours

INBOX, PUSH, SMS, EMAIL, WEBHOOK = (
    ChannelName.INBOX,
    ChannelName.PUSH,
    ChannelName.SMS,
    ChannelName.EMAIL,
    ChannelName.WEBHOOK,
)
CRITICAL, TRANSACTIONAL, INFORMATIONAL, MARKETING = (
    Category.CRITICAL,
    Category.TRANSACTIONAL,
    Category.INFORMATIONAL,
    Category.MARKETING,
)
SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
POLICY = PlannerPolicy()

PAYMENT = "wallet.payment.succeeded"
STATEMENT = "wallet.statement.ready"
PROMOTION = "marketing.promotion"
LOGIN_NEW_DEVICE = "security.login.new_device"
VERIFICATION_CODE = "security.verification.code"
OVERDUE = "credit.overdue"
SUGGESTION = "marketing.sub_wallet.suggestion"
NIGHT = QuietHours(time(22), time(8))


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An instant given on the user's clock, as the UTC datetime the planner works in."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def intent(
    kind: str = PAYMENT,
    category: Category = TRANSACTIONAL,
    *,
    collection: bool = False,
    channels: tuple[ChannelName, ...] | None = None,
    data: dict[str, Any] | None = None,
) -> Intent:
    return Intent(
        kind=kind,
        category=category,
        user_id="u1",
        event_id="e1",
        data=data or {},
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        collection=collection,
        channels=channels,
    )


def prefs(
    *,
    timezone: str = SHANGHAI,
    channels: dict[Category, tuple[ChannelName, ...]] | None = None,
    quiet: QuietHours | None = None,
    digest: bool = False,
    consent: frozenset[ChannelName] = frozenset(),
    reachable: frozenset[ChannelName] = frozenset({INBOX, PUSH, SMS, EMAIL}),
    kind_channels: dict[str, tuple[ChannelName, ...]] | None = None,
    personalised: bool = True,
) -> Preferences:
    return Preferences(
        timezone=timezone,
        channels=channels or {},
        quiet_hours=quiet,
        digest=digest,
        marketing_consent=consent,
        reachable=reachable,
        kind_channels=kind_channels or {},
        personalised=personalised,
    )


def sent(
    channel: ChannelName,
    at: datetime,
    *,
    kind: str = PAYMENT,
    category: Category = TRANSACTIONAL,
    collection: bool = False,
) -> SentRecord:
    return SentRecord(channel=channel, kind=kind, category=category, at=at, collection=collection)


def by_channel(deliveries: list[PlannedDelivery]) -> dict[ChannelName, PlannedDelivery]:
    return {delivery.channel: delivery for delivery in deliveries}


# --- marketing ----------------------------------------------------------------------------


def test_marketing_sms_at_2230_waits_until_0800_local() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 22, 30)
    deliveries = plan(
        intent(PROMOTION, MARKETING),
        prefs(channels={MARKETING: (INBOX, SMS)}, consent=frozenset({INBOX, SMS})),
        [],
        POLICY,
        now,
    )
    sms = by_channel(deliveries)[SMS]
    assert sms.status == "pending"
    assert sms.due_at == local(SHANGHAI, 2024, 11, 25, 8) == datetime(2024, 11, 25, tzinfo=UTC)
    assert sms.reason == "marketing_window"
    assert by_channel(deliveries)[INBOX].due_at == sms.due_at


def test_marketing_without_consent_is_suppressed_on_that_channel_only() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = by_channel(
        plan(
            intent(PROMOTION, MARKETING),
            prefs(channels={MARKETING: (INBOX, PUSH, SMS)}, consent=frozenset({INBOX, PUSH})),
            [],
            POLICY,
            now,
        )
    )
    assert deliveries[INBOX] == PlannedDelivery(INBOX, now, "pending", None)
    assert deliveries[PUSH] == PlannedDelivery(PUSH, now, "pending", None)
    assert deliveries[SMS] == PlannedDelivery(SMS, now, "suppressed", "no_consent")


def test_marketing_in_the_inbox_needs_inbox_consent_too() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = by_channel(
        plan(
            intent(PROMOTION, MARKETING),
            prefs(channels={MARKETING: (INBOX, PUSH)}, consent=frozenset({PUSH})),
            [],
            POLICY,
            now,
        )
    )
    assert deliveries[INBOX] == PlannedDelivery(INBOX, now, "suppressed", "no_consent")
    assert deliveries[PUSH] == PlannedDelivery(PUSH, now, "pending", None)


def test_marketing_waits_for_the_later_of_window_and_quiet_hours() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 21)
    deliveries = plan(
        intent(PROMOTION, MARKETING),
        prefs(quiet=QuietHours(time(21), time(9, 30)), consent=frozenset({PUSH})),
        [],
        POLICY,
        now,
    )
    push = by_channel(deliveries)[PUSH]
    assert push.due_at == local(SHANGHAI, 2024, 11, 25, 9, 30)
    assert push.reason == "quiet_hours"


def test_marketing_over_its_daily_cap_is_suppressed_except_in_the_inbox() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 12)
    history = [
        sent(PUSH, now - timedelta(hours=h), kind=PROMOTION, category=MARKETING) for h in (1, 2)
    ]
    deliveries = by_channel(
        plan(
            intent(PROMOTION, MARKETING),
            prefs(consent=frozenset({INBOX, PUSH})),
            history,
            POLICY,
            now,
        )
    )
    assert deliveries[PUSH].status == "suppressed"
    assert deliveries[PUSH].reason == "cap"
    assert deliveries[INBOX].status == "pending"


def test_marketing_whose_users_quiet_hours_cover_the_whole_window_only_reaches_the_inbox() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 12)
    deliveries = by_channel(
        plan(
            intent(PROMOTION, MARKETING),
            prefs(quiet=QuietHours(time(7), time(21)), consent=frozenset({INBOX, PUSH})),
            [],
            POLICY,
            now,
        )
    )
    assert deliveries[PUSH] == PlannedDelivery(PUSH, now, "suppressed", "quiet_hours")
    assert deliveries[INBOX] == PlannedDelivery(INBOX, now, "pending", None)


# --- critical -----------------------------------------------------------------------------


def test_security_alert_ignores_quiet_hours_and_falls_back_to_sms() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 3)
    deliveries = plan(
        intent(LOGIN_NEW_DEVICE, CRITICAL),
        prefs(channels={CRITICAL: (INBOX, PUSH)}, quiet=NIGHT),
        [],
        POLICY,
        now,
    )
    assert deliveries == [
        PlannedDelivery(INBOX, now, "pending", None),
        PlannedDelivery(PUSH, now, "pending", None, fallback=(SMS,)),
    ]


def test_security_alert_goes_to_every_channel_at_once_without_duplicate_fallbacks() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 3)
    deliveries = plan(intent(LOGIN_NEW_DEVICE, CRITICAL), prefs(quiet=NIGHT), [], POLICY, now)
    assert [(d.channel, d.due_at, d.status, d.fallback) for d in deliveries] == [
        (INBOX, now, "pending", ()),
        (PUSH, now, "pending", ()),
        (SMS, now, "pending", ()),
        (EMAIL, now, "pending", ()),
    ]


def test_critical_fallback_chain_is_followed_transitively() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 3)
    deliveries = plan(
        intent(LOGIN_NEW_DEVICE, CRITICAL),
        prefs(channels={CRITICAL: (INBOX, EMAIL)}),
        [],
        POLICY,
        now,
    )
    assert by_channel(deliveries)[EMAIL].fallback == (SMS, PUSH)


# --- transactional ------------------------------------------------------------------------


def test_a_kinds_own_channels_override_its_category() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    choice = prefs(
        channels={TRANSACTIONAL: (INBOX, PUSH)},
        kind_channels={"credit.repayment.due": (INBOX, SMS)},
    )
    reminder = plan(intent("credit.repayment.due"), choice, [], POLICY, now)
    payment = plan(intent(PAYMENT), choice, [], POLICY, now)
    assert sorted(d.channel for d in reminder) == [INBOX, SMS]
    assert sorted(d.channel for d in payment) == [INBOX, PUSH]


def test_a_marketing_kind_on_sms_still_needs_sms_consent() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = by_channel(
        plan(
            intent(PROMOTION, MARKETING),
            prefs(kind_channels={PROMOTION: (INBOX, SMS)}),
            [],
            POLICY,
            now,
        )
    )
    assert deliveries[SMS].status == "suppressed"
    assert deliveries[SMS].reason == "no_consent"


def test_transactional_payment_is_sent_at_once_during_quiet_hours() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 23, 45)
    deliveries = plan(
        intent(PAYMENT, TRANSACTIONAL),
        prefs(channels={TRANSACTIONAL: (INBOX, PUSH, SMS)}, quiet=NIGHT, digest=True),
        [],
        POLICY,
        now,
    )
    assert [(d.channel, d.due_at, d.status, d.reason) for d in deliveries] == [
        (INBOX, now, "pending", None),
        (PUSH, now, "pending", None),
        (SMS, now, "pending", None),
    ]


# --- informational ------------------------------------------------------------------------


def test_informational_in_quiet_hours_waits_for_their_end_in_user_timezone() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 23, 30)  # 15:30 UTC: not night in UTC
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(channels={INFORMATIONAL: (INBOX, PUSH)}, quiet=QuietHours(time(22), time(7))),
        [],
        POLICY,
        now,
    )
    for delivery in deliveries:
        assert delivery.status == "pending"
        assert delivery.due_at == local(SHANGHAI, 2024, 11, 25, 7)
        assert delivery.reason == "quiet_hours"


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (21, 59, (24, 21, 59)),
        (22, 0, (25, 8, 0)),
        (23, 59, (25, 8, 0)),
        (0, 30, (24, 8, 0)),
        (7, 59, (24, 8, 0)),
        (8, 0, (24, 8, 0)),
    ],
)
def test_quiet_hours_wrapping_midnight(
    hour: int, minute: int, expected: tuple[int, int, int]
) -> None:
    now = local(SHANGHAI, 2024, 11, 24, hour, minute)
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(channels={INFORMATIONAL: (PUSH,)}, quiet=NIGHT),
        [],
        POLICY,
        now,
    )
    day, due_hour, due_minute = expected
    assert deliveries[0].due_at == local(SHANGHAI, 2024, 11, day, due_hour, due_minute)


def test_quiet_hours_within_one_day_and_empty_quiet_hours() -> None:
    lunch = QuietHours(time(12), time(13, 30))
    assert in_daily_span(time(12, 45), (lunch.start, lunch.end))
    assert not in_daily_span(time(13, 30), (lunch.start, lunch.end))
    assert not in_daily_span(time(3), (time(9), time(9)))
    now = local(SHANGHAI, 2024, 11, 24, 12, 45)
    deliveries = plan(intent(STATEMENT, INFORMATIONAL), prefs(quiet=lunch), [], POLICY, now)
    assert deliveries[0].due_at == local(SHANGHAI, 2024, 11, 24, 13, 30)


def test_digest_on_moves_informational_push_to_the_digest_time() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = by_channel(
        plan(
            intent(STATEMENT, INFORMATIONAL),
            prefs(channels={INFORMATIONAL: (INBOX, PUSH)}, digest=True),
            [],
            POLICY,
            now,
        )
    )
    assert deliveries[INBOX] == PlannedDelivery(INBOX, now, "pending", None)
    assert deliveries[PUSH] == PlannedDelivery(
        PUSH, local(SHANGHAI, 2024, 11, 24, 20), "digest", "digest"
    )


def test_digest_after_todays_digest_time_waits_for_tomorrows() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 20, 1)
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(channels={INFORMATIONAL: (PUSH,)}, digest=True),
        [],
        POLICY,
        now,
    )
    assert deliveries[0].due_at == local(SHANGHAI, 2024, 11, 25, 20)


def test_informational_over_its_cap_is_suppressed_but_the_inbox_copy_lands() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 12)
    history = [
        sent(EMAIL, now - timedelta(hours=1, minutes=m), kind=STATEMENT, category=INFORMATIONAL)
        for m in range(10)
    ]
    deliveries = by_channel(
        plan(
            intent(STATEMENT, INFORMATIONAL),
            prefs(channels={INFORMATIONAL: (INBOX, PUSH)}),
            history,
            POLICY,
            now,
        )
    )
    assert deliveries[PUSH] == PlannedDelivery(PUSH, now, "suppressed", "cap")
    assert deliveries[INBOX].status == "pending"


def test_informational_cap_counts_the_window_not_older_sends() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 12)
    history = [
        sent(PUSH, now - timedelta(days=1, minutes=m), kind=STATEMENT, category=INFORMATIONAL)
        for m in range(10)
    ]
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(channels={INFORMATIONAL: (PUSH,)}),
        history,
        POLICY,
        now,
    )
    assert deliveries[0].status == "pending"


# --- SMS provider limits ------------------------------------------------------------------

NOW = local(SHANGHAI, 2024, 11, 24, 12)


def codes_sent(*ago: timedelta) -> list[SentRecord]:
    return [sent(SMS, NOW - a, kind=VERIFICATION_CODE, category=CRITICAL) for a in ago]


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(codes_sent(timedelta(seconds=30)), id="one-in-the-last-minute"),
        pytest.param(
            codes_sent(*(timedelta(minutes=5 + 10 * i) for i in range(5))), id="five-this-hour"
        ),
        pytest.param(codes_sent(*(timedelta(hours=2 * i + 1) for i in range(10))), id="ten-today"),
    ],
)
def test_verification_code_sms_limited_to_one_per_minute_five_per_hour_ten_per_day(
    history: list[SentRecord],
) -> None:
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)), prefs(), history, POLICY, NOW
    )
    assert deliveries == [
        PlannedDelivery(SMS, NOW, "suppressed", "sms_limit"),
        PlannedDelivery(PUSH, NOW, "pending", None),
    ]


def test_verification_code_sms_goes_when_just_under_every_limit() -> None:
    history = codes_sent(
        timedelta(minutes=1),  # the minute window is (now - 1 min, now]: this one has left it
        *(timedelta(minutes=10 + 10 * i) for i in range(3)),
        *(timedelta(hours=2 + i) for i in range(5)),
        timedelta(days=1),
    )
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)), prefs(), history, POLICY, NOW
    )
    assert deliveries == [PlannedDelivery(SMS, NOW, "pending", None, fallback=(PUSH,))]


def test_verification_code_over_the_limit_without_push_is_only_suppressed() -> None:
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)),
        prefs(reachable=frozenset({SMS})),
        codes_sent(timedelta(seconds=10)),
        POLICY,
        NOW,
    )
    assert deliveries == [PlannedDelivery(SMS, NOW, "suppressed", "sms_limit")]


@pytest.mark.parametrize(
    ("sent_today", "status"), [(49, "pending"), (50, "suppressed"), (80, "suppressed")]
)
def test_other_sms_capped_at_50_per_day(sent_today: int, status: str) -> None:
    history = [sent(SMS, NOW - timedelta(minutes=10 * i + 1)) for i in range(sent_today)]
    history += [sent(SMS, NOW - timedelta(days=1, minutes=i)) for i in range(30)]  # yesterday
    history += codes_sent(*(timedelta(hours=i + 1) for i in range(10)))  # counted apart
    deliveries = by_channel(
        plan(
            intent(PAYMENT, TRANSACTIONAL),
            prefs(channels={TRANSACTIONAL: (INBOX, PUSH, SMS)}),
            history,
            POLICY,
            NOW,
        )
    )
    assert deliveries[SMS].status == status
    assert deliveries[SMS].reason == (None if status == "pending" else "sms_limit")
    assert deliveries[INBOX].status == deliveries[PUSH].status == "pending"


# --- collection notices -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "due"),
    [
        ((24, 21, 0), (25, 8, 0)),
        ((24, 23, 30), (25, 8, 0)),
        ((24, 7, 0), (24, 8, 0)),
        ((24, 20, 59), (24, 20, 59)),
    ],
)
def test_collection_notice_outside_0800_2100_waits(
    at: tuple[int, int, int], due: tuple[int, int, int]
) -> None:
    now = local(SHANGHAI, 2024, 11, *at)
    deliveries = plan(
        intent(OVERDUE, TRANSACTIONAL, collection=True),
        prefs(channels={TRANSACTIONAL: (INBOX, SMS)}),
        [],
        POLICY,
        now,
    )
    expected = local(SHANGHAI, 2024, 11, *due)
    assert [(d.channel, d.due_at, d.status) for d in deliveries] == [
        (INBOX, expected, "pending"),
        (SMS, expected, "pending"),
    ]
    assert {d.reason for d in deliveries} == {None if expected == now else "collection_window"}


def test_collection_at_most_one_per_day() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 15)
    earlier_today = sent(SMS, local(SHANGHAI, 2024, 11, 24, 9), kind=OVERDUE, collection=True)
    yesterday = sent(SMS, local(SHANGHAI, 2024, 11, 23, 20), kind=OVERDUE, collection=True)
    notice = intent(OVERDUE, TRANSACTIONAL, collection=True)
    choice = prefs(channels={TRANSACTIONAL: (INBOX, PUSH, SMS)})

    first = by_channel(plan(notice, choice, [yesterday], POLICY, now))
    assert first[INBOX].status == first[PUSH].status == "pending"
    assert first[SMS] == PlannedDelivery(SMS, now, "suppressed", "collection_daily_limit")

    second = by_channel(plan(notice, choice, [yesterday, earlier_today], POLICY, now))
    assert second[INBOX].status == "pending"
    assert second[PUSH].reason == second[SMS].reason == "collection_daily_limit"


def test_collection_planned_earlier_for_later_today_counts() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 6)
    planned_at_eight = sent(PUSH, local(SHANGHAI, 2024, 11, 24, 8), kind=OVERDUE, collection=True)
    deliveries = by_channel(
        plan(
            intent(OVERDUE, TRANSACTIONAL, collection=True),
            prefs(channels={TRANSACTIONAL: (INBOX, SMS)}),
            [planned_at_eight],
            POLICY,
            now,
        )
    )
    assert deliveries[SMS].reason == "collection_daily_limit"
    assert deliveries[INBOX].due_at == local(SHANGHAI, 2024, 11, 24, 8)


def test_collection_notice_is_never_digested() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = plan(
        intent(OVERDUE, INFORMATIONAL, collection=True),
        prefs(channels={INFORMATIONAL: (PUSH,)}, digest=True),
        [],
        POLICY,
        now,
    )
    assert deliveries == [PlannedDelivery(PUSH, now, "pending", None)]


# --- channels -----------------------------------------------------------------------------


def test_unreachable_channel_is_dropped_and_critical_uses_fallback() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    no_app = prefs(
        channels={TRANSACTIONAL: (INBOX, PUSH, EMAIL), CRITICAL: (INBOX, PUSH)},
        reachable=frozenset({SMS, EMAIL}),
    )
    payment = plan(intent(PAYMENT, TRANSACTIONAL), no_app, [], POLICY, now)
    assert [(d.channel, d.status) for d in payment] == [
        (INBOX, "pending"),
        (EMAIL, "pending"),
        (PUSH, "skipped"),
    ]

    alert = plan(intent(LOGIN_NEW_DEVICE, CRITICAL), no_app, [], POLICY, now)
    assert alert == [
        PlannedDelivery(INBOX, now, "pending", None),
        PlannedDelivery(SMS, now, "pending", None),
        PlannedDelivery(PUSH, now, "skipped", "no_device"),
    ]


def test_push_chosen_without_a_device_is_skipped_with_no_device_not_dropped() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    no_app = prefs(channels={TRANSACTIONAL: (INBOX, PUSH)}, reachable=frozenset({SMS}))
    deliveries = plan(intent(PAYMENT, TRANSACTIONAL), no_app, [], POLICY, now)
    assert deliveries == [
        PlannedDelivery(INBOX, now, "pending", None),
        PlannedDelivery(PUSH, now, "skipped", "no_device"),
    ]
    push_only = prefs(channels={TRANSACTIONAL: (PUSH,)}, reachable=frozenset())
    assert plan(intent(PAYMENT, TRANSACTIONAL), push_only, [], POLICY, now) == [
        PlannedDelivery(PUSH, now, "skipped", "no_device")
    ]


def test_a_notice_that_reaches_no_channel_leaves_a_suppressed_trace() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)),
        prefs(reachable=frozenset({EMAIL})),
        [],
        POLICY,
        now,
    )
    assert deliveries == [PlannedDelivery(SMS, now, "suppressed", "unreachable")]


def test_forced_channels_override_preferences() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 3)
    email_only = prefs(channels={CRITICAL: (EMAIL,), INFORMATIONAL: (PUSH, EMAIL)})
    code = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)), email_only, [], POLICY, now
    )
    assert code == [PlannedDelivery(SMS, now, "pending", None, fallback=(PUSH,))]

    allocation = plan(
        intent("wallet.allocation.succeeded", INFORMATIONAL, channels=(INBOX,)),
        email_only,
        [],
        POLICY,
        now,
    )
    assert [d.channel for d in allocation] == [INBOX]


def test_forced_list_uses_the_first_reachable_channel() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS, PUSH)),
        prefs(reachable=frozenset({PUSH})),
        [],
        POLICY,
        now,
    )
    assert deliveries == [PlannedDelivery(PUSH, now, "pending", None)]


def test_users_without_choices_get_the_house_defaults() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 10)
    everything = frozenset(ChannelName)
    for category, expected in [
        (CRITICAL, [INBOX, PUSH, SMS, EMAIL]),
        (TRANSACTIONAL, [INBOX, PUSH]),
        (INFORMATIONAL, [INBOX]),
    ]:
        deliveries = plan(intent(PAYMENT, category), prefs(reachable=everything), [], POLICY, now)
        assert [d.channel for d in deliveries] == expected


# --- time zones and daylight saving -------------------------------------------------------


def test_quiet_hours_end_on_the_users_clock_across_spring_forward() -> None:
    # New York springs forward at 02:00 on 10 March 2024: the night is an hour shorter.
    now = local(NEW_YORK, 2024, 3, 9, 23)
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(timezone=NEW_YORK, quiet=QuietHours(time(22), time(7))),
        [],
        POLICY,
        now,
    )
    assert now == datetime(2024, 3, 10, 4, tzinfo=UTC)
    assert deliveries[0].due_at == datetime(2024, 3, 10, 11, tzinfo=UTC)  # 07:00 EDT


def test_quiet_hours_end_on_the_users_clock_across_fall_back() -> None:
    now = local(NEW_YORK, 2024, 11, 2, 23)
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(timezone=NEW_YORK, quiet=QuietHours(time(22), time(7))),
        [],
        POLICY,
        now,
    )
    assert deliveries[0].due_at == datetime(2024, 11, 3, 12, tzinfo=UTC)  # 07:00 EST


def test_quiet_hours_ending_inside_the_repeated_hour_end_at_its_second_pass() -> None:
    # 01:00-02:00 happens twice on 3 November 2024; at 01:10 EST the 01:30 EDT is past.
    now = datetime(2024, 11, 3, 6, 10, tzinfo=UTC)  # 01:10 EST, the second pass
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(timezone=NEW_YORK, quiet=QuietHours(time(0, 30), time(1, 30))),
        [],
        POLICY,
        now,
    )
    assert deliveries[0].due_at == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)  # 01:30 EST


def test_quiet_hours_ending_inside_the_skipped_hour_end_when_the_clock_jumps() -> None:
    now = local(NEW_YORK, 2024, 3, 10, 1, 30)
    deliveries = plan(
        intent(STATEMENT, INFORMATIONAL),
        prefs(timezone=NEW_YORK, quiet=QuietHours(time(23), time(2, 30))),
        [],
        POLICY,
        now,
    )
    assert deliveries[0].due_at == datetime(2024, 3, 10, 7, tzinfo=UTC)  # 03:00 EDT


def test_marketing_window_opens_at_0800_local_after_the_clocks_change() -> None:
    for evening, opening_utc in [
        (local(NEW_YORK, 2024, 3, 9, 22, 30), datetime(2024, 3, 10, 12, tzinfo=UTC)),
        (local(NEW_YORK, 2024, 11, 2, 22, 30), datetime(2024, 11, 3, 13, tzinfo=UTC)),
    ]:
        deliveries = plan(
            intent(PROMOTION, MARKETING),
            prefs(timezone=NEW_YORK, consent=frozenset({INBOX, PUSH})),
            [],
            POLICY,
            evening,
        )
        assert {d.due_at for d in deliveries} == {opening_utc}


# --- inputs -------------------------------------------------------------------------------


def test_naive_history_is_read_as_utc_and_naive_now_is_refused() -> None:
    history = [sent(SMS, (NOW - timedelta(seconds=5)).replace(tzinfo=None), kind=VERIFICATION_CODE)]
    deliveries = plan(
        intent(VERIFICATION_CODE, CRITICAL, channels=(SMS,)), prefs(), history, POLICY, NOW
    )
    assert deliveries[0].reason == "sms_limit"
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(intent(), prefs(), [], POLICY, NOW.replace(tzinfo=None))


def test_an_unknown_user_timezone_falls_back_to_the_house_zone() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 22, 30)
    deliveries = plan(
        intent(PROMOTION, MARKETING),
        prefs(timezone="Mars/Olympus_Mons", consent=frozenset({INBOX, PUSH})),
        [],
        POLICY,
        now,
    )
    assert {d.due_at for d in deliveries} == {local(SHANGHAI, 2024, 11, 25, 8)}


def test_a_policy_with_an_empty_sending_window_is_refused() -> None:
    with pytest.raises(ValueError, match="marketing_window"):
        PlannerPolicy(marketing_window=(time(8), time(8)))


# --- properties ---------------------------------------------------------------------------

ZONES = [SHANGHAI, NEW_YORK, "UTC", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]
KINDS = [PAYMENT, STATEMENT, PROMOTION, LOGIN_NEW_DEVICE, VERIFICATION_CODE, OVERDUE]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)
zones = st.one_of(st.sampled_from(ZONES), st.timezone_keys(allow_prefix=False))
channel_sets = st.frozensets(st.sampled_from(list(ChannelName)))
channel_lists = st.lists(st.sampled_from(list(ChannelName)), max_size=6).map(tuple)
quiet_hours = st.none() | st.builds(QuietHours, st.times(), st.times())


@st.composite
def situations(
    draw: st.DrawFn, category: Category | None = None, collection: bool | None = None
) -> tuple[Intent, Preferences, list[SentRecord], datetime]:
    now = draw(instants)
    chosen_category = category or draw(st.sampled_from(list(Category)))
    notice = intent(
        draw(st.sampled_from(KINDS)),
        chosen_category,
        collection=draw(st.booleans()) if collection is None else collection,
        channels=draw(st.none() | channel_lists.filter(bool)),
    )
    choice = prefs(
        timezone=draw(zones),
        channels=draw(st.dictionaries(st.sampled_from(list(Category)), channel_lists)),
        quiet=draw(quiet_hours),
        digest=draw(st.booleans()),
        consent=draw(channel_sets),
        reachable=draw(channel_sets),
    )
    history = draw(
        st.lists(
            st.builds(
                SentRecord,
                channel=st.sampled_from(list(ChannelName)),
                kind=st.sampled_from(KINDS),
                category=st.sampled_from(list(Category)),
                at=st.integers(-2 * 86_400, 86_400).map(lambda s: now + timedelta(seconds=s)),
                collection=st.booleans(),
            ),
            max_size=30,
        )
    )
    return notice, choice, history, now


Situation = tuple[Intent, Preferences, list[SentRecord], datetime]


def wall_clock(delivery: PlannedDelivery, choice: Preferences) -> time:
    return delivery.due_at.astimezone(ZoneInfo(choice.timezone)).time()


@given(situations())
def test_every_delivery_is_due_in_utc_no_earlier_than_now_once_per_channel(
    situation: Situation,
) -> None:
    notice, choice, history, now = situation
    deliveries = plan(notice, choice, history, POLICY, now)
    for delivery in deliveries:
        assert delivery.due_at >= now
        assert delivery.due_at.utcoffset() == timedelta(0)
        assert delivery.channel not in delivery.fallback
        if delivery.status == "suppressed":
            assert delivery.due_at == now
    assert len({d.channel for d in deliveries}) == len(deliveries)


@given(situations(category=MARKETING))
def test_marketing_is_never_due_outside_its_window_or_without_consent(
    situation: Situation,
) -> None:
    notice, choice, history, now = situation
    for delivery in plan(notice, choice, history, POLICY, now):
        if delivery.status not in ("suppressed", "skipped"):
            assert in_daily_span(wall_clock(delivery, choice), POLICY.marketing_window)
            assert delivery.channel in choice.marketing_consent


@given(situations(category=CRITICAL, collection=False))
def test_critical_is_always_due_now(situation: Situation) -> None:
    notice, choice, history, now = situation
    for delivery in plan(notice, choice, history, POLICY, now):
        assert delivery.due_at == now
        assert delivery.status in ("pending", "suppressed", "skipped")
        assert delivery.reason in (None, "sms_limit", "unreachable", "no_device")


@given(situations())
def test_the_inbox_copy_of_anything_but_marketing_is_never_suppressed(
    situation: Situation,
) -> None:
    notice, choice, history, now = situation
    deliveries = plan(notice, choice, history, POLICY, now)
    if notice.category is not MARKETING:
        assert all(d.status == "pending" for d in deliveries if d.channel is INBOX)
    if notice.channels is None and INBOX in choice.channels.get(notice.category, (INBOX,)):
        assert INBOX in {d.channel for d in deliveries}


@given(situations(category=INFORMATIONAL))
def test_informational_never_interrupts_during_quiet_hours(situation: Situation) -> None:
    notice, choice, history, now = situation
    quiet = choice.quiet_hours
    for delivery in plan(notice, choice, history, POLICY, now):
        if (
            quiet
            and delivery.channel is not INBOX
            and delivery.status not in ("suppressed", "skipped")
        ):
            assert not in_daily_span(wall_clock(delivery, choice), (quiet.start, quiet.end))


@given(situations(collection=True))
def test_collection_contacts_stay_in_their_window_and_daily_limit(situation: Situation) -> None:
    notice, choice, history, now = situation
    zone = ZoneInfo(choice.timezone)
    deliveries = plan(notice, choice, history, POLICY, now)

    def day(at: datetime) -> date:
        return at.astimezone(zone).date()

    already = Counter(day(r.at) for r in history if r.collection and r.channel is not INBOX)
    added = Counter(
        day(d.due_at) for d in deliveries if d.status == "pending" and d.channel is not INBOX
    )
    for delivery in deliveries:
        if delivery.status not in ("suppressed", "skipped"):
            assert in_daily_span(wall_clock(delivery, choice), POLICY.collection_window)
    for local_day, count in added.items():
        assert count <= max(0, POLICY.collection_per_day - already[local_day])


@given(situations(category=CRITICAL))
def test_sms_never_breaks_the_providers_per_number_limits(situation: Situation) -> None:
    notice, choice, history, now = situation
    for delivery in plan(notice, choice, history, POLICY, now):
        if delivery.channel is SMS and delivery.status == "pending":
            code = notice.kind == VERIFICATION_CODE
            same = [
                r.at for r in history if r.channel is SMS and (r.kind == VERIFICATION_CODE) == code
            ]
            limits = (
                POLICY.sms_verification_limits
                if code
                else ((timedelta(days=1), POLICY.sms_daily_limit),)
            )
            for length, limit in limits:
                recent = [at for at in same if delivery.due_at - length < at <= delivery.due_at]
                assert len(recent) + 1 <= limit


# --- at the moment of sending ---------------------------------------------------------------


def test_recheck_cancels_marketing_whose_consent_was_withdrawn() -> None:
    now = local(SHANGHAI, 2024, 11, 25, 8)
    check = recheck_marketing(
        intent(PROMOTION, MARKETING), SMS, prefs(consent=frozenset({INBOX})), [], POLICY, now
    )
    assert check == SendCheck("cancelled", "no_consent")


PERSONALISED = (
    intent(SUGGESTION, MARKETING),
    intent(PROMOTION, MARKETING, data={"personalised": True}),
)
GENERIC = (
    intent(PROMOTION, MARKETING),
    intent(PROMOTION, MARKETING, data={"personalised": False}),
)


def test_personalisation_off_suppresses_personalised_marketing_on_every_channel() -> None:
    now = local(SHANGHAI, 2024, 11, 25, 10)
    off = prefs(channels={MARKETING: (INBOX, SMS)}, consent=frozenset({SMS}), personalised=False)
    for notice in PERSONALISED:
        planned = by_channel(plan(notice, off, [], POLICY, now))
        assert {c: (d.status, d.reason) for c, d in planned.items()} == {
            INBOX: ("suppressed", "personalisation_off"),
            SMS: ("suppressed", "personalisation_off"),
        }, notice
    for notice in GENERIC:
        planned = by_channel(plan(notice, off, [], POLICY, now))
        assert {c: (d.status, d.reason) for c, d in planned.items()} == {
            INBOX: ("suppressed", "no_consent"),
            SMS: ("pending", None),
        }, notice


def test_recheck_cancels_personalised_marketing_once_personalisation_is_off() -> None:
    now = local(SHANGHAI, 2024, 11, 25, 10)
    off = prefs(consent=frozenset({INBOX, SMS}), personalised=False)
    for notice in PERSONALISED:
        for channel in (INBOX, SMS):
            check = recheck_marketing(notice, channel, off, [], POLICY, now)
            assert check == SendCheck("cancelled", "personalisation_off"), (notice, channel)
    for notice in GENERIC:
        assert recheck_marketing(notice, SMS, off, [], POLICY, now) == SendCheck("send")
    on = replace(off, personalised=True)
    for notice in PERSONALISED:
        assert recheck_marketing(notice, SMS, on, [], POLICY, now) == SendCheck("send")


def test_recheck_moves_marketing_found_outside_the_window_to_the_next_opening() -> None:
    now = local(SHANGHAI, 2024, 11, 24, 22, 30)
    for channel in (SMS, INBOX):
        check = recheck_marketing(
            intent(PROMOTION, MARKETING),
            channel,
            prefs(consent=frozenset({INBOX, SMS})),
            [],
            POLICY,
            now,
        )
        assert check == SendCheck(
            "pending", "marketing_window", local(SHANGHAI, 2024, 11, 25, 8)
        ), channel


def test_recheck_holds_marketing_in_quiet_hours_set_since_as_the_planner_would() -> None:
    now = local(SHANGHAI, 2024, 11, 25, 8, 30)
    choice = prefs(consent=frozenset({INBOX, SMS}), quiet=QuietHours(time(7), time(9)))
    for channel in (SMS, INBOX):
        check = recheck_marketing(intent(PROMOTION, MARKETING), channel, choice, [], POLICY, now)
        assert check == SendCheck("pending", "quiet_hours", local(SHANGHAI, 2024, 11, 25, 9))
    # quiet hours covering the whole window: the planner's answer, not a wait forever
    never = prefs(consent=frozenset({INBOX, SMS}), quiet=QuietHours(time(7), time(21)))
    check = recheck_marketing(intent(PROMOTION, MARKETING), SMS, never, [], POLICY, now)
    assert check == SendCheck("suppressed", "quiet_hours")
    inbox = recheck_marketing(intent(PROMOTION, MARKETING), INBOX, never, [], POLICY, now)
    assert inbox == SendCheck("send")


def test_recheck_counts_what_was_sent_against_the_cap_but_not_the_inbox() -> None:
    now = local(SHANGHAI, 2024, 11, 25, 12)
    choice = prefs(consent=frozenset({INBOX, SMS}))
    today = [
        sent(SMS, now - timedelta(hours=h), kind=PROMOTION, category=MARKETING) for h in (1, 2)
    ]
    over = recheck_marketing(intent(PROMOTION, MARKETING), SMS, choice, today, POLICY, now)
    assert over == SendCheck("suppressed", "cap")
    assert recheck_marketing(
        intent(PROMOTION, MARKETING), INBOX, choice, today, POLICY, now
    ) == SendCheck("send")
    yesterday = [replace(record, at=record.at - timedelta(days=1)) for record in today]
    assert recheck_marketing(
        intent(PROMOTION, MARKETING), SMS, choice, yesterday, POLICY, now
    ) == SendCheck("send")


@given(situations(category=MARKETING))
def test_recheck_never_lets_marketing_go_outside_its_window_or_without_consent(
    situation: Situation,
) -> None:
    notice, choice, history, now = situation
    for channel in ChannelName:
        check = recheck_marketing(notice, channel, choice, history, POLICY, now)
        if check.status == "send":
            assert channel in choice.marketing_consent
            local_now = now.astimezone(user_zone(choice, POLICY)).time()
            assert in_daily_span(local_now, POLICY.marketing_window)
        if check.status == "pending":
            assert check.due_at is not None
            assert check.due_at > now
