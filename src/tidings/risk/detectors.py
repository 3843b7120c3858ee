"""Login detectors: new device, new city, impossible travel (pure functions, clock passed in).

The service reads what the user's earlier logins looked like (`LoginHistory`) and this module
decides; nothing here touches the database, so every rule is unit-tested with plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tidings.risk import geo
from tidings.risk.signals import RiskLevel

NEW_DEVICE: Final = "new_device"
NEW_LOCATION: Final = "new_location"
IMPOSSIBLE_TRAVEL: Final = "impossible_travel"

MAX_TRAVEL_SPEED_KMH: Final = 800.0
"""Faster than an airliner between two logins means two people, not one traveller."""
MIN_TRAVEL_KM: Final = 100.0
"""Below this, two cities may be one metropolitan area; never 'impossible'."""


@dataclass(frozen=True, slots=True)
class PreviousLogin:
    city: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class LoginHistory:
    """What the user's earlier logins say about this one."""

    has_logins: bool
    """False for the very first login: nothing to compare with, nothing to alert."""
    device_seen: bool
    """This device id logged in to this account before."""
    known_cities: frozenset[str]
    """Cities of earlier logins (as reported)."""
    last: PreviousLogin | None
    """The latest login before this one."""


@dataclass(frozen=True, slots=True)
class LoginRisk:
    level: RiskLevel
    reasons: tuple[str, ...]

    @property
    def new_device(self) -> bool:
        return NEW_DEVICE in self.reasons

    @property
    def new_location(self) -> bool:
        return NEW_LOCATION in self.reasons or IMPOSSIBLE_TRAVEL in self.reasons


def travel_speed_kmh(
    from_city: str | None, to_city: str | None, *, elapsed_hours: float
) -> float | None:
    """Speed needed to get from one login's city to the next; None when either is unknown."""
    a, b = geo.locate(from_city), geo.locate(to_city)
    if a is None or b is None:
        return None
    km = geo.distance_km(a, b)
    if km < MIN_TRAVEL_KM:
        return 0.0
    return km / max(elapsed_hours, 1e-6)


def is_impossible_travel(
    last: PreviousLogin | None,
    city: str | None,
    *,
    at: datetime,
    max_speed_kmh: float = MAX_TRAVEL_SPEED_KMH,
) -> bool:
    """From the last login's city to this one faster than `max_speed_kmh`; unknown cities skip."""
    if last is None or last.city is None or city is None or geo.same_city(last.city, city):
        return False
    hours = (at - last.at).total_seconds() / 3600
    if hours < 0:  # reported out of order: compare the other way round
        hours = -hours
    speed = travel_speed_kmh(last.city, city, elapsed_hours=hours)
    return speed is not None and speed > max_speed_kmh


def is_new_location(history: LoginHistory, city: str | None) -> bool:
    """A city none of the earlier logins came from (no city reported: nothing to say)."""
    if city is None or not history.has_logins or not history.known_cities:
        return False
    return not any(geo.same_city(city, known) for known in history.known_cities)


def assess_login(
    history: LoginHistory,
    *,
    city: str | None,
    at: datetime,
    max_speed_kmh: float = MAX_TRAVEL_SPEED_KMH,
) -> LoginRisk:
    """New device and new city are medium; both together, or impossible travel, are high."""
    if not history.has_logins:
        return LoginRisk(RiskLevel.LOW, ())
    reasons: list[str] = []
    if not history.device_seen:
        reasons.append(NEW_DEVICE)
    if is_new_location(history, city):
        reasons.append(NEW_LOCATION)
    if is_impossible_travel(history.last, city, at=at, max_speed_kmh=max_speed_kmh):
        reasons.append(IMPOSSIBLE_TRAVEL)
    if IMPOSSIBLE_TRAVEL in reasons or {NEW_DEVICE, NEW_LOCATION} <= set(reasons):
        level = RiskLevel.HIGH
    elif reasons:
        level = RiskLevel.MEDIUM
    else:
        level = RiskLevel.LOW
    return LoginRisk(level, tuple(reasons))


_PLATFORMS: Final = (
    ("iphone", "iPhone"),
    ("ipad", "iPad"),
    ("harmonyos", "HarmonyOS"),
    ("openharmony", "HarmonyOS"),
    ("android", "Android"),
    ("windows", "Windows"),
    ("cros", "Chromebook"),
    ("macintosh", "Mac"),
    ("mac os", "Mac"),
    ("macos", "Mac"),
    ("darwin", "Mac"),
    ("linux", "Linux"),
)
"""User-agent fragments, most specific first (an Android UA also says Linux; a HarmonyOS one
Android), and the platform an alert names."""


def platform_of(user_agent: str | None) -> str | None:
    """The platform a user agent names (`iPhone`, `Android`…), or None when it names none we
    know: an alert then says "a new device" rather than quote the raw string."""
    if not user_agent:
        return None
    lowered = user_agent.lower()
    return next((name for fragment, name in _PLATFORMS if fragment in lowered), None)
