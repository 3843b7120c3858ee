"""The wallet as other domains move money through it: which ledger account to post to, and
what it holds. Credit lends into and repays from a wallet through these functions, never
through the wallets repository, so the wallet's rules stay in one place."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from tidings.kit.ids import is_id
from tidings.kit.visibility import visible_or_raise
from tidings.users import service as users
from tidings.wallets import repository
from tidings.wallets.exceptions import WalletClosed, WalletNotFound


@dataclass(frozen=True, slots=True)
class WalletAccount:
    """A user's open wallet, locked for a money movement: the ledger account behind it."""

    id: str
    user_id: str
    account_id: str
    currency: str


def lock_wallet(conn: Connection, wallet_id: str, *, owner: str, field: str) -> WalletAccount:
    """Lock `owner`'s open wallet for a money movement (the same row lock transfers take);
    another user's wallet is not found, a closed one refused — both naming `field`."""
    rows = repository.lock_wallets(conn, [wallet_id]) if is_id(wallet_id, "wal") else {}
    wallet = visible_or_raise(
        rows.get(wallet_id), owner, WalletNotFound(f"wallet {wallet_id} not found", field=field)
    )
    if wallet.status != "open":
        raise WalletClosed(f"wallet {wallet_id} is closed", field=field)
    return WalletAccount(
        id=wallet.id, user_id=wallet.user_id, account_id=wallet.account_id, currency=wallet.currency
    )


def lock_main_wallet(conn: Connection, owner: str, *, field: str) -> WalletAccount:
    """`lock_wallet` on the user's main wallet, where loans land and repayments come from."""
    return lock_wallet(conn, users.get_main_wallet_id(conn, owner), owner=owner, field=field)


def spendable_balance(conn: Connection, wallet_id: str) -> int:
    """What may leave the wallet now: its balance less what is held for pending transfers."""
    wallet = repository.get_wallet(conn, wallet_id)
    if wallet is None:
        raise WalletNotFound(f"wallet {wallet_id} not found")
    return int(wallet.balance) - int(wallet.held)
