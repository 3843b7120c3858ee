"""Provider callbacks: delivery reports move a sent message to delivered or undeliverable,
and inbound replies such as `T` / `TD` / `退订` withdraw that number's marketing consent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import phonenumbers
import structlog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from tidings.events import record_event, stored_data
from tidings.feedback import events as follow_up
from tidings.kit.ids import is_id
from tidings.notify import preferences, repository
from tidings.notify.status import record_status_change
from tidings.notify.types import ChannelName, DeliveryStatus
from tidings.privacy.crypto import Keyring
from tidings.privacy.masking import mask_phone
from tidings.users import directory

log = structlog.get_logger(__name__)


def _record_inbound(
    conn: Connection, keyring: Keyring, number: str, content: str, *, at: datetime
) -> None:
    """Any other reply is the user writing to us: follow-up opens a ticket from the event."""
    if not content.strip():
        return
    for user_id in directory.users_with_phone(conn, keyring, number):
        record_event(
            conn,
            type=follow_up.INBOUND_MESSAGE,
            user_id=user_id,
            at=at,
            data=stored_data(
                follow_up.InboundMessage(channel="sms", body=content.strip()[:5000]),
                occurred_at=at,
            ),
        )


UNSUBSCRIBE_WORDS = frozenset({"T", "TD", "N", "STOP", "UNSUBSCRIBE", "退订", "TD退订", "回T退订"})


class AliyunSmsReport(BaseModel):
    """One item of Aliyun's SmsReport push (a JSON array)."""

    model_config = ConfigDict(extra="allow")

    phone_number: str
    success: bool
    biz_id: str | None = None
    out_id: str | None = None
    err_code: str | None = None
    err_msg: str | None = None
    send_time: str | None = None
    report_time: str | None = None


class AliyunSmsUp(BaseModel):
    """One item of Aliyun's SmsUp push: a user's reply to our SMS."""

    model_config = ConfigDict(extra="allow")

    phone_number: str
    content: str
    sign_name: str | None = None
    dest_code: str | None = None
    send_time: str | None = None
    sequence_id: int | str | None = None


def apply_sms_reports(
    conn: Connection, reports: list[AliyunSmsReport], *, at: datetime, report_status: bool
) -> int:
    """Apply each report once; unknown or already-final deliveries are ignored."""
    applied = 0
    for report in reports:
        if report.out_id is None or not is_id(report.out_id, "dlv"):
            continue
        status = DeliveryStatus.DELIVERED if report.success else DeliveryStatus.UNDELIVERABLE
        reason = None if report.success else f"{report.err_code}: {report.err_msg}"[:255]
        if not repository.set_delivery_status(
            conn, report.out_id, status=status, at=at, reason=reason
        ):
            continue
        applied += 1
        delivery = repository.get_delivery(conn, report.out_id)
        if report_status and delivery is not None:
            record_status_change(
                conn,
                delivery_id=delivery.id,
                notification_id=delivery.notification_id,
                user_id=delivery.user_id,
                channel=ChannelName(delivery.channel),
                status=status,
                reason=reason,
                at=at,
            )
    return applied


def _e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def sequence_ids(replies: Sequence[AliyunSmsUp]) -> str | None:
    """A push's own id: its replies' sequence ids in order (None when one has none)."""
    ids = [reply.sequence_id for reply in replies]
    if not ids or None in ids:
        return None
    return "aliyun-sms-up:" + ",".join(str(sequence_id) for sequence_id in ids)


def apply_sms_replies(
    conn: Connection,
    keyring: Keyring,
    replies: list[AliyunSmsUp],
    *,
    at: datetime,
    report_status: bool = False,
) -> int:
    """An unsubscribe reply withdraws SMS marketing consent for every user of that number
    (cancelling their pending marketing SMS at once)."""
    withdrawn = 0
    for reply in replies:
        number = _e164(reply.phone_number)
        if number is None:
            continue
        if reply.content.strip().upper() not in UNSUBSCRIBE_WORDS:
            _record_inbound(conn, keyring, number, reply.content, at=at)
            continue
        for user_id in directory.users_with_phone(conn, keyring, number):
            preferences.record_consent(
                conn,
                user_id=user_id,
                channel=ChannelName.SMS,
                granted=False,
                method="sms_reply",
                actor="provider:aliyun",
                evidence=f"SmsUp {reply.sequence_id}: {reply.content.strip()[:20]}",
                at=at,
                report_status=report_status,
            )
            withdrawn += 1
        log.info("notify.consent.withdrawn_by_sms", phone=mask_phone(number))
    return withdrawn
