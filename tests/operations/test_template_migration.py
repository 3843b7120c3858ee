"""Migration 0008 on a database written before it: of several active versions of one
template, the newest stays in force and the rule is kept from then on (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from tidings.kit.db import write_transaction
from tidings.kit.migrate import alembic_config, upgrade
from tidings.notify.models import templates


def version(number: int, *, locale: str = "zh-CN") -> dict[str, object]:
    return {
        "id": f"tpl_{locale[:2]}{number:024d}",
        "kind": "wallet.payment.succeeded",
        "channel": "sms",
        "locale": locale,
        "version": number,
        "title": None,
        "body": f"第{number}版。",
        "active": True,
        "created_by": "operator",
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    }


def test_the_newest_of_several_active_versions_stays_in_force(engine: Engine) -> None:
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
        conn.execute(
            insert(templates), [version(1), version(2), version(3), version(1, locale="en")]
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(templates.c.locale, templates.c.version, templates.c.active))
        active = sorted((row.locale, row.version) for row in rows if row.active)
    assert active == [("en", 1), ("zh-CN", 3)]
    with pytest.raises(IntegrityError), write_transaction(engine) as conn:
        conn.execute(insert(templates), version(4))


def test_versions_written_before_the_approval_rule_count_as_approved_and_stay_in_force(
    engine: Engine,
) -> None:
    """Migration 0015: what was live stays live, and every older version may be rolled back
    to; the record says its author approved and activated it when it was written."""
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
        first, second = version(1), version(2)
        first["active"] = False
        conn.execute(insert(templates), [first, second])
    upgrade(engine)
    with engine.connect() as conn:
        rows = {
            row.version: row
            for row in conn.execute(select(templates)).fetchall()
            if row.kind == "wallet.payment.succeeded"
        }
    written = datetime(2026, 11, 1, tzinfo=UTC)
    assert rows[2].active
    assert (rows[2].approved_by, rows[2].activated_by) == ("operator", "operator")
    assert rows[2].approved_at.replace(tzinfo=UTC) == written
    assert (rows[1].approved_by, rows[1].activated_by) == ("operator", None)
