"""The daily digest: one summary per user and channel of the notices held for it, rendered
from the `notify.digest` template (engine.<locale>.toml) like any message."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

import structlog

from tidings.notify.delivery.authenticity import authenticity_code
from tidings.notify.delivery.outcome import REASON_CHARS, ClaimedDelivery, DeliveryUpdate
from tidings.notify.delivery.send import RetryDelay, Sender
from tidings.notify.templates.render import TemplateRenderer
from tidings.notify.types import (
    Category,
    ChannelError,
    ChannelName,
    DeliveryStatus,
    OutgoingMessage,
    Recipient,
    SendResult,
    TransientChannelError,
)

log = structlog.get_logger(__name__)

DIGEST_KIND: Final = "notify.digest"
TITLES_SHOWN: Final = 5
DIGEST_CHANNELS: Final = (ChannelName.SMS, ChannelName.PUSH, ChannelName.EMAIL)
"""The channels a digest goes by: the inbox holds every notice already, webhooks their JSON."""


@dataclass(frozen=True, slots=True)
class Digests:
    """What a digest is rendered with and sent through."""

    renderer: TemplateRenderer
    senders: Mapping[ChannelName, Sender]
    retry_delay: RetryDelay
    authenticity_key: bytes
    device_of: Callable[[str], str]

    def send(
        self,
        members: Sequence[ClaimedDelivery],
        recipient: Recipient,
        channel: ChannelName,
        now: datetime,
    ) -> DeliveryUpdate:
        """Send one digest of `members`; what becomes of all of them."""
        lead = members[0]
        to = recipient.address(channel) if channel in DIGEST_CHANNELS else None
        if to is None:
            return DeliveryUpdate(
                DeliveryStatus.FAILED, final_at=now, reason="no address for the digest"
            )
        titles = [self._title(member, recipient) for member in members]
        codes: list[str] = []

        def code_for(content: str) -> str:
            codes.append(authenticity_code(self.authenticity_key, lead.id, content))
            return codes[-1]

        try:
            rendered = self.renderer.render(
                kind=DIGEST_KIND,
                channel=channel,
                locale=recipient.locale,
                data={
                    "count": len(titles),
                    "titles": titles[:TITLES_SHOWN],
                    "more": len(titles) > TITLES_SHOWN,
                },
                timezone=recipient.timezone,
                category=Category.INFORMATIONAL,
                code_for=code_for,
            )
        except Exception as exc:  # e.g. an SMS too long for its segments: final
            log.error("notify.digest.render_failed", delivery_id=lead.id, error=str(exc)[:200])
            reason = f"render: {exc}"[:REASON_CHARS]
            return DeliveryUpdate(DeliveryStatus.FAILED, final_at=now, reason=reason)
        message = OutgoingMessage(
            delivery_id=lead.id,
            channel=channel,
            kind=DIGEST_KIND,
            category=Category.INFORMATIONAL,
            to=to,
            body=rendered.body,
            title=rendered.title,
            html=rendered.html,
            data={"delivery_id": lead.id, "kind": DIGEST_KIND},
        )
        devices = recipient.push_tokens if channel is ChannelName.PUSH else ()
        try:
            result = self._send(message, devices)
        except TransientChannelError as exc:
            delay = self.retry_delay(channel, lead.attempts + 1, exc.retry_after)
            if delay is None:
                return DeliveryUpdate(
                    DeliveryStatus.FAILED, final_at=now, reason=exc.detail[:REASON_CHARS]
                )
            return DeliveryUpdate(
                DeliveryStatus.DIGEST,
                due_at=now + timedelta(seconds=delay),
                attempts=lead.attempts + 1,
                reason=exc.detail[:REASON_CHARS],
            )
        except ChannelError as exc:
            return DeliveryUpdate(
                DeliveryStatus.FAILED, final_at=now, reason=exc.detail[:REASON_CHARS]
            )
        return DeliveryUpdate(
            DeliveryStatus.SENT,
            sent_at=now,
            content=rendered.body,
            auth_code=codes[-1],
            provider=result.provider,
            provider_message_id=result.provider_message_id,
            reason=f"digest of {len(members)}",
        )

    def _title(self, member: ClaimedDelivery, recipient: Recipient) -> str:
        """A notice's inbox title, or its kind when its template cannot render (broken, or
        past the render budget): one bad template must not hold up the whole digest."""
        try:
            rendered = self.renderer.render(
                kind=member.kind,
                channel=ChannelName.INBOX,
                locale=recipient.locale,
                data=dict(member.data),
                timezone=recipient.timezone,
                category=member.category,
            )
        except Exception as exc:  # the template is code an operator wrote: its failure
            log.error("notify.digest.render_failed", delivery_id=member.id, error=str(exc)[:200])
            return member.kind
        return rendered.title or member.kind

    def _send(self, message: OutgoingMessage, devices: tuple[str, ...]) -> SendResult:
        """A digest by push goes to every device: sent when one has it, else the first
        device's error. Other channels: the one address."""
        sender = self.senders[message.channel]
        if not devices:
            return sender.send(message)
        result: SendResult | None = None
        errors: list[ChannelError] = []
        for token in dict.fromkeys(devices):
            try:
                result = sender.send(replace(message, to=token, device=self.device_of(token)))
            except ChannelError as exc:
                errors.append(exc)
        if result is None:
            raise errors[0]
        return result
