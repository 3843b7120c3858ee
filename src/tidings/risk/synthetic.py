"""A seeded, labelled synthetic stream of outgoing transfers for the risk rules' tests and bench.

Normal users live daily rhythms: a morning login from their own phone, salary once a month,
rent to their landlord, lunches and groceries at their regular merchants, p2p with a few
friends, more by day than by night. They also do unusual but legitimate things, so the
false-positive rate is honest: a big purchase (often at a new shop), a new friend or merchant,
a trip (login from a new city, sometimes a new device, a hotel bill, new merchants), a new
phone, a routine password change, a market morning with many small payments.

Injected into that traffic, and labelled:

- **takeover**: a login from a new device (usually from a new city), often a password, phone or
  email change, then large transfers to new payees; a few attackers stay under the victim's
  usual amounts.
- **card_testing**: a burst of tiny payments to many new merchants within minutes, from a
  compromised account (new device) or a freshly opened one.
- **mule**: money arriving from several senders, then sent straight on to new payees, from a
  recruited established account or a fresh one.

Signals are computed in memory from each user's incremental state with exactly the meaning
of the docstrings in `risk.signals`, so a 1,000,000-transfer stream generates in about a
minute. The first `WARM_UP_DAYS` days only build users' histories and are not yielded.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from tidings.risk.signals import TransferSignals

MINUTE: Final = 1.0
HOUR: Final = 60.0
DAY: Final = 24 * HOUR
HISTORY_WINDOW: Final = 90 * DAY
WARM_UP_DAYS: Final = 45
"""Days simulated before the stream starts, so most users have a history when scored."""
STREAM_DAYS: Final = 30
"""Days the stream covers; the user count follows from how many transfers are asked for."""
TRANSFERS_PER_USER_DAY: Final = 2.6
"""Roughly what the normal behaviour below produces, used to size the population."""

DAY_RHYTHM: Final = (
    1, 1, 0.5, 0.3, 0.3, 0.5, 2, 5, 8, 7, 6, 8, 12, 10, 7, 6, 6, 7, 10, 11, 9, 7, 4, 2,
)  # fmt: skip
"""Relative activity per local hour: a lunch peak, an evening peak, quiet nights."""
NIGHT_OWL_RHYTHM: Final = (
    6, 5, 4, 3, 1, 0.5, 0.5, 1, 2, 3, 4, 5, 6, 6, 5, 5, 5, 6, 8, 9, 9, 9, 8, 7,
)  # fmt: skip
ATTACK_RHYTHM: Final = (
    6, 6, 6, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 5, 6,
)  # fmt: skip
"""Attackers often sit in another time zone: night in the victim's is over-represented."""


class Pattern(StrEnum):
    """The label of one transfer."""

    NORMAL = "normal"
    TAKEOVER = "takeover"
    CARD_TESTING = "card_testing"
    MULE = "mule"


FRAUD_PATTERNS: Final = (Pattern.TAKEOVER, Pattern.CARD_TESTING, Pattern.MULE)


@dataclass(frozen=True, slots=True)
class StreamMix:
    """How often each fraud is injected: the share of users hit during the stream's days.

    Far above real-world base rates on purpose, so a small stream holds enough frauds to
    measure recall; recall and false-positive rate do not depend on the mix.
    """

    takeover: float = 0.06
    card_testing: float = 0.03
    mule: float = 0.04
    stealth_takeover: float = 0.05
    """Share of takeovers that stay within the victim's usual amounts."""


DEFAULT_MIX: Final = StreamMix()


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


_DAY_CUM: Final = _cumulative(DAY_RHYTHM)
_OWL_CUM: Final = _cumulative(NIGHT_OWL_RHYTHM)
_ATTACK_CUM: Final = _cumulative(ATTACK_RHYTHM)
_HOURS: Final = tuple(range(24))

# Event kinds inside one user's day, processed in time order.
_LOGIN: Final = 0
_CHANGE: Final = 1
_IN: Final = 2
_OUT: Final = 3


@dataclass(slots=True)
class _Event:
    t: float
    kind: int
    amount: int = 0
    transfer_kind: str = "payment"
    payee: str = ""
    pattern: Pattern = Pattern.NORMAL
    new_device: bool = False
    new_location: bool = False


@dataclass(slots=True)
class _User:
    """One user's profile (how they behave) and state (what the signals are computed from)."""

    uid: int
    created_at: float
    median: int
    """Typical payment, minor units."""
    rate: float
    """Mean outgoing transfers per day."""
    cum_rhythm: list[float]
    merchants: list[str]
    friends: list[str]
    landlord: str | None
    rent: int
    salary: int
    salary_day: int
    p2p_share: float
    travel_until: float = -1.0
    # State.
    history: deque[tuple[float, int]] = field(default_factory=deque)
    sorted_amounts: list[int] = field(default_factory=list)
    recent: deque[tuple[float, int, str]] = field(default_factory=deque)
    amount_24h: int = 0
    incoming: deque[tuple[float, int]] = field(default_factory=deque)
    incoming_24h: int = 0
    payees: set[str] = field(default_factory=set)
    latest_login_new_device: bool = False
    new_device_login_at: float | None = None
    new_location_login_at: float | None = None
    sensitive_change_at: float | None = None
    fresh_payees: int = 0

    def new_payee_name(self, prefix: str) -> str:
        self.fresh_payees += 1
        return f"{prefix}{self.uid}.{self.fresh_payees}"

    def login(self, t: float, *, new_device: bool, new_location: bool) -> None:
        self.latest_login_new_device = new_device
        if new_device:
            self.new_device_login_at = t
        if new_location:
            self.new_location_login_at = t

    def receive(self, t: float, amount: int) -> None:
        self.incoming.append((t, amount))
        self.incoming_24h += amount

    def _expire(self, t: float) -> None:
        history = self.history
        while history and t - history[0][0] > HISTORY_WINDOW:
            _, old = history.popleft()
            del self.sorted_amounts[bisect.bisect_left(self.sorted_amounts, old)]
        recent = self.recent
        while recent and t - recent[0][0] > DAY:
            self.amount_24h -= recent.popleft()[1]
        incoming = self.incoming
        while incoming and t - incoming[0][0] > DAY:
            self.incoming_24h -= incoming.popleft()[1]

    def signals(self, event: _Event) -> TransferSignals:
        """The signals of `event` against the state before it (call before `record`)."""
        t = event.t
        self._expire(t)
        amounts = self.sorted_amounts
        n = len(amounts)
        if n:
            median = amounts[n // 2] if n % 2 else (amounts[n // 2 - 1] + amounts[n // 2]) // 2
            max_amount = amounts[-1]
        else:
            median = max_amount = 0
        last_10 = last_hour = 0
        payees = set()
        for when, _, payee in reversed(self.recent):
            age = t - when
            if age <= 10 * MINUTE:
                last_10 += 1
            if age <= HOUR:
                last_hour += 1
            payees.add(payee)
        device_at = self.new_device_login_at
        location_at = self.new_location_login_at
        change_at = self.sensitive_change_at
        return TransferSignals(
            amount=event.amount,
            kind=event.transfer_kind,
            local_hour=int(t // HOUR) % 24,
            account_age_days=(t - self.created_at) / DAY,
            history_count=n,
            history_median_amount=median,
            history_max_amount=max_amount,
            count_last_10_min=last_10,
            count_last_hour=last_hour,
            amount_last_24h=self.amount_24h,
            distinct_payees_last_24h=len(payees),
            incoming_last_24h=self.incoming_24h,
            new_payee=event.payee not in self.payees,
            new_device=self.latest_login_new_device,
            minutes_since_new_device_login=None if device_at is None else t - device_at,
            minutes_since_new_location_login=None if location_at is None else t - location_at,
            minutes_since_sensitive_change=None if change_at is None else t - change_at,
        )

    def record(self, event: _Event) -> None:
        """Add an outgoing transfer to the state."""
        t = event.t
        self._expire(t)
        self.history.append((t, event.amount))
        bisect.insort(self.sorted_amounts, event.amount)
        self.recent.append((t, event.amount, event.payee))
        self.amount_24h += event.amount
        self.payees.add(event.payee)


class _Generator:
    """Builds users and their days; one `random.Random` drawn in a fixed order per seed."""

    def __init__(self, seed: int, mix: StreamMix) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.next_uid = 0

    # --- users -------------------------------------------------------------------------

    def normal_user(self, created_at: float) -> _User:
        rng = self.rng
        uid = self.next_uid
        self.next_uid += 1
        median = int(rng.lognormvariate(8.2, 0.6))  # ~36.00, most between 20 and 120
        has_rent = rng.random() < 0.6
        user = _User(
            uid=uid,
            created_at=created_at,
            median=max(median, 500),
            rate=rng.uniform(1.0, 4.0),
            cum_rhythm=_OWL_CUM if rng.random() < 0.1 else _DAY_CUM,
            merchants=[f"m{uid}.{i}" for i in range(rng.randint(5, 20))],
            friends=[f"f{uid}.{i}" for i in range(rng.randint(2, 6))],
            landlord=f"l{uid}" if has_rent else None,
            rent=int(median * rng.uniform(25, 60)),
            salary=int(median * rng.uniform(60, 200)),
            salary_day=rng.randrange(28),
            p2p_share=rng.uniform(0.05, 0.3),
        )
        return user

    def fresh_account(self, created_at: float) -> _User:
        """A fraudster's newly opened (or bought) account with no history."""
        user = self.normal_user(created_at)
        user.landlord = None
        return user

    # --- normal days -------------------------------------------------------------------

    def hour_time(self, day: int, cum: list[float]) -> float:
        rng = self.rng
        hour = rng.choices(_HOURS, cum_weights=cum)[0]
        return day * DAY + hour * HOUR + rng.random() * HOUR

    def payment_amount(self, user: _User) -> int:
        return max(100, int(user.median * self.rng.lognormvariate(0.0, 0.55)))

    def normal_day(self, user: _User, day: int) -> list[_Event]:
        rng = self.rng
        start = day * DAY
        events: list[_Event] = []
        cum = user.cum_rhythm
        travelling = start < user.travel_until
        # The morning login from the usual phone; a new phone or a trip now and then.
        login_t = self.hour_time(day, cum) - 30 * MINUTE
        if not travelling and rng.random() < 1 / 70:
            user.travel_until = start + rng.randint(2, 6) * DAY
            travelling = True
            new_device = rng.random() < 0.25
            events.append(_Event(login_t, _LOGIN, new_device=new_device, new_location=True))
            hotel = int(user.median * rng.uniform(4, 25))
            events.append(
                _Event(
                    login_t + rng.uniform(60, 600), _OUT, hotel, "payment", user.new_payee_name("h")
                )
            )
        elif rng.random() < 1 / 200:
            events.append(_Event(login_t, _LOGIN, new_device=True))
            if rng.random() < 0.3:
                events.append(_Event(login_t + rng.uniform(2, 60), _CHANGE))
        else:
            events.append(_Event(login_t, _LOGIN))
        if rng.random() < 1 / 150:
            events.append(_Event(self.hour_time(day, cum), _CHANGE))
        # Money in: salary, friends paying back.
        if day % 30 == user.salary_day:
            events.append(_Event(start + 6 * HOUR, _IN, user.salary))
        if rng.random() < 0.12:
            amount = int(user.median * rng.uniform(0.5, 8))
            events.append(_Event(self.hour_time(day, cum), _IN, amount))
        # Money out.
        if user.landlord is not None and day % 30 == (user.salary_day + 1) % 30:
            events.append(
                _Event(
                    start + 9 * HOUR + rng.uniform(0, 600), _OUT, user.rent, "p2p", user.landlord
                )
            )
        count = _poisson(rng, user.rate)
        for _ in range(count):
            events.append(self.normal_transfer(user, day, travelling))
        if rng.random() < 1 / 45:
            # A big purchase: a phone, furniture, a course; often at a shop never used before.
            payee = user.new_payee_name("b") if rng.random() < 0.6 else rng.choice(user.merchants)
            amount = int(user.median * rng.uniform(8, 40))
            events.append(_Event(self.hour_time(day, cum), _OUT, amount, "payment", payee))
        if rng.random() < 1 / 40:
            # A market morning or a food court: several small payments, some new stalls.
            t = self.hour_time(day, cum)
            for _ in range(rng.randint(3, 6)):
                t += rng.uniform(2, 15)
                stall = (
                    user.new_payee_name("s") if rng.random() < 0.5 else rng.choice(user.merchants)
                )
                amount = rng.randint(200, 3_000)
                events.append(_Event(t, _OUT, amount, "payment", stall))
        return events

    def normal_transfer(self, user: _User, day: int, travelling: bool) -> _Event:
        rng = self.rng
        t = self.hour_time(day, user.cum_rhythm)
        roll = rng.random()
        if roll < user.p2p_share:
            payee = user.new_payee_name("f") if rng.random() < 0.03 else rng.choice(user.friends)
            return _Event(t, _OUT, self.payment_amount(user), "p2p", payee)
        if roll < user.p2p_share + 0.02:
            return _Event(t, _OUT, int(user.median * rng.uniform(2, 10)), "withdrawal", "bank")
        new_shop = 0.5 if travelling else 0.04
        if rng.random() < new_shop:
            payee = user.new_payee_name("m")
        else:
            # Regulars: the first merchants are visited most.
            payee = user.merchants[min(int(rng.expovariate(0.25)), len(user.merchants) - 1)]
        return _Event(t, _OUT, self.payment_amount(user), "payment", payee)

    # --- frauds ------------------------------------------------------------------------

    def takeover(self, user: _User, day: int) -> list[_Event]:
        rng = self.rng
        t = self.hour_time(day, _ATTACK_CUM)
        events = [_Event(t, _LOGIN, new_device=True, new_location=rng.random() < 0.7)]
        if rng.random() < 0.5:
            events.append(_Event(t + rng.uniform(1, 15), _CHANGE))
        stealth = rng.random() < self.mix.stealth_takeover
        mule = user.new_payee_name("x")
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            t += rng.uniform(3, 90)
            if stealth:
                amount = int(user.median * rng.uniform(0.5, 2.0))
            else:
                amount = max(int(user.median * rng.uniform(6, 40)), rng.randint(50_000, 300_000))
            kind = "p2p" if rng.random() < 0.6 else "withdrawal"
            payee = mule if rng.random() < 0.4 else user.new_payee_name("x")
            events.append(_Event(t, _OUT, amount, kind, payee, Pattern.TAKEOVER))
        return events

    def card_testing(self, user: _User, day: int, *, fresh: bool) -> list[_Event]:
        rng = self.rng
        t = self.hour_time(day, _ATTACK_CUM)
        # A fresh account's only device and place are not "new": there is nothing before them.
        moved = not fresh and rng.random() < 0.5
        events = [_Event(t, _LOGIN, new_device=not fresh, new_location=moved)]
        for _ in range(rng.randint(5, 20)):
            t += rng.uniform(0.2, 2.5)
            amount = rng.randint(100, 600)
            events.append(
                _Event(t, _OUT, amount, "payment", user.new_payee_name("c"), Pattern.CARD_TESTING)
            )
        return events

    def mule(self, user: _User, day: int) -> list[_Event]:
        rng = self.rng
        t = self.hour_time(day, _DAY_CUM)
        events = []
        total = 0
        for _ in range(rng.randint(2, 6)):
            t += rng.uniform(5, 90)
            amount = rng.randint(20_000, 300_000)
            total += amount
            events.append(_Event(t, _IN, amount))
        share = rng.uniform(0.7, 0.95)
        outs = rng.randint(1, 3)
        for _ in range(outs):
            t += rng.uniform(5, 120)
            amount = int(total * share / outs)
            kind = "p2p" if rng.random() < 0.5 else "withdrawal"
            events.append(_Event(t, _OUT, amount, kind, user.new_payee_name("y"), Pattern.MULE))
        return events


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: small means only, which is all a day of payments needs."""
    limit = math.exp(-mean)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _joined(rng: random.Random) -> float:
    """The day a normal user opened the account: most long ago, some during the run."""
    roll = rng.random()
    if roll < 0.05:
        return rng.uniform(0, STREAM_DAYS)
    if roll < 0.15:
        return -rng.uniform(0, WARM_UP_DAYS)
    return -rng.uniform(WARM_UP_DAYS, 3 * 365)


def population_for(transfers: int) -> int:
    """How many users make about `transfers` outgoing transfers during the stream."""
    return max(20, round(transfers / (STREAM_DAYS * TRANSFERS_PER_USER_DAY)))


def stream(
    seed: int, transfers: int, *, mix: StreamMix = DEFAULT_MIX
) -> Iterator[tuple[TransferSignals, Pattern]]:
    """Exactly `transfers` labelled transfers in time order, the same for the same seed.

    Each user's signals are computed from that user's state before the transfer; the stream
    is ordered by time across users so a prefix holds every kind of behaviour.
    """
    gen = _Generator(seed, mix)
    rng = gen.rng
    users = [gen.normal_user(_joined(rng) * DAY) for _ in range(population_for(transfers))]
    # Frauds planned up front, on the stream's days: (pattern, victim).
    plans: dict[int, list[tuple[Pattern, _User]]] = {}
    for user in users:
        for pattern, share in (
            (Pattern.TAKEOVER, mix.takeover),
            (Pattern.CARD_TESTING, mix.card_testing * 0.7),
            (Pattern.MULE, mix.mule * 0.6),
        ):
            if rng.random() < share:
                first_day = max(0, math.ceil(user.created_at / DAY) + 1)
                if first_day < STREAM_DAYS:
                    day = rng.randrange(first_day, STREAM_DAYS)
                    plans.setdefault(day, []).append((pattern, user))
    # Fresh accounts: card testers' new sign-ups, mules opened (or bought) for the job.
    for pattern, share, oldest_days in (
        (Pattern.CARD_TESTING, mix.card_testing * 0.3, 3.0),
        (Pattern.MULE, mix.mule * 0.4, 30.0),
    ):
        for _ in range(round(len(users) * share)):
            day = rng.randrange(STREAM_DAYS)
            account = gen.fresh_account(day * DAY - rng.uniform(0.1, oldest_days) * DAY)
            account.login(account.created_at, new_device=False, new_location=False)
            if pattern is Pattern.MULE:
                for i in range(rng.randint(0, 4)):  # a few small payments to look alive
                    paid = account.created_at + (i + 1) * HOUR
                    account.record(_Event(paid, _OUT, rng.randint(500, 5_000), "payment", f"s{i}"))
            plans.setdefault(day, []).append((pattern, account))

    emitted = 0
    for day in itertools.count(-WARM_UP_DAYS):
        scoring = day >= 0
        timeline: list[tuple[float, int, _User, _Event]] = []
        order = 0
        for user in users:
            if user.created_at > (day + 1) * DAY:
                continue
            for event in gen.normal_day(user, day):
                if event.t < user.created_at:
                    continue
                timeline.append((event.t, order, user, event))
                order += 1
        for pattern, victim in plans.get(day, ()):
            if pattern is Pattern.TAKEOVER:
                events = gen.takeover(victim, day)
            elif pattern is Pattern.CARD_TESTING:
                events = gen.card_testing(victim, day, fresh=not victim.history)
            else:
                events = gen.mule(victim, day)
            for event in events:
                timeline.append((event.t, order, victim, event))
                order += 1
        timeline.sort(key=_by_time)
        for _, _, user, event in timeline:
            kind = event.kind
            if kind == _OUT:
                if scoring:
                    yield user.signals(event), event.pattern
                    emitted += 1
                    if emitted >= transfers:
                        return
                user.record(event)
            elif kind == _LOGIN:
                user.login(event.t, new_device=event.new_device, new_location=event.new_location)
            elif kind == _IN:
                user.receive(event.t, event.amount)
            else:
                user.sensitive_change_at = event.t
    # Past STREAM_DAYS (a quiet population) normal days simply continue until enough transfers.


def _by_time(item: tuple[float, int, _User, _Event]) -> tuple[float, int]:
    return item[0], item[1]
