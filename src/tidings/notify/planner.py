"""The notification planner: which channels a notice goes to, when, and why not.

Pure functions over plain data: no I/O, and the clock comes in as `now`. The relay calls
`plan` once per intent inside its transaction, with the user's preferences and recent
deliveries, and writes one delivery row per `PlannedDelivery`.

Two kinds of rules decide *when*: compliance windows (marketing 08:00-20:00, collection
08:00-21:00) bind every channel, the inbox too; the user's quiet hours are a courtesy that
never holds back the inbox beyond those windows. Rules that *count* (caps, the collection
daily limit, the digest) spare the inbox: it interrupts nobody, so it always lands. Marketing
consent does not: it is per channel, the inbox included, and off until granted (PIPL).

The dispatcher asks again when a marketing delivery is about to go (`recheck_marketing`):
consent or personalised marketing may have been withdrawn, the window may have closed, the
caps may be full since the notice was planned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from types import MappingProxyType
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.campaigns.events import is_personalised
from tidings.kit.clock import as_utc
from tidings.notify.types import (
    Category,
    ChannelName,
    DeliveryStatus,
    Intent,
    Preferences,
    QuietHours,
)
from tidings.risk.events import CONTACT_CHANGE_CODE, VERIFICATION_CODE

Reason = Literal[
    "quiet_hours",
    "marketing_window",
    "no_consent",
    "personalisation_off",
    "cap",
    "sms_limit",
    "unreachable",
    "collection_window",
    "collection_daily_limit",
    "digest",
    "no_device",
]
DailyWindow = tuple[time, time]
"""A local wall-clock span [start, end); it wraps midnight when start > end."""
Limit = tuple[timedelta, int]
"""At most `int` sends in any trailing window of `timedelta`."""

CHANNEL_SPECIFIC_REASONS: Final[frozenset[Reason]] = frozenset({"no_consent", "sms_limit"})
"""Suppressions that say nothing about other channels, so a fallback may still carry it."""

_TIMING_ROUNDS: Final = 8
"""How often the daily rules may push a due time back before we call them irreconcilable."""
_DAYS_AHEAD: Final = 4
"""How far ahead to look for a wall-clock time; DST and date-line jumps skip at most a day."""

DEFAULT_CATEGORY_CAPS: Final[Mapping[Category, Limit]] = MappingProxyType(
    {
        Category.INFORMATIONAL: (timedelta(days=1), 10),
        Category.MARKETING: (timedelta(days=1), 2),
    }
)
DEFAULT_CHANNELS: Final[Mapping[Category, tuple[ChannelName, ...]]] = MappingProxyType(
    {
        Category.CRITICAL: (
            ChannelName.INBOX,
            ChannelName.PUSH,
            ChannelName.SMS,
            ChannelName.EMAIL,
        ),
        Category.TRANSACTIONAL: (ChannelName.INBOX, ChannelName.PUSH),
        Category.INFORMATIONAL: (ChannelName.INBOX,),
        Category.MARKETING: (ChannelName.INBOX, ChannelName.PUSH),
    }
)
DEFAULT_CRITICAL_FALLBACK: Final[Mapping[ChannelName, tuple[ChannelName, ...]]] = MappingProxyType(
    {
        ChannelName.PUSH: (ChannelName.SMS,),
        ChannelName.EMAIL: (ChannelName.SMS,),
        ChannelName.SMS: (ChannelName.PUSH,),
    }
)


@dataclass(frozen=True, slots=True)
class PlannerPolicy:
    """The house rules the planner applies; defaults follow the strictest providers and rules."""

    marketing_window: DailyWindow = (time(8), time(20))
    """Local time; marketing outside it waits for the next opening."""
    collection_window: DailyWindow = (time(8), time(21))
    """Local time; debt-collection notices only inside it (the guideline bans 22:00-08:00)."""
    collection_per_day: int = 1
    """Collection contacts per local day, across channels (the inbox is not a contact)."""
    sms_verification_limits: tuple[Limit, ...] = (
        (timedelta(minutes=1), 1),
        (timedelta(hours=1), 5),
        (timedelta(days=1), 10),
    )
    """Per number, what SMS providers enforce for verification codes."""
    sms_daily_limit: int = 50
    """Per number per day, every other SMS."""
    category_caps: Mapping[Category, Limit] = field(default_factory=lambda: DEFAULT_CATEGORY_CAPS)
    """Per user across channels (inbox excluded); a category not listed is uncapped."""
    digest_time: time = time(20, 0)
    """Local time the daily digest goes out."""
    default_channels: Mapping[Category, tuple[ChannelName, ...]] = field(
        default_factory=lambda: DEFAULT_CHANNELS
    )
    """Used when the user has not chosen channels for a category."""
    critical_fallback: Mapping[ChannelName, tuple[ChannelName, ...]] = field(
        default_factory=lambda: DEFAULT_CRITICAL_FALLBACK
    )
    """Where a critical notice goes when a channel is unreachable or fails for good."""
    default_timezone: str = "Asia/Shanghai"
    """Used when a user's zone is unknown, so one bad row cannot stall the relay."""

    def __post_init__(self) -> None:
        for name in ("marketing_window", "collection_window"):
            start, end = getattr(self, name)
            if start == end:
                raise ValueError(f"{name} must not start and end at the same time")
        limits = [self.collection_per_day, self.sms_daily_limit]
        limits += [n for _, n in self.sms_verification_limits]
        limits += [n for _, n in self.category_caps.values()]
        if any(n < 0 for n in limits):
            raise ValueError("limits must not be negative")


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One delivery already sent or planned (not suppressed, not digested) to this user.

    `at` is when it was sent, or its due time if it is still pending; naive means UTC.
    """

    channel: ChannelName
    kind: str
    category: Category
    at: datetime
    collection: bool = False


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """What the relay writes as one delivery row: a channel, when, and why not now."""

    channel: ChannelName
    due_at: datetime
    """UTC, never before `now`; for a suppressed delivery, the moment it was decided."""
    status: DeliveryStatus
    """pending, digest, suppressed or skipped."""
    reason: Reason | None
    """Why it is not plainly due now; None when it is."""
    fallback: tuple[ChannelName, ...] = ()
    """Channels to try, in order, if this one fails for good."""


@dataclass(frozen=True, slots=True)
class Route:
    """One channel the plan tries, and where the notice goes next if that channel cannot."""

    channel: ChannelName
    fallback: tuple[ChannelName, ...] = ()


@dataclass(frozen=True, slots=True)
class TimingRule:
    """A daily rule on when a notice may arrive."""

    reason: Reason
    earliest: Callable[[datetime], datetime]
    """The first allowed instant at or after the one given (that instant when allowed)."""
    compliance: bool
    """A law or provider rule (binds the inbox too), not the user's courtesy preference."""


@dataclass(frozen=True, slots=True)
class PlanningContext:
    """Everything about this one intent that every per-channel rule reads."""

    intent: Intent
    prefs: Preferences
    policy: PlannerPolicy
    zone: ZoneInfo
    now: datetime
    timing: tuple[TimingRule, ...]


# --- channels ---------------------------------------------------------------------------


def requested_channels(
    intent: Intent, prefs: Preferences, policy: PlannerPolicy
) -> tuple[ChannelName, ...]:
    """The rule's forced channels win, then the user's choice for the kind, then a registered
    kind's own channels, then the user's choice for its category, then the house default."""
    if intent.channels is not None:
        chosen = intent.channels
    elif intent.kind in prefs.kind_channels:
        chosen = prefs.kind_channels[intent.kind]
    elif intent.default_channels is not None:
        chosen = intent.default_channels
    elif intent.category in prefs.channels:
        chosen = prefs.channels[intent.category]
    else:
        chosen = policy.default_channels.get(intent.category, (ChannelName.INBOX,))
    return tuple(dict.fromkeys(chosen))


def is_reachable(channel: ChannelName, prefs: Preferences) -> bool:
    """A channel needs an address (phone, email, token, URL); the inbox always has one."""
    return channel is ChannelName.INBOX or channel in prefs.reachable


def fallback_chain(channel: ChannelName, policy: PlannerPolicy) -> tuple[ChannelName, ...]:
    """Every channel a critical notice may move to from `channel`, nearest first (email →
    sms → push), so the dispatcher can walk the chain without asking the planner again."""
    chain: list[ChannelName] = []
    frontier = list(policy.critical_fallback.get(channel, ()))
    while frontier:
        candidate = frontier.pop(0)
        if candidate is channel or candidate in chain:
            continue
        chain.append(candidate)
        frontier.extend(policy.critical_fallback.get(candidate, ()))
    return tuple(chain)


def forced_route(forced: Sequence[ChannelName], prefs: Preferences) -> list[Route]:
    """A forced list is ordered alternatives: the first reachable carries it, the rest stand by
    (a verification code goes by SMS, else push)."""
    usable = [channel for channel in forced if is_reachable(channel, prefs)]
    return [Route(usable[0], tuple(usable[1:]))] if usable else []


def critical_routes(
    chosen: Sequence[ChannelName], prefs: Preferences, policy: PlannerPolicy
) -> list[Route]:
    """Every chosen channel at once; an unreachable one is replaced by its fallback, and each
    carries the rest of its chain minus channels this plan already uses."""
    taken = {channel for channel in chosen if is_reachable(channel, prefs)}
    channels: list[ChannelName] = []
    for channel in chosen:
        if channel in taken:
            channels.append(channel)
            continue
        substitute = next(
            (
                alternative
                for alternative in fallback_chain(channel, policy)
                if is_reachable(alternative, prefs) and alternative not in taken
            ),
            None,
        )
        if substitute is not None:
            channels.append(substitute)
            taken.add(substitute)
    return [
        Route(
            channel,
            ()
            if channel is ChannelName.INBOX
            else tuple(
                alternative
                for alternative in fallback_chain(channel, policy)
                if is_reachable(alternative, prefs) and alternative not in taken
            ),
        )
        for channel in channels
    ]


def route_channels(intent: Intent, prefs: Preferences, policy: PlannerPolicy) -> list[Route]:
    """The channels this notice will try; unreachable ones are dropped."""
    chosen = requested_channels(intent, prefs, policy)
    if intent.channels is not None:
        return forced_route(chosen, prefs)
    if intent.category is Category.CRITICAL:
        return critical_routes(chosen, prefs, policy)
    return [Route(channel) for channel in chosen if is_reachable(channel, prefs)]


def next_route(route: Route, *, in_plan: set[ChannelName]) -> Route | None:
    """The fallback that takes over when `route`'s channel is suppressed for its own reasons."""
    rest = [channel for channel in route.fallback if channel not in in_plan]
    return Route(rest[0], tuple(rest[1:])) if rest else None


# --- time -------------------------------------------------------------------------------


def user_zone(prefs: Preferences, policy: PlannerPolicy) -> ZoneInfo:
    """The user's IANA zone; the house zone if theirs is unknown (it is validated on input,
    but a tz database update must not wedge the relay)."""
    try:
        return ZoneInfo(prefs.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(policy.default_timezone)


def local_time(at: datetime, zone: ZoneInfo) -> time:
    """The time on the user's clock at instant `at`."""
    return at.astimezone(zone).time()


def in_daily_span(moment: time, span: DailyWindow) -> bool:
    """Whether a wall-clock time falls in [start, end); start > end wraps midnight, and
    start == end is an empty span."""
    start, end = span
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def instants_showing(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants on `day` when the user's clock shows `wall`: usually one; two on a
    fall-back night; on a spring-forward night, inside the gap, the first instant after it."""
    earlier = datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=zone)
    first, second = earlier.astimezone(UTC), earlier.replace(fold=1).astimezone(UTC)
    if first < second:
        return [first, second]
    if first > second:  # in a gap: fold=1 is before the jump, fold=0 after it
        return [clock_change(second, first, zone)]
    return [first]


def clock_change(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant the zone's UTC offset changes between `before` and `after` (to the
    second, as tz data has it): when the user's clock jumps over a skipped hour."""
    offset_after = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def upcoming(at: datetime, wall: time, zone: ZoneInfo) -> Iterator[datetime]:
    """The instants at or after `at` when the user's clock shows `wall`, soonest first."""
    start = at.astimezone(zone).date()
    for offset in range(-1, _DAYS_AHEAD):
        for instant in instants_showing(start + timedelta(days=offset), wall, zone):
            if instant >= at:
                yield instant


def next_local_time(at: datetime, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after `at` when the user's clock shows `wall`."""
    return next(upcoming(at, wall, zone))


def quiet_hours_end(at: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime:
    """When a notice held back by the user's quiet hours may go; `at` itself if not quiet."""
    if quiet is None:
        return at
    span = (quiet.start, quiet.end)
    if not in_daily_span(local_time(at, zone), span):
        return at
    ends = upcoming(at, quiet.end, zone)
    return next((t for t in ends if not in_daily_span(local_time(t, zone), span)), at)


def window_opening(at: datetime, window: DailyWindow, zone: ZoneInfo) -> datetime:
    """The first instant at or after `at` inside a daily sending window (22:30 → 08:00)."""
    if in_daily_span(local_time(at, zone), window):
        return at
    openings = upcoming(at, window[0], zone)
    return next((t for t in openings if in_daily_span(local_time(t, zone), window)), at)


def next_digest_time(at: datetime, policy: PlannerPolicy, zone: ZoneInfo) -> datetime:
    """When the next daily digest goes out on the user's clock."""
    return next_local_time(at, policy.digest_time, zone)


def timing_rules(
    intent: Intent, prefs: Preferences, policy: PlannerPolicy, zone: ZoneInfo
) -> tuple[TimingRule, ...]:
    """The daily rules this notice is subject to. Critical and transactional notices ignore
    quiet hours; a collection notice keeps its window whatever its category (the law wins)."""
    rules: list[TimingRule] = []
    if intent.category is Category.MARKETING:
        opening = partial(window_opening, window=policy.marketing_window, zone=zone)
        rules.append(TimingRule("marketing_window", opening, compliance=True))
    if intent.collection:
        opening = partial(window_opening, window=policy.collection_window, zone=zone)
        rules.append(TimingRule("collection_window", opening, compliance=True))
    if intent.category in (Category.INFORMATIONAL, Category.MARKETING):
        quiet_end = partial(quiet_hours_end, quiet=prefs.quiet_hours, zone=zone)
        rules.append(TimingRule("quiet_hours", quiet_end, compliance=False))
    return tuple(rules)


def earliest_allowed(
    at: datetime, rules: Sequence[TimingRule]
) -> tuple[datetime, Reason | None] | None:
    """The first instant at or after `at` that every rule allows, with the rule that decided
    it; None when the rules never agree (quiet hours covering the whole sending window)."""
    due: datetime = at
    reason: Reason | None = None
    for _ in range(_TIMING_ROUNDS):
        moved = False
        for rule in rules:
            later = rule.earliest(due)
            if later > due:
                due, reason, moved = later, rule.reason, True
        if not moved:
            return due, reason
    return None


def schedule(
    channel: ChannelName, context: PlanningContext
) -> tuple[datetime, Reason | None] | None:
    """When this channel may deliver; the inbox falls back to the compliance rules alone,
    because quiet hours are about being disturbed and the inbox disturbs nobody."""
    slot = earliest_allowed(context.now, context.timing)
    if slot is None and channel is ChannelName.INBOX:
        binding = [rule for rule in context.timing if rule.compliance]
        slot = earliest_allowed(context.now, binding)
    return slot


# --- counting rules ---------------------------------------------------------------------


def in_trailing_window(at: datetime, *, end: datetime, length: timedelta) -> bool:
    """Whether `at` falls in (end - length, end]."""
    return end - length < at <= end


def lacks_marketing_consent(channel: ChannelName, prefs: Preferences) -> bool:
    """Marketing goes only where the user currently consents, the in-app inbox included."""
    return channel not in prefs.marketing_consent


def unwanted_personalisation(intent: Intent, prefs: Preferences) -> bool:
    """Marketing chosen by the user's own spending or behaviour (a suggestion, a personalised
    promotion) goes only while personalised marketing is on (PIPL art. 24), on any channel."""
    return not prefs.personalised and is_personalised(intent.kind, intent.data)


def goes_to_digest(intent: Intent, channel: ChannelName, prefs: Preferences) -> bool:
    """Low-value notices wait for one daily summary instead of interrupting; the inbox copy
    lands anyway, and a collection notice is never bundled (it must stand on its own)."""
    return (
        intent.category is Category.INFORMATIONAL
        and prefs.digest
        and channel is not ChannelName.INBOX
        and not intent.collection
    )


def over_category_cap(
    category: Category, *, at: datetime, counted: Sequence[SentRecord], policy: PlannerPolicy
) -> bool:
    """Whether the user has had as many interrupting notices of this category as the cap
    allows in the trailing window; critical notices are never capped."""
    cap = policy.category_caps.get(category)
    if cap is None or category is Category.CRITICAL:
        return False
    length, limit = cap
    sent = sum(
        1
        for record in counted
        if record.category is category
        and record.channel is not ChannelName.INBOX
        and in_trailing_window(record.at, end=at, length=length)
    )
    return sent >= limit


def over_collection_daily_limit(
    *, at: datetime, counted: Sequence[SentRecord], policy: PlannerPolicy, zone: ZoneInfo
) -> bool:
    """Whether the user's local day of `at` already holds as many collection contacts as
    allowed, sent or planned."""
    day = at.astimezone(zone).date()
    contacts = sum(
        1
        for record in counted
        if record.collection
        and record.channel is not ChannelName.INBOX
        and record.at.astimezone(zone).date() == day
    )
    return contacts >= policy.collection_per_day


def is_verification_code(kind: str) -> bool:
    """Providers count one-time codes separately from every other SMS."""
    return kind in (VERIFICATION_CODE, CONTACT_CHANGE_CODE)


def sms_limits(kind: str, policy: PlannerPolicy) -> tuple[Limit, ...]:
    """The per-number limits an SMS of this kind is held to."""
    if is_verification_code(kind):
        return policy.sms_verification_limits
    return ((timedelta(days=1), policy.sms_daily_limit),)


def over_sms_limit(
    kind: str, *, at: datetime, counted: Sequence[SentRecord], policy: PlannerPolicy
) -> bool:
    """Whether an SMS at `at` would break the provider's per-number limits (which would fail
    it, or get the number or our sender blocked); codes and other SMS are counted apart."""
    code = is_verification_code(kind)
    same_bucket = [
        record.at
        for record in counted
        if record.channel is ChannelName.SMS and is_verification_code(record.kind) == code
    ]
    if len(same_bucket) < min(limit for _, limit in sms_limits(kind, policy)):
        return False  # too few to break any limit, whatever their times
    for length, limit in sms_limits(kind, policy):
        start = at - length  # the trailing window (start, at], as `in_trailing_window`
        if sum(1 for sent_at in same_bucket if start < sent_at <= at) >= limit:
            return True
    return False


# --- composition ------------------------------------------------------------------------


def plan_route(
    route: Route, context: PlanningContext, counted: Sequence[SentRecord]
) -> PlannedDelivery:
    """Apply every rule to one channel, in order: personalisation and consent, time, digest,
    caps, limits."""
    intent, channel, now = context.intent, route.channel, context.now
    interrupts = channel is not ChannelName.INBOX

    def suppressed(reason: Reason) -> PlannedDelivery:
        return PlannedDelivery(channel, now, DeliveryStatus.SUPPRESSED, reason)

    if intent.category is Category.MARKETING and unwanted_personalisation(intent, context.prefs):
        return suppressed("personalisation_off")
    if intent.category is Category.MARKETING and lacks_marketing_consent(channel, context.prefs):
        return suppressed("no_consent")
    slot = schedule(channel, context)
    if slot is None:
        return suppressed("quiet_hours")
    due, reason = slot
    if goes_to_digest(intent, channel, context.prefs):
        digest_at = next_digest_time(now, context.policy, context.zone)
        digest_slot = earliest_allowed(digest_at, context.timing)
        digest_due = digest_slot[0] if digest_slot else due
        return PlannedDelivery(channel, digest_due, DeliveryStatus.DIGEST, "digest")
    if interrupts and over_category_cap(
        intent.category, at=due, counted=counted, policy=context.policy
    ):
        return suppressed("cap")
    if (
        interrupts
        and intent.collection
        and over_collection_daily_limit(
            at=due, counted=counted, policy=context.policy, zone=context.zone
        )
    ):
        return suppressed("collection_daily_limit")
    if channel is ChannelName.SMS and over_sms_limit(
        intent.kind, at=due, counted=counted, policy=context.policy
    ):
        return suppressed("sms_limit")
    return PlannedDelivery(channel, due, DeliveryStatus.PENDING, reason, route.fallback)


def in_utc(records: Sequence[SentRecord]) -> list[SentRecord]:
    """The records with every time in UTC, as the trailing windows compare them; a record
    already in UTC (what the relay reads) is taken as it is, not copied."""
    return [
        record if record.at.tzinfo is UTC else replace(record, at=as_utc(record.at))
        for record in records
    ]


def as_record(intent: Intent, delivery: PlannedDelivery) -> SentRecord:
    """A planned delivery as later rules in the same plan count it."""
    return SentRecord(
        delivery.channel, intent.kind, intent.category, delivery.due_at, intent.collection
    )


def without_planned_fallbacks(planned: list[PlannedDelivery]) -> list[PlannedDelivery]:
    """Drop from each fallback chain the channels this plan already uses or has refused."""
    in_plan = {delivery.channel for delivery in planned}
    return [
        replace(
            delivery,
            fallback=tuple(channel for channel in delivery.fallback if channel not in in_plan),
        )
        for delivery in planned
    ]


def plan(
    intent: Intent,
    prefs: Preferences,
    history: Sequence[SentRecord],
    policy: PlannerPolicy,
    now: datetime,
) -> list[PlannedDelivery]:
    """One delivery per channel this notice tries, each due now, later, in the digest, or
    suppressed with a reason; a notice that reaches no channel still leaves one suppressed
    row, so "why did I get nothing?" has an answer."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    zone = user_zone(prefs, policy)
    context = PlanningContext(
        intent, prefs, policy, zone, now, timing_rules(intent, prefs, policy, zone)
    )
    counted = in_utc(history)
    routes = route_channels(intent, prefs, policy)
    no_device = without_device(intent, prefs, policy, now)
    if not routes:
        chosen = requested_channels(intent, prefs, policy)
        if no_device or not chosen:
            return no_device
        return [PlannedDelivery(chosen[0], now, DeliveryStatus.SUPPRESSED, "unreachable")]
    planned: list[PlannedDelivery] = []
    queue = list(routes)
    while queue:
        route = queue.pop(0)
        delivery = plan_route(route, context, counted)
        planned.append(delivery)
        if delivery.status is DeliveryStatus.PENDING:
            counted.append(as_record(intent, delivery))
        elif delivery.reason in CHANNEL_SPECIFIC_REASONS:
            in_plan = {d.channel for d in planned} | {r.channel for r in queue}
            substitute = next_route(route, in_plan=in_plan)
            if substitute is not None:
                queue.insert(0, substitute)
    return without_planned_fallbacks(planned) + no_device


def without_device(
    intent: Intent, prefs: Preferences, policy: PlannerPolicy, now: datetime
) -> list[PlannedDelivery]:
    """Push chosen for this notice by a user who has no device registered: one `skipped` row
    (`no_device`), so the notice's deliveries say why no push came, instead of nothing. A
    rule's forced list is alternatives (SMS, else push): an unused one is not skipped."""
    if intent.channels is not None or is_reachable(ChannelName.PUSH, prefs):
        return []
    if ChannelName.PUSH not in requested_channels(intent, prefs, policy):
        return []
    return [PlannedDelivery(ChannelName.PUSH, now, DeliveryStatus.SKIPPED, "no_device")]


# --- at the moment of sending -------------------------------------------------------------


class SendDecision(StrEnum):
    """What the dispatcher does with a marketing delivery it has claimed; all but `send`
    are the status the delivery takes instead."""

    SEND = "send"
    """Send it now."""
    PENDING = DeliveryStatus.PENDING.value
    """Wait until `due_at`: the window or quiet hours closed since it was planned."""
    CANCELLED = DeliveryStatus.CANCELLED.value
    """Consent (or personalised marketing) was withdrawn since it was planned."""
    SUPPRESSED = DeliveryStatus.SUPPRESSED.value
    """Not today: the cap is full, or quiet hours leave no time to send."""


@dataclass(frozen=True, slots=True)
class SendCheck:
    """What the dispatcher does with a marketing delivery it has claimed, and why."""

    status: SendDecision
    reason: Reason | None = None
    due_at: datetime | None = None
    """For `pending`: the next moment every timing rule allows (UTC)."""


def recheck_marketing(
    intent: Intent,
    channel: ChannelName,
    prefs: Preferences,
    sent: Sequence[SentRecord],
    policy: PlannerPolicy,
    now: datetime,
) -> SendCheck:
    """The marketing rules again, as they stand at `now`: personalised marketing and consent
    (turned off or withdrawn since planning cancels), the window and quiet hours (closed
    since: wait for the next opening) and the caps (`sent` is what actually went out, plus
    what this batch already lets go)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    if unwanted_personalisation(intent, prefs):
        return SendCheck(SendDecision.CANCELLED, "personalisation_off")
    if lacks_marketing_consent(channel, prefs):
        return SendCheck(SendDecision.CANCELLED, "no_consent")
    zone = user_zone(prefs, policy)
    context = PlanningContext(
        intent, prefs, policy, zone, now, timing_rules(intent, prefs, policy, zone)
    )
    slot = schedule(channel, context)
    if slot is None:
        return SendCheck(SendDecision.SUPPRESSED, "quiet_hours")
    due, reason = slot
    if due > now:
        return SendCheck(SendDecision.PENDING, reason, due)
    counted = in_utc(sent)
    if channel is not ChannelName.INBOX and over_category_cap(
        Category.MARKETING, at=now, counted=counted, policy=policy
    ):
        return SendCheck(SendDecision.SUPPRESSED, "cap")
    return SendCheck(SendDecision.SEND)


def cap_lookback(policy: PlannerPolicy) -> timedelta:
    """How far back a send still counts towards some category cap."""
    return max((length for length, _ in policy.category_caps.values()), default=timedelta(0))
