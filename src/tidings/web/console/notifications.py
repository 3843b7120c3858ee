"""A notification's attempts (`/console/notifications/{id}`): each channel's delivery and every
send to a provider (when, which provider, how it ended, why), to the masked recipient."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from tidings.kit.db import read_transaction
from tidings.kit.ids import is_id
from tidings.notify import inbox
from tidings.notify.inbox import NotificationNotFound
from tidings.notify.schemas import AttemptOut, DeliveryOut, NotificationOut
from tidings.notify.types import ChannelName
from tidings.users import service as users
from tidings.users.schemas import UserOut
from tidings.web.console.masking import masked_text
from tidings.web.console.operator import Console

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempt: AttemptOut
    error: str | None
    """The provider's answer, with any address in it masked."""


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: DeliveryOut
    recipient: str | None
    """The user's phone or email, masked (SMS, email); None for the other channels."""
    reason: str | None
    attempts: list[AttemptView]


@dataclass(frozen=True, slots=True)
class NotificationView:
    notification: NotificationOut
    user: UserOut
    deliveries: list[DeliveryView]


def _recipient(user: UserOut, channel: ChannelName) -> str | None:
    return {ChannelName.SMS: user.phone, ChannelName.EMAIL: user.email}.get(channel)


def notification_view(notification: NotificationOut, user: UserOut) -> NotificationView:
    return NotificationView(
        notification=notification,
        user=user,
        deliveries=[
            DeliveryView(
                delivery=delivery,
                recipient=_recipient(user, delivery.channel),
                reason=masked_text(delivery.reason) if delivery.reason else None,
                attempts=[
                    AttemptView(attempt, masked_text(attempt.error) if attempt.error else None)
                    for attempt in delivery.attempts
                ],
            )
            for delivery in notification.deliveries
        ],
    )


@router.get("/notifications")
def find_notification(
    console: Console, typed: str = Query(default="", alias="id", max_length=40)
) -> Response:
    """The look-up form on the health page: a notification's id leads to its page."""
    found = typed.strip()
    if not is_id(found, "ntf"):
        raise NotificationNotFound(f"notification {found} not found")
    return RedirectResponse(f"/console/notifications/{found}", status_code=303)


@router.get("/notifications/{notification_id}")
def notification_page(notification_id: str, console: Console) -> Response:
    context = console.visit.context
    with read_transaction(context.engine) as conn:
        notification = inbox.get_notification(conn, notification_id, acting_user_id=None)
        user = users.get_user(conn, context.keyring, notification.user_id)
    return console.render(
        "console/notification.html",
        view=notification_view(notification, user),
        active="health",
    )
