"""One row per transfer kind: the fields it needs and refuses, who may make it, how its two
wallets relate, the account outside the wallets its money comes from or goes to, whether the
risk rules score it, and the events it records. `create_transfer` and the posting read this
table; nothing else branches on the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Final

from tidings.ledger.service import SystemAccount
from tidings.wallets import events
from tidings.wallets.events import WalletEvent
from tidings.wallets.exceptions import InvalidTransfer, OperatorOnly
from tidings.wallets.repository import LockedWallet
from tidings.wallets.schemas import TransferCreate, TransferKind


class Side(StrEnum):
    """One of a transfer's two wallets."""

    SOURCE = "source"
    """The wallet the money leaves."""
    DESTINATION = "destination"
    """The wallet the money reaches."""


class Parties(StrEnum):
    """How a transfer between two wallets must join them."""

    ANOTHER_USERS_MAIN = "another_users_main"
    """To another user's main wallet (p2p)."""
    OWN_MAIN_AND_SUB = "own_main_and_sub"
    """Between one user's main wallet and one of their sub-wallets (allocation)."""


class Detail(StrEnum):
    """What an event says beyond the amount and the transfer's id."""

    WALLET = "wallet"
    """Its wallet and the balance after (`wallet_id`, `balance_after`)."""
    MERCHANT = "merchant"
    """The merchant paid or refunding."""
    COUNTERPARTY = "counterparty"
    """The other wallet's owner, by (masked) name."""
    REFUND_OF = "refund_of"
    """The payment a refund gives back."""
    BOTH_WALLETS = "both_wallets"
    """Both wallets, between one user's own (`source_wallet_id`, `destination_wallet_id`)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One event a posted transfer records, for the owner of one of its wallets."""

    event_type: str
    data: type[WalletEvent]
    to: Side
    says: tuple[Detail, ...]


@dataclass(frozen=True)
class KindRule:
    """Everything that differs between transfer kinds, as data."""

    needs: tuple[str, ...]
    """Fields that must be given, checked in this order."""
    refuses: tuple[str, ...]
    """Fields that must be absent, checked in this order."""
    own: frozenset[str]
    """Wallet fields that must name the acting user's own wallets (a stranger's are 'not
    found')."""
    operator_only: str | None
    """Why a user's own token may not make it (only the company's backend may); None: anyone."""
    outside: SystemAccount | None
    """The system account on the other side of the entry; None between two wallets."""
    scored: bool
    """Money leaving the user: the risk rules assess it first."""
    notices: tuple[Notice, ...]
    parties: Parties | None = None
    refunds_payment: bool = False
    """Its wallet is the one that paid the payment it refunds (`refund_of`), not a field."""
    refundable: bool = False
    """It can be refunded, so it counts what has been (`refunded`)."""
    budget_side: Side | None = None
    """The wallet whose budget it spends (or gives back): its period is re-computed."""
    goal_side: Side | None = None
    """The wallet it saves into: its goal, if any, is compared with the balance after."""
    internal: str | None = None
    """Why nobody may request it (Tidings makes it itself); None: it may be requested."""

    @cached_property
    def sides(self) -> tuple[str, ...]:
        """The wallet fields the request names, in the order they are checked."""
        return tuple(side.value for side in Side if side.value in self.needs)


KINDS: Final[dict[TransferKind, KindRule]] = {
    TransferKind.TOP_UP: KindRule(
        needs=("destination",),
        refuses=("source", "merchant", "refund_of"),
        own=frozenset({"destination"}),
        operator_only="a top-up is money arriving from outside, confirmed by the company's "
        "backend (operator key)",
        outside=SystemAccount.TOP_UP_CLEARING,
        scored=False,
        notices=(
            Notice(
                events.TOP_UP_SUCCEEDED, events.BankTransfer, Side.DESTINATION, (Detail.WALLET,)
            ),
        ),
        goal_side=Side.DESTINATION,
    ),
    TransferKind.PAYMENT: KindRule(
        needs=("source", "merchant"),
        refuses=("destination", "refund_of"),
        own=frozenset({"source"}),
        operator_only=None,
        outside=SystemAccount.MERCHANT_SETTLEMENT,
        scored=True,
        notices=(
            Notice(
                events.PAYMENT_SUCCEEDED,
                events.PaymentSucceeded,
                Side.SOURCE,
                (Detail.WALLET, Detail.MERCHANT),
            ),
        ),
        refundable=True,
        budget_side=Side.SOURCE,
    ),
    TransferKind.WITHDRAWAL: KindRule(
        needs=("source",),
        refuses=("destination", "refund_of", "merchant"),
        own=frozenset({"source"}),
        operator_only=None,
        outside=SystemAccount.WITHDRAWAL_CLEARING,
        scored=True,
        notices=(
            Notice(
                events.WITHDRAWAL_SUCCEEDED,
                events.BankTransfer,
                Side.SOURCE,
                (Detail.WALLET,),
            ),
        ),
    ),
    TransferKind.P2P: KindRule(
        needs=("source", "destination"),
        refuses=("merchant", "refund_of"),
        own=frozenset({"source"}),
        operator_only=None,
        outside=None,
        scored=True,
        notices=(
            Notice(
                events.TRANSFER_SENT,
                events.PeerTransfer,
                Side.SOURCE,
                (Detail.WALLET, Detail.COUNTERPARTY),
            ),
            Notice(
                events.TRANSFER_RECEIVED,
                events.PeerTransfer,
                Side.DESTINATION,
                (Detail.WALLET, Detail.COUNTERPARTY),
            ),
        ),
        parties=Parties.ANOTHER_USERS_MAIN,
    ),
    TransferKind.ALLOCATION: KindRule(
        needs=("source", "destination"),
        refuses=("merchant", "refund_of"),
        own=frozenset({"source", "destination"}),
        operator_only=None,
        outside=None,
        scored=False,
        notices=(
            Notice(
                events.ALLOCATION_SUCCEEDED,
                events.AllocationSucceeded,
                Side.SOURCE,
                (Detail.BOTH_WALLETS,),
            ),
        ),
        parties=Parties.OWN_MAIN_AND_SUB,
        goal_side=Side.DESTINATION,
    ),
    TransferKind.REFUND: KindRule(
        needs=("refund_of",),
        refuses=("source", "destination", "merchant"),
        own=frozenset(),
        operator_only="refunds are made by the merchant side (operator key)",
        outside=SystemAccount.MERCHANT_SETTLEMENT,
        scored=False,
        notices=(
            Notice(
                events.REFUND_SUCCEEDED,
                events.RefundSucceeded,
                Side.DESTINATION,
                (Detail.WALLET, Detail.REFUND_OF, Detail.MERCHANT),
            ),
        ),
        refunds_payment=True,
        budget_side=Side.DESTINATION,
        goal_side=Side.DESTINATION,
    ),
    TransferKind.REWARD: KindRule(
        needs=("destination",),
        refuses=("source", "merchant", "refund_of"),
        own=frozenset(),
        operator_only=None,
        outside=SystemAccount.REWARDS,
        scored=False,
        notices=(),  # `wallet.goal.reached` says what was given
        internal="a reward is paid by Tidings itself when a savings goal is reached",
    ),
}


def check_fields(rule: KindRule, data: TransferCreate, *, acting_user_id: str | None) -> None:
    """Refuse a transfer its kind does not allow this caller, or whose fields do not fit it."""
    if rule.internal is not None:
        raise InvalidTransfer(rule.internal, field="kind")
    if rule.operator_only is not None and acting_user_id is not None:
        raise OperatorOnly(rule.operator_only)
    for field in rule.needs:
        if getattr(data, field) is None:
            raise InvalidTransfer(f"a {data.kind.value} needs {field}", field=field)
    for field in rule.refuses:
        if getattr(data, field) is not None:
            raise InvalidTransfer(f"a {data.kind.value} takes no {field}", field=field)


def check_parties(
    rule: KindRule, source: LockedWallet | None, destination: LockedWallet | None
) -> None:
    """Refuse two wallets the kind may not join (the same wallet, the wrong owners or kinds)."""
    if rule.parties is None or source is None or destination is None:
        return
    if source.id == destination.id:
        raise InvalidTransfer("source and destination are the same wallet", field="destination")
    if rule.parties is Parties.ANOTHER_USERS_MAIN:
        if destination.user_id == source.user_id:
            raise InvalidTransfer(
                "p2p goes to another user; use an allocation between your own wallets",
                field="destination",
            )
        if destination.kind != "main":
            raise InvalidTransfer("p2p goes to a main wallet", field="destination")
    elif source.user_id != destination.user_id or {source.kind, destination.kind} != {
        "main",
        "sub",
    }:
        raise InvalidTransfer(
            "an allocation moves money between a main wallet and its own sub-wallet",
            field="destination",
        )
