"""The dispatcher's outcomes are plain data made by plain functions: what each writes on its
delivery row, which attempts it records, and where a failure falls back to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings.notify.channels.base import ChannelAdapter, StoringChannel
from tidings.notify.channels.inbox import TITLE_LIMIT, InboxChannel
from tidings.notify.delivery.outcome import (
    KEEP,
    Attempt,
    ClaimedDelivery,
    Composed,
    DeliveryUpdate,
    failed,
    handed_back,
    held,
    retry_later,
    sent,
)
from tidings.notify.planner import SendCheck, SendDecision
from tidings.notify.types import (
    AttemptOutcome,
    Category,
    ChannelName,
    DeliveryStatus,
    OutgoingMessage,
    Recipient,
    SendResult,
)

NOW = datetime(2024, 11, 24, 2, 0, tzinfo=UTC)


def claimed(
    channel: ChannelName = ChannelName.PUSH, fallback: tuple[ChannelName, ...] = ()
) -> ClaimedDelivery:
    return ClaimedDelivery(
        id="dlv_1",
        notification_id="ntf_1",
        user_id="usr_1",
        channel=channel,
        kind="security.login.new_device",
        category=Category.CRITICAL,
        data={},
        event_id="evt_1",
        notified_at=NOW - timedelta(seconds=3),
        attempts=0,
        fallback=fallback,
    )


def message(
    channel: ChannelName,
    *,
    title: str = "登录提醒",
    notification_id: str | None = None,
    at: datetime | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id="dlv_1",
        channel=channel,
        kind="security.login.new_device",
        category=Category.CRITICAL,
        to="usr_1",
        body="新设备登录",
        title=title,
        notification_id=notification_id,
        at=at,
    )


def sent_attempt(provider: str) -> Attempt:
    return Attempt("dlv_1", provider, AttemptOutcome.SENT, duration_ms=12, at=NOW)


def test_an_update_writes_only_what_it_decided_and_keeps_the_planners_reason() -> None:
    assert DeliveryUpdate(DeliveryStatus.PENDING).columns() == {"status": "pending"}
    cleared = DeliveryUpdate(DeliveryStatus.SENT, attempts=2, sent_at=NOW, reason=None)
    assert cleared.columns() == {"status": "sent", "attempts": 2, "sent_at": NOW, "reason": None}
    assert DeliveryUpdate(DeliveryStatus.SENT).reason is KEEP


def test_a_failure_with_a_chain_falls_back_to_its_next_channel_due_at_once() -> None:
    outcome = failed(
        claimed(fallback=(ChannelName.SMS, ChannelName.EMAIL)),
        attempts=1,
        now=NOW,
        reason="x" * 300,
        provider="fcm",
    )
    assert outcome.status is DeliveryStatus.FAILED
    assert outcome.update.columns() == {
        "status": "failed",
        "attempts": 1,
        "final_at": NOW,
        "reason": "x" * 255,
        "provider": "fcm",
    }
    assert outcome.fallback is not None
    row = outcome.fallback.row()
    assert (row["channel"], row["fallback"], row["status"]) == ("sms", "email", "pending")
    assert (row["due_at"], row["fallback_of"], row["reason"]) == (
        NOW,
        "dlv_1",
        "fallback: push failed",
    )


def test_a_code_used_meanwhile_fails_without_falling_back() -> None:
    outcome = failed(
        claimed(fallback=(ChannelName.SMS,)), attempts=1, now=NOW, reason="gone", falls_back=False
    )
    assert outcome.fallback is None


def test_the_inbox_is_a_channel_whose_message_is_stored_final_and_without_an_attempt() -> None:
    inbox = InboxChannel()
    assert isinstance(inbox, ChannelAdapter)
    assert isinstance(inbox, StoringChannel)
    result = inbox.send(
        message(ChannelName.INBOX, notification_id="ntf_1", at=NOW, title="t" * 300)
    )
    assert result.provider == "inbox"
    assert result.stored is not None
    assert (result.stored.user_id, result.stored.notification_id) == ("usr_1", "ntf_1")
    assert len(result.stored.title) == TITLE_LIMIT
    outcome = sent(
        claimed(ChannelName.INBOX),
        Composed(message(ChannelName.INBOX), auth_code="K7Q2X9", kept_content="新设备登录"),
        result,
        sent_attempt("inbox"),
        attempts=1,
        now=NOW,
    )
    assert outcome.attempts == ()
    assert outcome.stored == result.stored
    assert outcome.update.final_at == NOW


def test_a_provider_send_records_one_sent_attempt_and_waits_for_its_receipt() -> None:
    outcome = sent(
        claimed(ChannelName.SMS),
        Composed(message(ChannelName.SMS)),
        SendResult("aliyun", "biz-1"),
        sent_attempt("aliyun"),
        attempts=1,
        now=NOW,
    )
    [attempt] = outcome.attempts
    assert (attempt.outcome, attempt.provider, attempt.duration_ms) == (
        AttemptOutcome.SENT,
        "aliyun",
        12,
    )
    assert outcome.update.final_at is None
    assert outcome.update.provider_message_id == "biz-1"


def test_a_retry_is_due_after_its_delay_and_a_hand_back_changes_nothing_else() -> None:
    outcome = retry_later(claimed(), attempts=2, now=NOW, delay=30, reason="503", tried=())
    assert outcome.update.columns() == {
        "status": "pending",
        "attempts": 2,
        "due_at": NOW + timedelta(seconds=30),
        "reason": "503",
    }
    assert handed_back(claimed()).update.columns() == {"status": "pending"}


def test_marketing_held_at_send_waits_or_ends_as_the_check_says() -> None:
    later = NOW + timedelta(hours=6)
    waiting = held(claimed(), SendCheck(SendDecision.PENDING, "marketing_window", later), NOW)
    assert waiting.update.columns() == {
        "status": "pending",
        "due_at": later,
        "reason": "marketing_window",
    }
    cancelled = held(claimed(), SendCheck(SendDecision.CANCELLED, "no_consent"), NOW)
    assert cancelled.update.columns() == {
        "status": "cancelled",
        "final_at": NOW,
        "reason": "no_consent",
    }


def test_a_recipient_is_addressed_per_channel_push_to_the_latest_device() -> None:
    recipient = Recipient(
        "usr_1",
        "zh-CN",
        "Asia/Shanghai",
        phone="+8613812348000",
        push_tokens=("old-token", "new-token"),
    )
    assert recipient.address(ChannelName.INBOX) == "usr_1"
    assert recipient.address(ChannelName.PUSH) == "new-token"
    assert recipient.address(ChannelName.SMS) == "+8613812348000"
    assert recipient.address(ChannelName.EMAIL) is None
    assert recipient.address(ChannelName.WEBHOOK) is None
