"""A wallet (`/app/wallets/{wallet_id}`): balance and available, its sub-wallets with their
budget bars and goal progress, recent transactions, and this month's spending by category
(the insights spending view of this wallet: one query)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.insights.schemas import SpendingBy, SpendingOut
from tidings.insights.service import spending
from tidings.kit.db import read_transaction
from tidings.wallets import service as wallets
from tidings.wallets.schemas import TransactionOut, WalletOut
from tidings.web.charts import Bar, BarChart, bar_chart
from tidings.web.visit import UserVisit, Visit

router = APIRouter(prefix="/app", include_in_schema=False)

RECENT = 20


@dataclass(frozen=True, slots=True)
class WalletView:
    wallet: WalletOut
    main: WalletOut | None
    """The main wallet, when this is a sub-wallet."""
    sub_wallets: list[WalletOut]
    recent: list[TransactionOut]
    month_start: date
    spending: SpendingOut
    chart: BarChart


def _wallet_view(visit: Visit, conn: Connection, wallet_id: str) -> WalletView:
    user_id, now = visit.user_id, visit.context.clock.now()
    keyring = visit.context.keyring
    wallet = wallets.get_wallet(conn, wallet_id, acting_user_id=user_id, at=now)
    owned = wallets.list_wallets(conn, user_id, at=now)
    # Labels in the page's language (which `?lang=` may change), days on the user's calendar.
    who = replace(spending.reader(conn, user_id), locale=visit.language.value)
    today = who.today(now)
    month = spending.spending(
        conn,
        who,
        first=today.replace(day=1),
        last=today,
        by=SpendingBy.CATEGORY,
        wallet_id=wallet.id,
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
        month_start=month.from_,
        spending=month,
        chart=bar_chart(
            [
                Bar(
                    label=group.label,
                    shown=visit.formatter.money(group.amount),
                    value=group.amount.value,
                )
                for group in month.groups
            ]
        ),
    )


@router.get("/wallets/{wallet_id}")
def wallet_page(wallet_id: str, visit: UserVisit) -> Response:
    """Another user's wallet is 404, as in the API."""
    with read_transaction(visit.context.engine) as conn:
        view = _wallet_view(visit, conn, wallet_id)
    return visit.render("app/wallet.html", view=view, active="wallet")
