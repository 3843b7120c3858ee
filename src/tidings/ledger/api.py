"""Operator view of the ledger's health."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.reads import Read
from tidings.kit.money import money
from tidings.ledger import service
from tidings.ledger.schemas import AccountBalanceOut, TrialBalanceOut

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


@router.get("/trial-balance", response_model=TrialBalanceOut)
def trial_balance(read: Read) -> TrialBalanceOut:
    """Every account's balance against the sum of its postings, and the totals (all zero)."""
    read.principal.require_operator()
    result = read.run(service.trial_balance)
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
