"""Spending views and sub-wallet suggestions over HTTP (a user reaches only their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tidings.api.reads import Read
from tidings.insights.schemas import SpendingBy, SpendingOut, SuggestionsOut
from tidings.insights.service import spending, suggestions
from tidings.kit.clock import CalendarDate

router = APIRouter(prefix="/v1", tags=["insights"])


@router.get("/users/{user_id}/spending", response_model=SpendingOut, response_model_by_alias=True)
def get_spending(
    user_id: str,
    read: Read,
    first: Annotated[
        CalendarDate | None,
        Query(
            alias="from",
            description="First day (YYYY-MM-DD, user's calendar); default: "
            "the first of this month.",
        ),
    ] = None,
    last: Annotated[
        CalendarDate | None,
        Query(alias="to", description="Last day, inclusive; default: today."),
    ] = None,
    by: SpendingBy = SpendingBy.CATEGORY,
) -> SpendingOut:
    """Payments minus their refunds, grouped by category, wallet or month, largest first."""
    read.principal.require_self(user_id)
    return read.run(
        lambda conn: spending.user_spending(
            conn, user_id, first=first, last=last, by=by, at=read.now
        )
    )


@router.get("/users/{user_id}/suggestions", response_model=SuggestionsOut)
def get_suggestions(user_id: str, read: Read) -> SuggestionsOut:
    """Sub-wallets the user's own last 90 days suggest, with the evidence."""
    read.principal.require_self(user_id)
    return read.run(lambda conn: suggestions.user_suggestions(conn, user_id, at=read.now))
