"""The login detectors as plain functions: new device, new city, impossible travel.

Time is passed in (no clock is read), so each case states the minutes between logins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidings.risk import geo
from tidings.risk.detectors import (
    IMPOSSIBLE_TRAVEL,
    NEW_DEVICE,
    NEW_LOCATION,
    LoginHistory,
    PreviousLogin,
    assess_login,
    is_impossible_travel,
    travel_speed_kmh,
)
from tidings.risk.signals import RiskLevel

NOW = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)


def history(
    *, device_seen: bool = True, cities: tuple[str, ...] = ("上海",), last: PreviousLogin | None
) -> LoginHistory:
    return LoginHistory(
        has_logins=True, device_seen=device_seen, known_cities=frozenset(cities), last=last
    )


def shanghai(minutes_ago: float) -> PreviousLogin:
    return PreviousLogin(city="上海", at=NOW - timedelta(minutes=minutes_ago))


def test_the_first_login_of_an_account_raises_nothing() -> None:
    first = LoginHistory(has_logins=False, device_seen=False, known_cities=frozenset(), last=None)
    risk = assess_login(first, city="北京", at=NOW)
    assert (risk.level, risk.reasons) == (RiskLevel.LOW, ())


def test_a_known_device_in_a_known_city_is_low() -> None:
    risk = assess_login(history(last=shanghai(60)), city="上海", at=NOW)
    assert (risk.level, risk.reasons) == (RiskLevel.LOW, ())


def test_a_device_never_seen_on_the_account_is_new_device_medium() -> None:
    risk = assess_login(history(device_seen=False, last=shanghai(60)), city="上海", at=NOW)
    assert (risk.level, risk.reasons) == (RiskLevel.MEDIUM, (NEW_DEVICE,))
    assert risk.new_device
    assert not risk.new_location


def test_a_city_never_logged_in_from_is_new_location_medium() -> None:
    risk = assess_login(history(last=shanghai(3 * 24 * 60)), city="深圳", at=NOW)
    assert (risk.level, risk.reasons) == (RiskLevel.MEDIUM, (NEW_LOCATION,))


def test_a_new_device_in_a_new_city_is_high() -> None:
    risk = assess_login(history(device_seen=False, last=shanghai(2 * 24 * 60)), city="北京", at=NOW)
    assert (risk.level, risk.reasons) == (RiskLevel.HIGH, (NEW_DEVICE, NEW_LOCATION))


def test_the_same_city_in_another_language_is_not_new() -> None:
    risk = assess_login(history(cities=("北京",), last=None), city="Beijing", at=NOW)
    assert NEW_LOCATION not in risk.reasons
    assert geo.same_city("北京市", " beijing ")


def test_shanghai_to_london_in_an_hour_is_impossible_travel_and_high() -> None:
    risk = assess_login(history(last=shanghai(60)), city="London", at=NOW)
    assert risk.level is RiskLevel.HIGH
    assert IMPOSSIBLE_TRAVEL in risk.reasons
    assert risk.new_location


def test_shanghai_to_beijing_after_five_hours_is_a_plausible_flight() -> None:
    # ~1,070 km in 5 h is 214 km/h: a train or a plane, not two people.
    assert not is_impossible_travel(shanghai(5 * 60), "北京", at=NOW)


@pytest.mark.parametrize(
    ("minutes", "impossible"),
    [(60, True), (80, True), (81, False), (600, False)],
)
def test_the_line_is_800_km_per_hour(minutes: float, impossible: bool) -> None:
    # Shanghai-Beijing is about 1,068 km: 800 km/h needs 80.1 minutes.
    distance = geo.distance_km(geo.locate("上海") or (0, 0), geo.locate("北京") or (0, 0))
    assert 1_050 < distance < 1_090
    assert is_impossible_travel(shanghai(minutes), "北京", at=NOW) is impossible


def test_the_speed_limit_is_a_parameter() -> None:
    assert is_impossible_travel(shanghai(300), "北京", at=NOW, max_speed_kmh=200)
    assert not is_impossible_travel(shanghai(300), "北京", at=NOW, max_speed_kmh=250)


def test_an_unknown_city_skips_the_travel_check() -> None:
    assert travel_speed_kmh("上海", "Atlantis", elapsed_hours=0.1) is None
    assert not is_impossible_travel(shanghai(1), "Atlantis", at=NOW)
    assert not is_impossible_travel(PreviousLogin(None, NOW), "London", at=NOW)


def test_neighbouring_cities_are_never_impossible() -> None:
    # Shenzhen and Hong Kong are ~25 km apart: one commute, even a minute later.
    last = PreviousLogin(city="深圳", at=NOW - timedelta(minutes=1))
    assert not is_impossible_travel(last, "香港", at=NOW)


def test_a_login_reported_late_is_compared_by_its_own_time() -> None:
    # The previous login is *after* this one (reported out of order), 30 minutes apart.
    later = PreviousLogin(city="上海", at=NOW + timedelta(minutes=30))
    assert is_impossible_travel(later, "北京", at=NOW)
