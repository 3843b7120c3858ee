"""The user's own figures a personalised campaign may print, declared as data.

Content writes them as placeholders, `{spent_last_month}`, `{spent_last_month.dining}` or
`{balance}` ("您上月餐饮消费{spent_last_month.dining}元"); each is filled in per recipient
when the message is sent, as a bare amount in the recipient's locale
(`1,240.00`), so the words around it (元, CNY) stay the writer's. Only a personalised
campaign may use them (PIPL art. 24: a message built on someone's spending is
personalised); any other `{name}` in a personalised campaign is refused too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from tidings.insights.categories import SpendingCategory

SPENT_LAST_MONTH: Final = "spent_last_month"
BALANCE: Final = "balance"

FIGURES: Final[Mapping[str, str]] = {
    SPENT_LAST_MONTH: "What the user spent last calendar month (their time zone), all "
    "categories: payments minus their refunds.",
    **{
        f"{SPENT_LAST_MONTH}.{category.value}": f"The same, in the {category.value} category."
        for category in SpendingCategory
    },
    BALANCE: "The balance of the user's main wallet at the moment of sending.",
}
"""Every placeholder content may use → what it stands for (documented in docs/campaigns.md)."""

PLACEHOLDER: Final = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)?)\}")
"""`{name}` or `{name.part}`: lower-case ASCII; other braces (`{限时}`) are plain text."""


def placeholders(text: str) -> list[str]:
    """The placeholders a text uses, in order."""
    return PLACEHOLDER.findall(text)


def fill(text: str, figures: Mapping[str, str]) -> str:
    """The text with each known placeholder replaced by its formatted figure."""
    return PLACEHOLDER.sub(lambda found: figures.get(found.group(1), found.group(0)), text)
