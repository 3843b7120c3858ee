"""`tidings demo` shows every insights notice: a budget past 80% and past its limit and a
goal half-way (the user whose token it prints), a goal reached with its reward, and a
traveller suggested a travel sub-wallet."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import select

from tidings.app.context import AppContext
from tidings.cli.demo import create_demo_data
from tidings.events import outbox
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.ledger import service as ledger
from tidings.users.models import users
from tidings.wallets.models import transfers


def test_demo_users_meet_every_insights_notice(context: AppContext) -> None:
    fixed = dataclasses.replace(context, clock=FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC)))
    create_demo_data(fixed, users=3, days=10, console=Console(file=io.StringIO()))
    with read_transaction(context.engine) as conn:
        order = list(conn.execute(select(users.c.id).order_by(users.c.created_at, users.c.id)))
        ids = [row.id for row in order]
        told: dict[str, Counter[str]] = {user_id: Counter() for user_id in ids}
        for user_id, kind in conn.execute(select(outbox.c.user_id, outbox.c.type)):
            if user_id in told:
                told[user_id][kind] += 1
        rewards = conn.execute(select(transfers.c.id).where(transfers.c.kind == "reward")).all()
        assert ledger.trial_balance(conn).ok
    first, second, traveller = ids
    assert told[first]["wallet.budget.threshold_reached"] == 1
    assert told[first]["wallet.budget.exceeded"] == 1
    assert told[first]["wallet.goal.progress"] == 1
    assert told[second]["wallet.goal.reached"] == 1
    assert len(rewards) == 1
    assert told[traveller]["marketing.sub_wallet.suggestion"] == 1
