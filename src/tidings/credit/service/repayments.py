"""Repayments from the borrower's wallet — asked for, or debited on the due day — allocated
to penalty, interest and principal, oldest installment first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from tidings.credit import events, repository
from tidings.credit.allocation import Allocation, allocate, payoff_amount
from tidings.credit.exceptions import DrawdownSettled, RepaymentExceedsOwed
from tidings.credit.schemas import (
    Allocated,
    DrawdownStatus,
    InstallmentStatus,
    RepaymentCreate,
    RepaymentOut,
)
from tidings.credit.service import notices
from tidings.credit.service.drawdowns import (
    installment_states,
    loan_terms,
    local_today,
    visible_drawdown,
)
from tidings.kit.ids import new_id
from tidings.kit.money import CurrencyMismatch, money, money_json
from tidings.kit.tables import AnyRow
from tidings.ledger import service as ledger
from tidings.ledger.service import Leg, SystemAccount, system_account_id
from tidings.wallets import accounts


def repay(
    conn: Connection,
    data: RepaymentCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
) -> RepaymentOut:
    """Pay from the borrower's wallet: penalty, interest, principal, oldest first; early
    money re-computes what is left. More than is owed, or more than the wallet has, is
    refused and changes nothing."""
    drawdown = visible_drawdown(conn, data.drawdown_id, acting_user_id, lock=True)
    currency = drawdown.currency
    if drawdown.status == DrawdownStatus.SETTLED:
        raise DrawdownSettled("this drawdown is repaid in full", field="drawdown_id")
    if data.amount.currency != currency:
        raise CurrencyMismatch(f"the loan is in {currency}", field="amount.currency")
    today = local_today(at, drawdown.timezone)
    rows = repository.installments_of(conn, drawdown.id)
    payoff = payoff_amount(installment_states(rows), loan_terms(drawdown), today)
    if data.amount.value > payoff:
        raise RepaymentExceedsOwed(
            f"at most {payoff} minor units settle this loan today",
            field="amount",
            payoff=money_json(payoff, currency),
        )
    wallet = (
        accounts.lock_wallet(conn, data.source, owner=drawdown.user_id, field="source")
        if data.source
        else accounts.lock_main_wallet(conn, drawdown.user_id, field="source")
    )
    if wallet.currency != currency:
        raise CurrencyMismatch(f"the wallet holds {wallet.currency}", field="source")
    return _apply_repayment(
        conn,
        drawdown,
        rows,
        wallet=wallet,
        amount=data.amount.value,
        today=today,
        at=at,
        automatic=False,
    )


def auto_debit(conn: Connection, drawdown_id: str, *, at: datetime) -> int:
    """Repay what is due today from the main wallet the loan was paid into — all of it, or
    what the wallet holds if less; 0 when nothing is due or nothing is there."""
    drawdown = repository.get_drawdown(conn, drawdown_id, lock=True)
    if drawdown is None or drawdown.status != DrawdownStatus.ACTIVE:
        return 0
    today = local_today(at, drawdown.timezone)
    rows = repository.installments_of(conn, drawdown.id)
    owed = sum(s.owed for s in installment_states(rows) if s.due_date <= today)
    if owed <= 0:
        return 0
    wallet = accounts.lock_wallet(conn, drawdown.wallet_id, owner=drawdown.user_id, field="source")
    pay = min(owed, accounts.spendable_balance(conn, wallet.id))
    if pay <= 0:
        return 0
    _apply_repayment(
        conn, drawdown, rows, wallet=wallet, amount=pay, today=today, at=at, automatic=True
    )
    return pay


def _apply_repayment(
    conn: Connection,
    drawdown: AnyRow,
    rows: Sequence[AnyRow],
    *,
    wallet: accounts.WalletAccount,
    amount: int,
    today: date,
    at: datetime,
    automatic: bool,
) -> RepaymentOut:
    """Allocate, post one balanced entry, store the new schedule, and tell the borrower."""
    currency = drawdown.currency
    states = installment_states(rows)
    result = allocate(states, loan_terms(drawdown), amount=amount, today=today)
    repayment_id = new_id("rep")
    legs = [Leg(wallet.account_id, -amount)]
    if result.principal:
        legs.append(
            Leg(
                system_account_id(SystemAccount.CREDIT_RECEIVABLE, currency, spread_by=drawdown.id),
                result.principal,
            )
        )
    if result.interest + result.penalty:
        legs.append(
            Leg(
                system_account_id(SystemAccount.INTEREST_INCOME, currency, spread_by=drawdown.id),
                result.interest + result.penalty,
            )
        )
    posted = ledger.post_entry(
        conn, kind="credit_repayment", reference=repayment_id, currency=currency, legs=legs, at=at
    )
    _store_allocation(conn, drawdown, rows, result, at=at)
    repository.add_outstanding(conn, drawdown.line_id, -result.principal)
    remaining = result.remaining
    repository.insert_repayment(
        conn,
        {
            "id": repayment_id,
            "drawdown_id": drawdown.id,
            "line_id": drawdown.line_id,
            "user_id": drawdown.user_id,
            "wallet_id": wallet.id,
            "currency": currency,
            "amount": amount,
            "penalty": result.penalty,
            "interest": result.interest,
            "principal": result.principal,
            "remaining": remaining,
            "automatic": automatic,
            "entry_id": posted.entry_id,
            "created_at": at,
        },
    )
    allocated = Allocated(
        penalty=money(result.penalty, currency),
        interest=money(result.interest, currency),
        principal=money(result.principal, currency),
    )
    received = events.RepaymentReceived.model_construct(
        drawdown_id=drawdown.id,
        repayment_id=repayment_id,
        amount=money(amount, currency),
        remaining=money(remaining, currency),
        allocated=allocated,
        automatic=automatic,
        occurred_at=at,
    )
    notices.record(conn, events.REPAYMENT_RECEIVED, received, user_id=drawdown.user_id, at=at)
    return RepaymentOut(
        id=repayment_id,
        drawdown_id=drawdown.id,
        amount=money(amount, currency),
        allocated=allocated,
        remaining=money(remaining, currency),
        automatic=automatic,
        created_at=at,
    )


def _store_allocation(
    conn: Connection,
    drawdown: AnyRow,
    rows: Sequence[AnyRow],
    result: Allocation,
    *,
    at: datetime,
) -> None:
    previous = {s.id: s for s in installment_states(rows)}
    statuses = {row.id: row.status for row in rows}
    changes = []
    for state in result.installments:
        if state == previous[state.id]:
            continue
        status = InstallmentStatus.PAID if state.settled else statuses[state.id]
        changes.append(
            {
                "b_id": state.id,
                "principal": state.principal,
                "interest": state.interest,
                "principal_paid": state.principal_paid,
                "interest_paid": state.interest_paid,
                "penalty_paid": state.penalty_paid,
                "status": status,
                "paid_at": at if status == InstallmentStatus.PAID else None,
            }
        )
    repository.update_installments(conn, changes)
    values: dict[str, Any] = {
        "interest_from": result.interest_from,
        "interest_base": result.interest_base,
    }
    if result.remaining == 0:
        values.update(status=DrawdownStatus.SETTLED, settled_at=at)
    repository.update_drawdown(conn, drawdown.id, values)
