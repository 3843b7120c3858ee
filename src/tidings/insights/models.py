"""Insights tables: each notice and each reward is claimed by a unique row, so it happens at
most once however many payments, refunds or job runs race for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table
from sqlalchemy.schema import SchemaItem

from tidings.kit.tables import Amount, Id, Timestamp, metadata

budget_spending = Table(
    "budget_spending",
    metadata,
    Column("wallet_id", Id, ForeignKey("wallets.id"), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("spent", Amount, nullable=False),
)
"""What each budgeted sub-wallet's period has spent (payments minus refunds), kept up by one
upsert per payment or refund: the posting path reads its period without summing postings."""


def _level_claims(name: str, scope: Column[Any], *items: SchemaItem) -> Table:
    """A table of levels reached on a sub-wallet within `scope` (a budget period, a goal
    target): inserting the row claims the level, so what it triggers happens once."""
    return Table(
        name,
        metadata,
        Column("wallet_id", Id, ForeignKey("wallets.id"), primary_key=True),
        scope,
        Column("level", String(16), primary_key=True),
        Column("user_id", Id, nullable=False),
        *items,
    )


budget_alerts = _level_claims(
    "budget_alerts",
    Column("period_start", Date, primary_key=True),
    Column("created_at", Timestamp, nullable=False),
)
"""One row per (sub-wallet, budget period, level) reached: the alert went out once."""

goal_milestones = _level_claims(
    "goal_milestones",
    Column("target", Amount, primary_key=True),
    Column("reward", Amount, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_goal_milestones_user_id_created_at", "user_id", "created_at"),
)
"""One row per (sub-wallet, goal target, level) reached, with the reward paid for it (the
yearly cap counts these)."""

suggestions_sent = Table(
    "suggestions_sent",
    metadata,
    Column("user_id", Id, primary_key=True),
    Column("purpose", String(16), primary_key=True),
    Column("sent_at", Timestamp, nullable=False),
)
"""When each purpose was last suggested to each user (at most once per 90 days)."""
