"""The in-app inbox as a channel: what a user reads in the app is a row of our own database.

It is addressed like any channel (`to` is the user id) and sent through the same `send`, but
no provider is involved: `send` makes the item and `store` writes the items of a batch in the
transaction that records their deliveries (`StoringChannel`), once per notice by the unique
constraint on `inbox_items.notification_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

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

TITLE_LIMIT = 200
"""`inbox_items.title` holds this many characters."""


class InboxChannel:
    """The in-app inbox; thread-safe (it keeps no state)."""

    _info = ChannelInfo(name="inbox", channel=ChannelName.INBOX, body_limit=None, rate_per_s=None)

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
        repository.insert_inbox_items(conn, [asdict(message) for message in messages])

    def __repr__(self) -> str:
        return describe("InboxChannel", name=self._info.name)
