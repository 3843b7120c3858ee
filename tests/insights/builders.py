"""Builders for insights tests: users with budgeted and goal sub-wallets, through the service
layer; what the outbox says they were told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.ledger.builders import cny
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.wallets import service as wallets
from tidings.wallets.schemas import BudgetIn, GoalIn, Purpose, SubWalletCreate

SHANGHAI = ZoneInfo("Asia/Shanghai")


def fix_clock(context: AppContext, *args: int, zone: ZoneInfo = SHANGHAI) -> FixedClock:
    """Stop the context's clock at a local moment (and keep it for moving on)."""
    clock = FixedClock(datetime(*args, tzinfo=zone).astimezone(UTC))
    context.clock = clock
    return clock


def move_to(clock: FixedClock, *args: int, zone: ZoneInfo = SHANGHAI) -> None:
    clock.at = datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def sub_wallet(
    context: AppContext,
    main_wallet_id: str,
    *,
    name: str = "旅行",
    purpose: Purpose = Purpose.TRAVEL,
    budget: int | None = None,
    period: str = "month",
    alert_percent: int = 80,
    goal: int | None = None,
) -> str:
    data = SubWalletCreate(
        name=name,
        purpose=purpose,
        budget=BudgetIn(limit=cny(budget), period=period, alert_percent=alert_percent)  # type: ignore[arg-type]
        if budget
        else None,
        goal=GoalIn(target=cny(goal)) if goal else None,
    )

    def attempt() -> str:
        with write_transaction(context.engine) as conn:
            return wallets.open_sub_wallet(
                conn,
                parent_wallet_id=main_wallet_id,
                data=data,
                acting_user_id=None,
                at=context.clock.now(),
            ).id

    return with_retry(attempt)


def told(context: AppContext, user_id: str, event_type: str) -> list[dict[str, Any]]:
    """The data of every event of this type recorded for the user, oldest first."""
    stmt = (
        select(outbox.c.data)
        .where(outbox.c.user_id == user_id, outbox.c.type == event_type)
        .order_by(outbox.c.id)
    )
    with read_transaction(context.engine) as conn:
        return [dict(data) for data in conn.execute(stmt).scalars()]
