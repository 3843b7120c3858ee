"""Whatever sequence of money movements users make, the books stay right.

A Hypothesis state machine drives the real services on a real database (SQLite and
PostgreSQL) and keeps a plain Python model of every wallet beside it. After every step the
database must agree with the model to the minor unit, the trial balance must be ok, and no
user's wallet may be below zero. A refused movement (not enough money, refund too large,
closed wallet) must change nothing at all: no balance, no transfer, no outbox event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.ledger.builders import (
    assert_trial_balance_ok,
    close_sub_wallet,
    cny,
    events_of,
    new_user,
    open_sub_wallet,
    pay,
    top_up,
    transfer,
    transfer_count,
    wallet_balances_of,
)
from tidings.app.context import AppContext
from tidings.kit.db import read_transaction
from tidings.ledger.exceptions import InsufficientFunds
from tidings.wallets import events
from tidings.wallets.exceptions import RefundExceedsPayment, WalletClosed
from tidings.wallets.schemas import TransferOut

USERS = 2
MAX_OPEN_SUB_WALLETS = 2
amounts = st.integers(min_value=1, max_value=60_000)


@dataclass
class Payment:
    source: str
    user_id: str
    amount: int
    refunded: int = 0

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded


def spend(balance: int, *, threshold: int) -> st.SearchStrategy[int]:
    """Amounts around what a wallet holds: all of it, one unit more, down to the low-balance
    threshold or just below it, or anything up to a little more than the balance."""
    edges = {balance, balance + 1, balance - threshold, balance - threshold + 1}
    return st.one_of(
        st.sampled_from(sorted(e for e in edges if e > 0) or [1]),
        st.integers(min_value=1, max_value=max(1, balance)),
        st.integers(min_value=1, max_value=balance + 5_000),
    )


def test_any_sequence_of_movements_keeps_every_wallet_equal_to_the_model_and_the_books_balanced(
    context: AppContext,
) -> None:
    threshold = context.settings.low_balance_threshold

    class LedgerModel(RuleBasedStateMachine):
        """Fresh users per example, so each example starts from a clean model."""

        def __init__(self) -> None:
            super().__init__()
            self.user_ids: list[str] = []
            self.main_of: dict[str, str] = {}
            self.owner_of: dict[str, str] = {}
            self.balance: dict[str, int] = {}
            self.open_subs: dict[str, list[str]] = {}
            self.closed: list[str] = []
            self.payments: dict[str, Payment] = {}
            self.events: Counter[str] = Counter()
            self.transfers = 0

        @initialize(
            opening=st.lists(
                st.tuples(st.integers(0, 80_000), st.integers(1_000, 20_000)),
                min_size=USERS,
                max_size=USERS,
            )
        )
        def users_with_a_main_and_a_sub_wallet(self, opening: list[tuple[int, int]]) -> None:
            for main_amount, sub_amount in opening:
                user_id, main = new_user(context)
                sub = open_sub_wallet(context, main)
                self.user_ids.append(user_id)
                self.main_of[user_id] = main
                self.open_subs[user_id] = [sub]
                for wallet, amount in ((main, main_amount), (sub, sub_amount)):
                    self.owner_of[wallet] = user_id
                    self.balance[wallet] = 0
                    if amount:
                        self.top_up(wallet, amount)

        # -- helpers ------------------------------------------------------------------------

        def open_wallets(self) -> list[str]:
            return [*self.main_of.values(), *(w for subs in self.open_subs.values() for w in subs)]

        def is_main(self, wallet_id: str) -> bool:
            return wallet_id in self.main_of.values()

        def top_up(self, wallet_id: str, amount: int) -> None:
            top_up(context, wallet_id, amount)
            self.balance[wallet_id] += amount
            self.transfers += 1
            self.events[events.TOP_UP_SUCCEEDED] += 1

        def debit(
            self, wallet_id: str, amount: int, attempt: Callable[[], TransferOut]
        ) -> TransferOut | None:
            """Run a movement out of `wallet_id`; refused (changing nothing) iff it overdraws."""
            before = self.balance[wallet_id]
            if amount > before:
                with pytest.raises(InsufficientFunds):
                    attempt()
                return None
            result = attempt()
            self.balance[wallet_id] = before - amount
            self.transfers += 1
            if self.is_main(wallet_id) and before >= threshold > before - amount:
                self.events[events.BALANCE_LOW] += 1
            return result

        # -- rules --------------------------------------------------------------------------

        @rule(data=st.data(), amount=amounts)
        def top_up_a_wallet(self, data: st.DataObject, amount: int) -> None:
            wallet = data.draw(st.sampled_from(self.open_wallets() + self.closed), label="wallet")
            if wallet in self.closed:
                with pytest.raises(WalletClosed):
                    top_up(context, wallet, amount)
                return
            self.top_up(wallet, amount)

        @rule(data=st.data(), to_a_merchant=st.booleans())
        def pay_a_merchant_or_withdraw_to_a_bank(
            self, data: st.DataObject, to_a_merchant: bool
        ) -> None:
            wallet = data.draw(st.sampled_from(self.open_wallets()), label="wallet")
            amount = data.draw(spend(self.balance[wallet], threshold=threshold), label="amount")
            if to_a_merchant:
                paid = self.debit(wallet, amount, lambda: pay(context, wallet, amount))
                if paid is not None:
                    self.payments[paid.id] = Payment(wallet, self.owner_of[wallet], amount)
                    self.events[events.PAYMENT_SUCCEEDED] += 1
                return
            done = self.debit(
                wallet,
                amount,
                lambda: transfer(context, kind="withdrawal", source=wallet, amount=cny(amount)),
            )
            if done is not None:
                self.events[events.WITHDRAWAL_SUCCEEDED] += 1

        @rule(data=st.data())
        def send_to_another_user(self, data: st.DataObject) -> None:
            sender, receiver = data.draw(
                st.permutations(self.user_ids).map(lambda users: users[:2]), label="users"
            )
            source, destination = self.main_of[sender], self.main_of[receiver]
            amount = data.draw(spend(self.balance[source], threshold=threshold), label="amount")
            sent = self.debit(
                source,
                amount,
                lambda: transfer(
                    context, kind="p2p", source=source, destination=destination, amount=cny(amount)
                ),
            )
            if sent is not None:
                self.balance[destination] += amount
                self.events[events.TRANSFER_SENT] += 1
                self.events[events.TRANSFER_RECEIVED] += 1

        @precondition(lambda self: any(self.open_subs.values()))
        @rule(data=st.data(), into_sub=st.booleans())
        def move_between_main_and_sub(self, data: st.DataObject, into_sub: bool) -> None:
            user = data.draw(st.sampled_from([u for u, s in self.open_subs.items() if s]))
            sub = data.draw(st.sampled_from(self.open_subs[user]), label="sub_wallet")
            source, destination = (
                (self.main_of[user], sub) if into_sub else (sub, self.main_of[user])
            )
            amount = data.draw(spend(self.balance[source], threshold=threshold), label="amount")
            moved = self.debit(
                source,
                amount,
                lambda: transfer(
                    context,
                    kind="allocation",
                    source=source,
                    destination=destination,
                    amount=cny(amount),
                ),
            )
            if moved is not None:
                self.balance[destination] += amount
                self.events[events.ALLOCATION_SUCCEEDED] += 1

        @precondition(lambda self: bool(self.payments))
        @rule(data=st.data())
        def refund_part_of_a_payment(self, data: st.DataObject) -> None:
            # Often one paid from a since-closed sub-wallet: its refund must land in main.
            from_closed = sorted(p for p, v in self.payments.items() if v.source in self.closed)
            payment_id = data.draw(
                st.one_of(
                    st.sampled_from(sorted(self.payments)),
                    *([st.sampled_from(from_closed)] if from_closed else []),
                ),
                label="payment",
            )
            payment = self.payments[payment_id]
            left = payment.refundable
            amount = data.draw(
                st.one_of(
                    st.integers(min_value=1, max_value=max(1, left)),
                    st.integers(min_value=left + 1, max_value=left + 10_000),
                ),
                label="amount",
            )

            def attempt() -> TransferOut:
                return transfer(context, kind="refund", refund_of=payment_id, amount=cny(amount))

            if amount > left:
                with pytest.raises(RefundExceedsPayment):
                    attempt()
                return
            refund = attempt()
            # The money goes back to the wallet that paid, or to main if that one was closed.
            expected = payment.source
            if expected in self.closed:
                expected = self.main_of[payment.user_id]
            assert refund.destination == expected
            payment.refunded += amount
            self.balance[expected] += amount
            self.transfers += 1
            self.events[events.REFUND_SUCCEEDED] += 1

        @precondition(
            lambda self: any(len(s) < MAX_OPEN_SUB_WALLETS for s in self.open_subs.values())
        )
        @rule(data=st.data())
        def open_a_sub_wallet(self, data: st.DataObject) -> None:
            user = data.draw(
                st.sampled_from(
                    [u for u, s in self.open_subs.items() if len(s) < MAX_OPEN_SUB_WALLETS]
                )
            )
            wallet = open_sub_wallet(context, self.main_of[user])
            self.open_subs[user].append(wallet)
            self.owner_of[wallet] = user
            self.balance[wallet] = 0

        @precondition(lambda self: any(self.open_subs.values()))
        @rule(data=st.data())
        def close_a_sub_wallet(self, data: st.DataObject) -> None:
            user = data.draw(st.sampled_from([u for u, s in self.open_subs.items() if s]))
            sub = data.draw(st.sampled_from(self.open_subs[user]), label="sub_wallet")
            close_sub_wallet(context, sub)
            left = self.balance[sub]
            self.balance[self.main_of[user]] += left
            self.balance[sub] = 0
            self.open_subs[user].remove(sub)
            self.closed.append(sub)
            self.transfers += 1 if left else 0
            self.events[events.SUB_WALLET_CLOSED] += 1

        # -- invariants ---------------------------------------------------------------------

        @invariant()
        def the_books_agree_with_the_model(self) -> None:
            """Checked after every step, in one read transaction."""
            if not self.user_ids:
                return
            with read_transaction(context.engine) as conn:
                # Every wallet holds exactly what the model says (nothing is ever on hold
                # here, so all of a balance is available).
                stored = wallet_balances_of(conn, self.user_ids)
                assert stored == {wallet: (b, b) for wallet, b in self.balance.items()}
                # Each success left one transfer and its events; a refusal left none.
                assert transfer_count(conn, self.user_ids) == self.transfers
                assert events_of(conn, self.user_ids) == +self.events
                # Balances equal their postings, everything sums to zero, none below zero.
                assert_trial_balance_ok(conn)

    run_state_machine_as_test(
        LedgerModel,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
