"""The notify benchmark's inbox watcher sees every event's inbox row, whatever order the
workers commit them in (two workers make ids before they commit, and commit in any order)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import select

from tidings.app.context import AppContext
from tidings.app.notify import relay_once
from tidings.bench import notify
from tidings.bench.support import BenchDatabase, make_progress
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.ids import new_id
from tidings.notify import repository
from tidings.notify.models import notifications
from tidings.notify.planner import PlannerPolicy


def _bench_database(context: AppContext) -> BenchDatabase:
    url = context.settings.database_url
    return BenchDatabase(kind="sqlite" if url.startswith("sqlite") else "postgresql", url=url)


def _inbox_row(notification_id: str, user_id: str, *, item_id: str) -> dict[str, object]:
    return {
        "id": item_id,
        "user_id": user_id,
        "notification_id": notification_id,
        "kind": "wallet.payment.succeeded",
        "category": "transactional",
        "title": "付款成功",
        "body": "Bench Coffee ¥12.80",
        "created_at": datetime.now(UTC),
    }


def test_watcher_sees_an_inbox_row_committed_after_a_later_id_was_seen(
    context: AppContext,
) -> None:
    with make_progress(Console(file=io.StringIO())) as progress:
        people = notify._create_users(context, 2, progress=progress, label="test")
    cursor = notify._Cursor(people)
    producer = notify._Producer(context, cursor, events=2, rate=1_000)
    producer.start()
    producer.join()
    relay_once(context, PlannerPolicy())
    with read_transaction(context.engine) as conn:
        query = select(notifications.c.id, notifications.c.user_id, notifications.c.event_id)
        notices = {row.event_id: row for row in conn.execute(query)}
    first, second = (notices[produced.event_id] for produced in producer.produced)
    earlier_id, later_id = new_id("inb"), new_id("inb")

    with notify._watcher_engine(context, _bench_database(context)) as engine:
        watcher = notify._InboxWatcher(engine, producer)
        with write_transaction(context.engine) as conn:
            repository.insert_inbox_items(
                conn, [_inbox_row(second.id, second.user_id, item_id=later_id)]
            )
        watcher.poll()
        with write_transaction(context.engine) as conn:
            repository.insert_inbox_items(
                conn, [_inbox_row(first.id, first.user_id, item_id=earlier_id)]
            )
        watcher.poll()

    assert set(watcher.seen) == {produced.event_id for produced in producer.produced}
