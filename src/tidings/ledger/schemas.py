"""API shapes of the ledger checks."""

from __future__ import annotations

from pydantic import BaseModel

from tidings.kit.money import Money


class AccountBalanceOut(BaseModel):
    account_id: str
    kind: str
    user_id: str | None
    balance: Money
    held: Money
    postings_sum: Money
    consistent: bool


class TrialBalanceOut(BaseModel):
    ok: bool
    accounts: list[AccountBalanceOut]
    totals: list[Money]
    unbalanced_entries: list[str]
