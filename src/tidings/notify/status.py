"""Delivery status changes pushed to a subscribed system as signed webhooks.

A status change is an outbox event like any other (`notify.delivery.updated`, written in
the transaction that changed the status); the relay turns it into a webhook delivery for
the platform subscriber (`TIDINGS_STATUS_WEBHOOK_URL`), so it is as durable and retried as
any notice. Changes of those webhook deliveries themselves are not reported (no loop).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.events import record_event
from tidings.notify.types import ChannelName, DeliveryStatus

PLATFORM = "platform"
"""The pseudo-user that platform-level webhook deliveries belong to."""
DELIVERY_UPDATED = "notify.delivery.updated"


def record_status_change(
    conn: Connection,
    *,
    delivery_id: str,
    notification_id: str,
    user_id: str,
    channel: ChannelName,
    status: DeliveryStatus,
    reason: str | None,
    at: datetime,
) -> None:
    """Tell the platform subscriber (through the outbox) that a delivery changed status."""
    if user_id == PLATFORM:
        return
    record_event(
        conn,
        type=DELIVERY_UPDATED,
        user_id=None,
        at=at,
        data={
            "delivery_id": delivery_id,
            "notification_id": notification_id,
            "user_id": user_id,
            "channel": channel.value,
            "status": status.value,
            "reason": reason,
            "at": at.isoformat(),
        },
    )
