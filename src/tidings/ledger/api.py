"""Operator view of the ledger's health."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.auth import Context, CurrentPrincipal
from tidings.kit.db import read_transaction
from tidings.kit.money import money
from tidings.ledger import service
from tidings.ledger.schemas import AccountBalanceOut, TrialBalanceOut

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


@router.get("/trial-balance", response_model=TrialBalanceOut)
def trial_balance(context: Context, principal: CurrentPrincipal) -> TrialBalanceOut:
    """Every account's balance against the sum of its postings, and the totals (all zero)."""
    principal.require_operator()
    with read_transaction(context.engine) as conn:
        result = service.trial_balance(conn)
    return TrialBalanceOut(
        ok=result.ok,
        accounts=[
            AccountBalanceOut(
                account_id=a.account_id,
                kind=a.kind,
                user_id=a.user_id,
                balance=money(a.balance, a.currency),
                held=money(a.held, a.currency),
                postings_sum=money(a.posted, a.currency),
                consistent=a.consistent,
            )
            for a in result.accounts
        ],
        totals=[money(total, currency) for currency, total in sorted(result.totals.items())],
        unbalanced_entries=result.unbalanced_entries,
    )
