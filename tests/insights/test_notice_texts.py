"""Golden texts of every insights notice as our own wallet records it (not sample data), in
zh-CN and en: concise like the reference messages, with the right figures.

After a deliberate change: `TIDINGS_UPDATE_GOLDEN=1 .venv/bin/pytest
tests/insights/test_notice_texts.py`, read the files, commit them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.helpers import create_user
from tests.insights.builders import fix_clock, move_to, sub_wallet
from tests.ledger.builders import cny, pay, top_up, transfer
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.events import outbox
from tidings.kit.db import read_transaction, write_transaction
from tidings.notify.rules import RULES
from tidings.notify.templates import TemplateRenderer
from tidings.notify.types import ChannelName
from tidings.wallets import service as wallets
from tidings.wallets.schemas import Merchant

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TIDINGS_UPDATE_GOLDEN") == "1"
KINDS = (
    "wallet.budget.threshold_reached",
    "wallet.budget.exceeded",
    "wallet.goal.progress",
    "wallet.goal.reached",
    "marketing.sub_wallet.suggestion",
)
HOTEL = Merchant(name="如家酒店", category="7011")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_each_notice_reads_right_in_both_languages(
    client: TestClient, context: AppContext, locale: str, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the texts do not depend on the database")
    context.settings.allow_time_travel = True
    clock = fix_clock(context, 2026, 11, 10, 12)
    user = create_user(client, locale=locale)
    main = user["wallet_id"]
    name = "旅行" if locale == "zh-CN" else "Travel"
    travel = sub_wallet(context, main, name=name, budget=200_000, goal=400_000)
    top_up(context, main, 1_000_000)
    transfer(context, kind="allocation", source=main, destination=travel, amount=cny(250_000))
    pay(context, travel, 164_000)  # 82% of the budget
    pay(context, travel, 40_000)  # 102%
    transfer(context, kind="allocation", source=main, destination=travel, amount=cny(200_000))
    transfer(context, kind="allocation", source=main, destination=travel, amount=cny(200_000))
    for _ in range(3):
        transfer(context, kind="payment", source=main, amount=cny(45_000), merchant=HOTEL)
    with write_transaction(context.engine) as conn:
        wallets.close_sub_wallet(conn, travel, acting_user_id=None, at=context.clock.now())
    client.put(f"/v1/users/{user['id']}/preferences", json={"marketing_consent": {"inbox": True}})
    move_to(clock, 2026, 11, 11, 10)
    run_job(context, "insights.suggestions", context.clock.now())

    with read_transaction(context.engine) as conn:
        rows = conn.execute(
            select(outbox.c.type, outbox.c.data)
            .where(outbox.c.user_id == user["id"], outbox.c.type.in_(KINDS))
            .order_by(outbox.c.id)
        ).all()
    assert sorted(kind for kind, _ in rows) == sorted(KINDS)
    renderer = TemplateRenderer()
    lines = []
    for kind, data in rows:
        for channel in (ChannelName.SMS, ChannelName.INBOX):
            message = renderer.render(
                kind=kind,
                channel=channel,
                locale=locale,
                data=dict(data),
                timezone="Asia/Shanghai",
                category=RULES[kind].category,
                authenticity_code="K7Q2X9",
            )
            title = f"{message.title}: " if message.title else ""
            lines.append(f"{kind} {channel.value}: {title}{message.body}")
    actual = "\n".join(lines) + "\n"
    path = GOLDEN / f"{locale}.txt"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")
