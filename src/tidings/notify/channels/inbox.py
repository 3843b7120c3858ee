"""The in-app inbox as a channel: what a user reads in the app is a row of our own database.

It is addressed like any channel (`to` is the user id) and sent through the same `send`, but
no provider is involved: `send` makes the item and `store` writes the items of a batch in the
transaction that records their deliveries (`StoringChannel`), once per notice by the unique
constraint on `inbox_items.notification_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import Connection

from tidings.kit.ids import new_id
from tidings.notify import repository
from tidings.notify.channels.base import ChannelInfo, describe
from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    StoredMessage,
)
from tidings.privacy.crypto import Keyring
from tidings.privacy.userkeys import FreeText

TITLE_LIMIT = 200
"""`inbox_items.title` holds this many characters."""


TITLE: Final = "inbox_items.title"
BODY: Final = "inbox_items.body"
"""The contexts an inbox item's title and body are sealed under, with the user's own key."""


class InboxChannel:
    """The in-app inbox; thread-safe (it keeps no state). With a keyring, each item's title
    and body are sealed with the user's own key (crypto-shredding on erasure)."""

    _info = ChannelInfo(name="inbox", channel=ChannelName.INBOX, body_limit=None, rate_per_s=None)

    def __init__(self, keyring: Keyring | None = None) -> None:
        self._keyring = keyring

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def send(self, message: OutgoingMessage) -> SendResult:
        if message.notification_id is None or message.at is None:
            raise PermanentChannelError(
                "an inbox item needs the notice and the time", provider=self._info.name
            )
        item = StoredMessage(
            id=new_id("inb"),
            user_id=message.to,
            notification_id=message.notification_id,
            kind=message.kind,
            category=message.category,
            title=(message.title or "")[:TITLE_LIMIT],
            body=message.body,
            created_at=message.at,
        )
        return SendResult(provider=self._info.name, stored=item)

    def store(self, conn: Connection, messages: Sequence[StoredMessage]) -> None:
        rows = [message.row() for message in messages]
        if self._keyring is not None:
            text = FreeText(conn, self._keyring)
            text.load([row["user_id"] for row in rows], create=True)
            for row in rows:
                row["title"] = text.seal(row["user_id"], row["title"], context=TITLE)
                row["body"] = text.seal(row["user_id"], row["body"], context=BODY)
        repository.insert_inbox_items(conn, rows)

    def __repr__(self) -> str:
        return describe("InboxChannel", name=self._info.name)
