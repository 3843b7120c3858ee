"""`tidings demo`: realistic zh-CN demo users with sub-wallets and weeks of activity.

Everything goes through the service layer, so the demo data is exactly what the API would
have written: balanced ledger entries, outbox events, masked personal data. The plan is
drawn from a seeded `random.Random`, so two runs with the same numbers look alike; external
ids carry a per-run suffix, so the demo can be run again on the same database.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection

from tidings.app.context import AppContext
from tidings.insights.jobs import run_suggestions
from tidings.kit.db import retried_write, write_transaction
from tidings.kit.errors import AppError
from tidings.kit.money import Money, PositiveMoney, format_money
from tidings.notify.preferences import record_consent
from tidings.notify.types import ChannelName
from tidings.privacy.crypto import Keyring
from tidings.risk.stepup import UNSCORED
from tidings.users import service as users
from tidings.users.schemas import UserCreate, UserOut
from tidings.wallets import service as wallets
from tidings.wallets.schemas import (
    BudgetIn,
    GoalIn,
    Merchant,
    Purpose,
    SubWalletCreate,
    TransferCreate,
    TransferKind,
)

SEED = 20_241_124
"""The plan's seed: the same numbers give the same story (names, merchants, amounts)."""

# Common names first, so a small demo shows the names everyone expects.
_NAMES: list[tuple[str, str]] = [
    ("王芳", "wang.fang"),
    ("李伟", "li.wei"),
    ("张静", "zhang.jing"),
    ("刘洋", "liu.yang"),
    ("陈晨", "chen.chen"),
    ("杨帆", "yang.fan"),
    ("赵磊", "zhao.lei"),
    ("黄丽娟", "huang.lijuan"),
    ("周杰", "zhou.jie"),
    ("吴敏", "wu.min"),
    ("徐志强", "xu.zhiqiang"),
    ("孙悦", "sun.yue"),
    ("欧阳娜娜", "ouyang.nana"),
    ("马超", "ma.chao"),
    ("朱琳", "zhu.lin"),
    ("胡建军", "hu.jianjun"),
]
_SURNAMES: list[tuple[str, str]] = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("罗", "luo"),
    ("高", "gao"),
]
_GIVEN: list[tuple[str, str]] = [
    ("秀英", "xiuying"),
    ("桂英", "guiying"),
    ("建华", "jianhua"),
    ("婷", "ting"),
    ("俊", "jun"),
    ("娜", "na"),
    ("峰", "feng"),
    ("丹", "dan"),
    ("明", "ming"),
    ("雪", "xue"),
    ("浩然", "haoran"),
    ("子涵", "zihan"),
    ("欣怡", "xinyi"),
    ("宇航", "yuhang"),
    ("佳怡", "jiayi"),
    ("磊", "lei"),
]
_MAIL_DOMAINS = ["example.com", "example.cn", "example.net"]
# Mobile prefixes of the three carriers (China Mobile, China Unicom, China Telecom).
_MOBILE_PREFIXES = ["134", "135", "138", "139", "150", "158", "187", "130", "186", "133", "189"]


@dataclass(frozen=True)
class _Shop:
    name: str
    mcc: str
    low: int
    """Cheapest ticket, in fen."""
    high: int
    step: int = 1
    """Prices are multiples of this many fen (a coffee costs whole yuan, a taxi any fen)."""
    weight: int = 1

    def price(self, rng: random.Random) -> int:
        return rng.randint(self.low // self.step, self.high // self.step) * self.step


# Everyday spending from the main wallet, with ISO 18245 merchant category codes.
_EVERYDAY = [
    _Shop("星巴克", "5814", 2800, 6800, 100, weight=3),
    _Shop("瑞幸咖啡", "5814", 990, 2900, 10, weight=3),
    _Shop("美团外卖", "5812", 1800, 8800, 10, weight=5),
    _Shop("饿了么", "5812", 1500, 6500, 10, weight=2),
    _Shop("滴滴出行", "4121", 1200, 8500, weight=3),
    _Shop("盒马鲜生", "5411", 3500, 32000, 10, weight=3),
    _Shop("全家便利店", "5499", 800, 4500, 10, weight=2),
    _Shop("上海地铁", "4111", 300, 900, 100, weight=3),
    _Shop("肯德基", "5814", 2500, 7500, 50, weight=1),
    _Shop("海底捞", "5812", 15000, 45000, 100, weight=1),
    _Shop("万达影城", "7832", 3500, 12000, 100, weight=1),
    _Shop("京东", "5732", 5900, 129900, 100, weight=1),
    _Shop("优衣库", "5651", 7900, 49900, 100, weight=1),
]
_EVERYDAY_WEIGHTS = [shop.weight for shop in _EVERYDAY]
_REFUNDABLE = {"盒马鲜生", "京东", "优衣库"}
_PHONE_BILL = _Shop("中国移动", "4814", 5000, 20000, 5000)
_POWER_BILL = _Shop("国家电网", "4900", 8000, 30000, 10)
_TRAIN = _Shop("12306铁路", "4112", 15000, 55300, 50)
_HOTEL = _Shop("汉庭酒店", "7011", 19900, 45900, 100)
_TAXI = _Shop("滴滴出行", "4121", 1500, 6000)
_FLIGHT = _Shop("东方航空", "4511", 45000, 128000, 100)
_TRIP_HOTEL = _Shop("携程旅行", "4722", 30000, 90000, 100)
SHOWCASE = 0
"""The user whose token the demo prints: near the travel budget's limit this month (the 80%
and the 100% notices) and half-way to the savings goal."""
TRAVELLER_FROM = 2
"""With three users or more, the last one is a traveller who is suggested a travel
sub-wallet (marketing consent given, the `insights.suggestions` job run at the end)."""
_P2P_MEMOS = ["AA 聚餐", "还你的电影票钱", "生日红包", "房租分摊", "代买咖啡"]


@dataclass(frozen=True)
class _DemoUser:
    user: UserOut
    tz: ZoneInfo
    travel_id: str
    savings_id: str
    budget_limit: int
    goal_target: int


_Run = Callable[[Connection, Keyring, datetime], None]
"""One step of the plan: make a transfer in the given transaction at the given moment."""


@dataclass(frozen=True)
class _Step:
    at: datetime
    kind: str
    run: _Run


@dataclass
class _Tally:
    done: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def _phone(rng: random.Random) -> str:
    """A valid mainland China mobile number (11 digits)."""
    while True:
        number = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
            return number


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    """A zh-CN name and the pinyin for an email address."""
    if index < len(_NAMES):
        return _NAMES[index]
    surname, surname_py = rng.choice(_SURNAMES)
    given, given_py = rng.choice(_GIVEN)
    return surname + given, f"{surname_py}.{given_py}"


def _run_tag() -> str:
    """A suffix that differs on every run: the wall-clock time to the microsecond.

    Not the context's clock: that one may stand still (tests, rehearsals), and the demo must
    still be able to run twice.
    """
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def create_demo_data(context: AppContext, *, users: int, days: int, console: Console) -> None:
    """Create `users` demo users with sub-wallets and `days` days of activity up to now."""
    if users < 1 or days < 1:
        raise ValueError("users and days must both be at least 1")
    rng = random.Random(SEED)
    now = context.clock.now()
    start = now - timedelta(days=days)
    tag = _run_tag()
    currency = context.settings.default_currency
    tally = _Tally()

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("users and sub-wallets", total=users)
        people: list[_DemoUser] = []
        for index in range(users):
            people.append(_create_user(context, rng, index, tag=tag, at=start))
            progress.advance(task)

        if len(people) > TRAVELLER_FROM:
            _consent_to_offers(context, people[-1], at=start)
        steps = _plan(rng, people, start=start, now=now, currency=currency)
        task = progress.add_task(f"transfers over {days} days", total=len(steps))
        for step in steps:
            _execute(context, step, tally)
            progress.advance(task)
        tally.done["suggestion"] += int(run_suggestions(context.engine, as_of=now)["suggestions"])

    _report(context, people, tally, now=now, console=console)


def _consent_to_offers(context: AppContext, person: _DemoUser, *, at: datetime) -> None:
    """The traveller agreed to offers in the app inbox (a consent-ledger row)."""
    with write_transaction(context.engine) as conn:
        record_consent(
            conn,
            user_id=person.user.id,
            channel=ChannelName.INBOX,
            granted=True,
            method="import",
            actor="demo",
            evidence="tidings demo",
            at=at,
        )


def _create_user(
    context: AppContext, rng: random.Random, index: int, *, tag: str, at: datetime
) -> _DemoUser:
    """A user with a main wallet, a travel sub-wallet (monthly budget) and a savings goal."""
    name, pinyin = _person(rng, index)
    timezone = "Asia/Shanghai"
    data = UserCreate.model_validate(
        {
            "external_id": f"demo-{tag}-{index + 1:03d}",
            "name": name,
            "phone": _phone(rng),
            "email": f"{pinyin}{rng.randint(1, 99)}@{rng.choice(_MAIL_DOMAINS)}",
            "locale": "zh-CN",
            "timezone": timezone,
        }
    )
    currency = context.settings.default_currency
    travel = SubWalletCreate(
        name=rng.choice(["旅行", "春节回家", "国庆出游"]),
        purpose=Purpose.TRAVEL,
        budget=BudgetIn(
            limit=PositiveMoney(value=rng.choice([200_000, 300_000, 500_000]), currency=currency),
            period="month",
        ),
    )
    goal_by = at + timedelta(days=rng.choice([90, 180, 365]))
    savings = SubWalletCreate(
        name=rng.choice(["存钱罐", "应急金", "买房基金"]),
        purpose=Purpose.SAVINGS,
        goal=GoalIn(
            target=PositiveMoney(
                value=rng.choice([1_000_000, 2_000_000, 5_000_000]), currency=currency
            ),
            by=goal_by.astimezone(ZoneInfo(timezone)).date(),
        ),
    )

    def open_wallets(conn: Connection) -> _DemoUser:
        user = wallets.create_user_with_wallet(
            conn, context.keyring, data, at=at, **context.user_defaults()
        )
        opened = [
            wallets.open_sub_wallet(
                conn,
                parent_wallet_id=user.wallet_id,
                data=sub,
                acting_user_id=None,
                at=at + timedelta(minutes=minutes),
            )
            for minutes, sub in ((2, travel), (3, savings))
        ]
        return _DemoUser(
            user=user,
            tz=ZoneInfo(user.timezone),
            travel_id=opened[0].id,
            savings_id=opened[1].id,
            budget_limit=travel.budget.limit.value if travel.budget else 0,
            goal_target=savings.goal.target.value if savings.goal else 0,
        )

    return retried_write(context.engine, open_wallets)


class _Planner:
    """Collects the steps of the plan; moments outside (start, now) are dropped."""

    def __init__(self, *, start: datetime, now: datetime, currency: str) -> None:
        self.start, self.now, self.currency = start, now, currency
        self.steps: list[_Step] = []

    def _add(self, at: datetime, kind: str, run: _Run) -> bool:
        if not self.start < at < self.now - timedelta(minutes=1):
            return False
        self.steps.append(_Step(at=at, kind=kind, run=run))
        return True

    def _money(self, value: int) -> PositiveMoney:
        return PositiveMoney(value=value, currency=self.currency)

    def top_up(self, at: datetime, wallet: str, value: int, memo: str) -> None:
        data = TransferCreate(
            kind=TransferKind.TOP_UP, destination=wallet, amount=self._money(value), memo=memo
        )
        self._add(at, "top_up", _transfer(data))

    def allocate(self, at: datetime, source: str, destination: str, value: int, memo: str) -> None:
        self._between(at, TransferKind.ALLOCATION, source, destination, value, memo)

    def _between(
        self, at: datetime, kind: TransferKind, source: str, destination: str, value: int, memo: str
    ) -> None:
        """Money from one wallet to another: between a user's own wallets, or to another user."""
        data = TransferCreate(
            kind=kind, source=source, destination=destination, amount=self._money(value), memo=memo
        )
        self._add(at, kind.value, _transfer(data))

    def pay(
        self,
        at: datetime,
        wallet: str,
        shop: _Shop,
        value: int,
        *,
        memo: str | None = None,
        remember: _Made | None = None,
    ) -> bool:
        data = TransferCreate(
            kind=TransferKind.PAYMENT,
            source=wallet,
            amount=self._money(value),
            merchant=Merchant(name=shop.name, category=shop.mcc),
            memo=memo,
        )
        return self._add(at, "payment", _transfer(data, remember=remember))

    def refund(self, at: datetime, payment: _Made, percent: int) -> bool:
        return self._add(at, "refund", _refund(payment, percent=percent, currency=self.currency))

    def p2p(self, at: datetime, source: str, destination: str, value: int, memo: str) -> None:
        self._between(at, TransferKind.P2P, source, destination, value, memo)

    def close(self, at: datetime, wallet: str) -> None:
        def run(conn: Connection, keyring: Keyring, at: datetime) -> None:
            wallets.close_sub_wallet(conn, wallet, acting_user_id=None, at=at)

        self._add(at, "close", run)

    def withdraw(self, at: datetime, wallet: str, value: int) -> None:
        data = TransferCreate(
            kind=TransferKind.WITHDRAWAL,
            source=wallet,
            amount=self._money(value),
            memo="提现到银行卡",
        )
        self._add(at, "withdrawal", _transfer(data))


def _plan(
    rng: random.Random, people: list[_DemoUser], *, start: datetime, now: datetime, currency: str
) -> list[_Step]:
    """Every transfer of every user, in time order."""
    plan = _Planner(start=start, now=now, currency=currency)
    days = (now - start).days

    def local(person: _DemoUser, day: int, earliest: int, latest: int) -> datetime:
        """A moment on day `day` of the demo between two local hours."""
        local_day: date = start.astimezone(person.tz).date() + timedelta(days=day)
        second = rng.randint(earliest * 3600, latest * 3600 - 1)
        moment = datetime.combine(local_day, time(0), tzinfo=person.tz)
        # In UTC: SQLite keeps the wall time of an aware datetime and drops its offset.
        return (moment + timedelta(seconds=second)).astimezone(UTC)

    for index, person in enumerate(people):
        main, travel, savings = person.user.wallet_id, person.travel_id, person.savings_id

        # Pay day first, then money set aside for a trip.
        opening = start + timedelta(minutes=5 + index)
        plan.top_up(opening, main, rng.randrange(800_000, 2_500_000, 10_000), "工资")
        budget = rng.choice([200_000, 250_000, 300_000])
        plan.allocate(opening + timedelta(minutes=10), main, travel, budget, "旅行预算")
        for day in range(0, days + 1, 30):
            if day:
                salary = rng.randrange(800_000, 2_500_000, 10_000)
                plan.top_up(local(person, day, 9, 10), main, salary, "工资")
            bill_day = day + rng.randint(1, 10)
            phone_bill = _PHONE_BILL.price(rng)
            plan.pay(
                local(person, bill_day, 19, 22), main, _PHONE_BILL, phone_bill, memo="话费充值"
            )
            power_bill = _POWER_BILL.price(rng)
            plan.pay(
                local(person, bill_day + 2, 19, 22), main, _POWER_BILL, power_bill, memo="电费"
            )

        refund_planned = index > 0 and rng.random() < 0.4  # some users never ask for one
        for day in range(days + 1):
            for _ in range(rng.choices([0, 1, 2, 3], weights=[1, 3, 4, 2])[0]):
                shop = rng.choices(_EVERYDAY, weights=_EVERYDAY_WEIGHTS)[0]
                at = local(person, day, 7, 22)
                made = _Made()
                paid = plan.pay(at, main, shop, shop.price(rng), remember=made)
                if paid and shop.name in _REFUNDABLE and not refund_planned:
                    # Part of the basket goes back: a return, or an item out of stock.
                    later = at + timedelta(minutes=rng.randint(30, 48 * 60))
                    refund_planned = plan.refund(later, made, rng.choice([20, 35, 50]))
            if day % 7 == 3 and index != SHOWCASE:
                saved = rng.randrange(30_000, 150_000, 10_000)
                plan.allocate(local(person, day, 20, 23), main, savings, saved, "每周存一点")

        traveller = index == len(people) - 1 and index >= TRAVELLER_FROM
        if index == SHOWCASE:
            _showcase(plan, person, now=now)
        if index == SHOWCASE + 1:  # a goal reached, and its reward
            plan.top_up(now - timedelta(minutes=58), main, person.goal_target, "年终奖")
            plan.allocate(now - timedelta(minutes=40), main, savings, person.goal_target, "存满")
        if index != SHOWCASE:
            # A short trip, paid from the travel sub-wallet (the traveller's comes early).
            trip = rng.randint(0, max(0, days // 3 if traveller else days - 3))
            plan.pay(
                local(person, trip, 8, 10), travel, _TRAIN, _TRAIN.price(rng), memo="高铁二等座"
            )
            for night in range(rng.randint(1, 2)):
                plan.pay(local(person, trip + night, 21, 23), travel, _HOTEL, _HOTEL.price(rng))
            plan.pay(local(person, trip + 1, 10, 18), travel, _TAXI, _TAXI.price(rng))
            if traveller:
                # Back home the sub-wallet is closed; the trips go on, paid from the main
                # wallet: the behaviour a travel sub-wallet suggestion is drawn from.
                plan.close(local(person, trip + 2, 22, 23), travel)
                for day, shop in ((trip + 3, _FLIGHT), (trip + 4, _TRIP_HOTEL)):
                    plan.pay(local(person, min(day, days), 8, 12), main, shop, shop.price(rng))

        # Money between friends, and now and then cash out to the bank card.
        others = [other for other in people if other is not person]
        for _ in range(rng.randint(1, 3) if others else 0):
            friend = rng.choice(others).user.wallet_id
            value = rng.randrange(2_000, 60_000, 100)
            at = local(person, rng.randint(0, days), 12, 22)
            plan.p2p(at, main, friend, value, rng.choice(_P2P_MEMOS))
        if index % 2 == 0:
            at = local(person, rng.randint(days // 2, days), 10, 17)
            plan.withdraw(at, main, rng.randrange(100_000, 400_000, 10_000))

    return sorted(plan.steps, key=lambda step: step.at)


def _showcase(plan: _Planner, person: _DemoUser, *, now: datetime) -> None:
    """The last hour before `now`: a year-end bonus, a trip booked from the travel sub-wallet
    that takes its month past 80% and then past its limit, and savings half-way to the goal."""
    main, travel, savings = person.user.wallet_id, person.travel_id, person.savings_id
    limit, target = person.budget_limit, person.goal_target
    plan.top_up(now - timedelta(minutes=55), main, 2 * limit + target, "年终奖")
    plan.allocate(now - timedelta(minutes=50), main, travel, 2 * limit, "旅行预算")
    plan.allocate(now - timedelta(minutes=45), main, savings, target * 11 // 20, "存一笔")
    plan.pay(now - timedelta(minutes=30), travel, _TRIP_HOTEL, limit * 41 // 50, memo="酒店预订")
    plan.pay(now - timedelta(minutes=15), travel, _FLIGHT, limit // 4, memo="机票")


@dataclass
class _Made:
    """Filled in with the transfer's id once a planned payment has been made."""

    transfer_id: str | None = None


def _transfer(data: TransferCreate, *, remember: _Made | None = None) -> _Run:
    """A step that makes this transfer (with the operator's rights, as a back office would).

    The demo imports a month of genuine history, so the risk check is off."""

    def run(conn: Connection, keyring: Keyring, at: datetime) -> None:
        made = wallets.create_transfer(
            conn, keyring, data, acting_user_id=None, at=at, step_up=UNSCORED
        )
        if remember is not None and made.status == "succeeded":
            remember.transfer_id = made.id

    return run


def _refund(payment: _Made, *, percent: int, currency: str) -> _Run:
    """A partial refund of a payment made earlier in the plan (skipped if it never happened)."""

    def run(conn: Connection, keyring: Keyring, at: datetime) -> None:
        if payment.transfer_id is None:
            raise _Skip("the payment to refund was not made")
        paid = wallets.get_transfer(
            conn, keyring, payment.transfer_id, acting_user_id=None
        ).amount.value
        data = TransferCreate(
            kind=TransferKind.REFUND,
            refund_of=payment.transfer_id,
            amount=PositiveMoney(value=max(1, paid * percent // 100), currency=currency),
            memo="部分退款",
        )
        wallets.create_transfer(conn, keyring, data, acting_user_id=None, at=at)

    return run


class _Skip(Exception):
    """A step that cannot happen given what happened before it (not an error)."""


def _execute(context: AppContext, step: _Step, tally: _Tally) -> None:
    try:
        retried_write(context.engine, lambda conn: step.run(conn, context.keyring, step.at))
    except AppError as exc:
        # The plan does not track balances: a step the money no longer covers is left out.
        tally.skipped[f"{step.kind} ({exc.title.lower()})"] += 1
    except _Skip:
        tally.skipped[f"{step.kind} (depends on a skipped step)"] += 1
    else:
        tally.done[step.kind] += 1


def _report(
    context: AppContext, people: list[_DemoUser], tally: _Tally, *, now: datetime, console: Console
) -> None:
    table = Table(title="Demo users (personal data masked, as the API shows it)")
    for column in ("user", "wallet", "wallet id", "balance"):
        table.add_column(column, overflow="fold")
    table.columns[-1].justify = "right"
    with write_transaction(context.engine) as conn:
        for person in people:
            user = person.user
            for position, wallet_id in enumerate(
                (user.wallet_id, person.travel_id, person.savings_id)
            ):
                wallet = wallets.get_wallet(conn, wallet_id, acting_user_id=None, at=now)
                who = (
                    f"{user.name}  {user.id}",
                    f"external id {user.external_id}",
                    "",
                )[position]
                label = "main" if wallet.kind == "main" else f"{wallet.name} ({wallet.purpose})"
                table.add_row(
                    who, label, wallet.id, _money(wallet.balance), end_section=position == 2
                )
        first = people[0].user
        token = users.issue_token(
            conn, first.id, at=now, ttl=timedelta(days=context.settings.token_ttl_days)
        )
    console.print(table)
    made = ", ".join(f"{count} {kind}" for kind, count in sorted(tally.done.items()))
    console.print(f"[green]created[/green] {made}")
    if tally.skipped:
        skipped = ", ".join(f"{count} {kind}" for kind, count in sorted(tally.skipped.items()))
        console.print(f"[yellow]skipped[/yellow] {skipped}")
    base = f"http://{context.settings.host}:{context.settings.port}"
    console.print(
        f"\nA user token for {first.name} ({first.id}), valid until "
        f"{token.expires_at:%Y-%m-%d}:\n\n  {token.token}\n\nTry it:\n\n"
        f"  curl -s -H 'Authorization: Bearer {token.token}' \\\n"
        f"    '{base}/v1/wallets/{first.wallet_id}/transactions?limit=5'\n",
        soft_wrap=True,
        highlight=False,
    )


def _money(amount: Money) -> str:
    return format_money(amount.value, amount.currency)
