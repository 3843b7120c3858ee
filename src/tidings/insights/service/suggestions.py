"""Sub-wallet suggestions: the user's last 90 days read in a few set-based queries (for one
user, or for every user marketing may reach), the pure rules of `insights.suggestions`
applied to each, and the `insights.suggestions` job's sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select

from tidings.campaigns import events as marketing
from tidings.events import record_events, stored_data
from tidings.insights import repository
from tidings.insights.categories import SpendingCategory
from tidings.insights.schemas import SuggestionEvidence, SuggestionOut, SuggestionsOut
from tidings.insights.service.spending import reader
from tidings.insights.suggestions import (
    FREQUENT,
    MIN_SURPLUS,
    SURPLUS_WINDOWS,
    WINDOW_DAYS,
    Behaviour,
    Spent,
    Suggestion,
    suggest,
)
from tidings.kit.db import transaction_lock
from tidings.kit.money import money

WINDOW = timedelta(days=WINDOW_DAYS)


def behaviours(
    conn: Connection, user_ids: Select[tuple[str]] | str, *, as_of: datetime
) -> dict[str, Behaviour]:
    """The last 90 days of these users who did something the rules look at."""
    start = as_of - WINDOW
    stretch = WINDOW / SURPLUS_WINDOWS
    categories: dict[str, dict[SpendingCategory, Spent]] = {}
    for row in repository.frequent_categories(
        conn,
        user_ids=user_ids,
        categories=[rule.category.value for rule in FREQUENT],
        start=start,
        end=as_of,
    ):
        categories.setdefault(row.user_id, {})[SpendingCategory(row.category)] = Spent(
            int(row.payments), int(row.amount)
        )
    surplus = {
        row.user_id: row
        for row in repository.surpluses(
            conn,
            user_ids=user_ids,
            stretch_starts=[start + stretch * n for n in range(SURPLUS_WINDOWS)],
            end=as_of,
            min_surplus=MIN_SURPLUS,
        )
    }
    purposes: dict[str, set[str]] = {}
    for row in repository.open_purposes(conn, user_ids=user_ids):
        purposes.setdefault(row.user_id, set()).add(row.purpose)
    found: dict[str, Behaviour] = {}
    for user_id in categories.keys() | surplus.keys():
        figures = surplus.get(user_id)
        found[user_id] = Behaviour(
            by_category=categories.get(user_id, {}),
            open_purposes=purposes.get(user_id, set()),
            surplus_stretches=int(figures.stretches) if figures is not None else 0,
            surplus=int(figures.surplus) if figures is not None else 0,
            payments=int(figures.payments) if figures is not None else 0,
        )
    return found


def _out(suggestion: Suggestion, *, locale: str, currency: str) -> SuggestionOut:
    return SuggestionOut(
        purpose=suggestion.purpose,
        reason=suggestion.reason_in(locale),
        evidence=SuggestionEvidence(
            payments=suggestion.payments,
            amount=money(suggestion.amount, currency),
            window_days=suggestion.window_days,
        ),
    )


def user_suggestions(conn: Connection, user_id: str, *, at: datetime) -> SuggestionsOut:
    """`GET /v1/users/{user_id}/suggestions`: what the user's own last 90 days suggest (the
    user's own view; sending them as marketing is the job's, with consent)."""
    who = reader(conn, user_id)
    behaviour = behaviours(conn, user_id, as_of=at).get(user_id)
    found = suggest(behaviour) if behaviour is not None else []
    return SuggestionsOut(items=[_out(s, locale=who.locale, currency=who.currency) for s in found])


def send_suggestions(conn: Connection, *, as_of: datetime) -> dict[str, Any]:
    """The `insights.suggestions` job: each suggestion of each user with marketing consent
    and personalised marketing on, as `marketing.sub_wallet.suggestion` (the planner keeps
    the sending window and caps), at most once per purpose per 90 days. Running the same
    moment again sends nothing twice."""
    transaction_lock(conn, "insights.suggestions")
    found = behaviours(conn, repository.marketable_users(), as_of=as_of)
    recent = repository.recently_suggested(conn, since=as_of - WINDOW)
    due = [
        (user_id, suggestion)
        for user_id, behaviour in found.items()
        for suggestion in suggest(behaviour)
        if (user_id, suggestion.purpose) not in recent
    ]
    profiles = repository.profiles(conn, sorted({user_id for user_id, _ in due}))
    told = []
    for user_id, suggestion in due:
        profile = profiles[user_id]
        shown = _out(suggestion, locale=profile.locale, currency=profile.currency)
        data = marketing.SubWalletSuggestion(
            purpose=shown.purpose,
            reason=shown.reason,
            evidence=shown.evidence.model_dump(mode="json"),
        )
        told.append((user_id, stored_data(data, occurred_at=as_of)))
    record_events(conn, type=marketing.SUB_WALLET_SUGGESTION, at=as_of, events=told)
    repository.mark_suggested(
        conn,
        [{"user_id": user_id, "purpose": s.purpose, "sent_at": as_of} for user_id, s in due],
    )
    return {"users_considered": len(found), "suggestions": len(due)}
