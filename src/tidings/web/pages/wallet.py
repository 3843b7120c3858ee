"""A wallet (`/app/wallets/{wallet_id}`): balance and available, its sub-wallets, a
sub-wallet's budget and goal, recent transactions and this month's spending by category."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.kit.db import read_transaction
from tidings.kit.pagination import MAX_LIMIT
from tidings.privacy.crypto import Keyring
from tidings.wallets import service as wallets
from tidings.wallets.schemas import TransactionOut, TransferKind, WalletOut
from tidings.web.charts import Bar, BarChart, bar_chart
from tidings.web.labels import SPENDING
from tidings.web.spending import CategoryTotal, spending_by_category
from tidings.web.visit import UserVisit, Visit

router = APIRouter(prefix="/app", include_in_schema=False)

RECENT = 20
MONTH_PAGES = 5
"""At most this many pages of a month's payments are summed (1,000 payments)."""


@dataclass(frozen=True, slots=True)
class WalletView:
    wallet: WalletOut
    main: WalletOut | None
    """The main wallet, when this is a sub-wallet."""
    sub_wallets: list[WalletOut]
    recent: list[TransactionOut]
    month_start: datetime
    spending: list[CategoryTotal]
    chart: BarChart


def month_start(now: datetime, timezone: ZoneInfo) -> datetime:
    """The first moment of the reader's calendar month."""
    local = now.astimezone(timezone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_of_payments(
    conn: Connection, keyring: Keyring, wallet_id: str, *, user_id: str, since: datetime
) -> list[TransactionOut]:
    found: list[TransactionOut] = []
    cursor = None
    for _ in range(MONTH_PAGES):
        page = wallets.list_transactions(
            conn,
            keyring,
            wallet_id,
            acting_user_id=user_id,
            limit=MAX_LIMIT,
            cursor=cursor,
            kinds=[TransferKind.PAYMENT, TransferKind.REFUND],
            since=since,
            until=None,
        )
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def _wallet_view(visit: Visit, conn: Connection, wallet_id: str) -> WalletView:
    user_id, now = visit.user_id, visit.context.clock.now()
    keyring = visit.context.keyring
    wallet = wallets.get_wallet(conn, wallet_id, acting_user_id=user_id, at=now)
    owned = wallets.list_wallets(conn, user_id, at=now)
    since = month_start(now, visit.timezone)
    spending = spending_by_category(
        _month_of_payments(conn, keyring, wallet_id, user_id=user_id, since=since), wallet.currency
    )
    return WalletView(
        wallet=wallet,
        main=next((w for w in owned if w.kind == "main"), None) if wallet.kind == "sub" else None,
        sub_wallets=[w for w in owned if w.kind == "sub" and w.status == "open"]
        if wallet.kind == "main"
        else [],
        recent=wallets.list_transactions(
            conn,
            keyring,
            wallet_id,
            acting_user_id=user_id,
            limit=RECENT,
            cursor=None,
            kinds=None,
            since=None,
            until=None,
        ).items,
        month_start=since,
        spending=spending,
        chart=bar_chart(
            [
                Bar(
                    label=visit.gettext(SPENDING[total.category]),
                    shown=visit.formatter.money(total.spent),
                    value=total.spent.value,
                )
                for total in spending
            ]
        ),
    )


@router.get("/wallets/{wallet_id}")
def wallet_page(wallet_id: str, visit: UserVisit) -> Response:
    """Another user's wallet is 404, as in the API."""
    with read_transaction(visit.context.engine) as conn:
        view = _wallet_view(visit, conn, wallet_id)
    return visit.render("app/wallet.html", view=view, spending_labels=SPENDING, active="wallet")
