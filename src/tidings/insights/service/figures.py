"""The user's own figures for personalised content (`tidings.insights.figures`): read through
the spending view and the wallets domain, formatted in the reader's locale."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection

from tidings.insights.categories import SpendingCategory
from tidings.insights.figures import BALANCE, SPENT_LAST_MONTH, fill, placeholders
from tidings.insights.schemas import SpendingBy
from tidings.insights.service.spending import reader, spending
from tidings.kit.money import Money, format_amount, money
from tidings.wallets import service as wallets


def personal_figures(conn: Connection, user_id: str, *, at: datetime) -> dict[str, Money]:
    """Every figure of `FIGURES` for this user as of `at`: last calendar month on their own
    calendar, in total and per category (0 where they spent nothing), and their main
    wallet's balance (read through the wallets domain)."""
    who = reader(conn, user_id)
    last = who.today(at).replace(day=1) - timedelta(days=1)
    view = spending(conn, who, first=last.replace(day=1), last=last, by=SpendingBy.CATEGORY)
    figures = {SPENT_LAST_MONTH: view.total}
    for category in SpendingCategory:
        figures[f"{SPENT_LAST_MONTH}.{category.value}"] = money(0, who.currency)
    for group in view.groups:
        figures[f"{SPENT_LAST_MONTH}.{group.key}"] = group.amount
    main = next(w for w in wallets.list_wallets(conn, user_id, at=at) if w.kind == "main")
    figures[BALANCE] = main.balance
    return figures


def fill_personal_figures(
    conn: Connection, user_id: str, texts: Mapping[str, str], *, locale: str, at: datetime
) -> dict[str, str]:
    """The texts with the user's own figures in place of their placeholders, amounts
    formatted in `locale` (`1,240.00`); texts without placeholders cost no query."""
    if not any(placeholders(text) for text in texts.values()):
        return dict(texts)
    formatted = {
        name: format_amount(amount.value, amount.currency, locale)
        for name, amount in personal_figures(conn, user_id, at=at).items()
    }
    return {key: fill(text, formatted) for key, text in texts.items()}
