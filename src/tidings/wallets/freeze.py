"""Freezing a wallet: the owner's "not me", or an operator, stops money leaving it (and its
held transfers are cancelled) until an operator, having checked who asks, unfreezes it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import Connection

from tidings.kit.ids import is_id
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, verification
from tidings.risk import events as security
from tidings.risk.verification import CodeStatus
from tidings.wallets import events, repository
from tidings.wallets.exceptions import OperatorOnly, WalletNotFound
from tidings.wallets.holds import end_hold
from tidings.wallets.schemas import WalletOut
from tidings.wallets.service import get_wallet

log = structlog.get_logger(__name__)

NOT_ME: Final = "not_me"
"""The freeze reason when the owner reports activity that was not theirs."""


def _freeze_targets(
    conn: Connection, wallet_id: str, acting_user_id: str | None
) -> tuple[AnyRow, list[AnyRow]]:
    """The wallet (visible to the caller) and the wallets a freeze of it covers, locked: the
    main wallet covers all of the user's wallets, a sub-wallet only itself."""
    row = visible_or_raise(
        repository.wallet_owner_and_kind(conn, wallet_id) if is_id(wallet_id, "wal") else None,
        acting_user_id,
        WalletNotFound(f"wallet {wallet_id} not found", field="wallet_id"),
    )
    owned = repository.lock_user_wallets(conn, row.user_id)
    targets = owned if row.kind == "main" else [w for w in owned if w.id == wallet_id]
    return row, targets


def freeze_wallet(
    conn: Connection,
    keyring: Keyring,
    wallet_id: str,
    *,
    acting_user_id: str | None,
    reason: str | None,
    at: datetime,
) -> WalletOut:
    """Stop money leaving (the owner's "not me", or an operator); held transfers are cancelled.

    Incoming money still lands. Freezing a frozen wallet changes nothing and alerts nobody.
    """
    row, targets = _freeze_targets(conn, wallet_id, acting_user_id)
    if row.frozen_at is None:
        actor = audit.actor_of(acting_user_id)
        reason = reason or (NOT_ME if acting_user_id is not None else None)
        repository.set_frozen(conn, [w.id for w in targets], frozen_at=at)
        for transfer_id in repository.held_transfers_of_user(conn, row.user_id):
            held = verification.lock_code(conn, transfer_id)
            if held is not None:
                end_hold(conn, held, status=CodeStatus.CANCELLED, actor=actor, at=at)
        frozen = security.WalletFrozen(wallet_id=wallet_id, reason=reason)
        events.record(
            conn, security.WALLET_FROZEN, frozen, user_id=row.user_id, at=at, occurred_at=at
        )
        audit.record(
            conn,
            action="wallet.freeze",
            actor=actor,
            user_id=row.user_id,
            subject_id=wallet_id,
            at=at,
            detail={"wallets": [w.id for w in targets], "reason": reason},
        )
        log.info("risk.wallet.frozen", wallet_id=wallet_id)
    return get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def unfreeze_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    """Operator only, after checking who asks: money may leave the wallet again."""
    if acting_user_id is not None:
        raise OperatorOnly("only an operator unfreezes a wallet, after checking identity")
    row, targets = _freeze_targets(conn, wallet_id, None)
    if row.frozen_at is not None:
        repository.set_frozen(conn, [w.id for w in targets], frozen_at=None)
        unfrozen = security.WalletUnfrozen(wallet_id=wallet_id)
        events.record(
            conn, security.WALLET_UNFROZEN, unfrozen, user_id=row.user_id, at=at, occurred_at=at
        )
        audit.record(
            conn,
            action="wallet.unfreeze",
            actor=audit.OPERATOR,
            user_id=row.user_id,
            subject_id=wallet_id,
            at=at,
            detail={"wallets": [w.id for w in targets]},
        )
    return get_wallet(conn, wallet_id, acting_user_id=None, at=at)
