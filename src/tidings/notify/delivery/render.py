"""Composing: a claimed delivery and its recipient become the message its channel sends.

Rendered once per delivery (the authenticity code is derived from the rendered text, then
printed in it); a one-time code is read from its event at the last moment and goes only to
the addresses its domain pinned; webhooks carry the notice as a CloudEvent instead of text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy import Engine

from tidings.campaigns.events import PROMOTION, make_link_token, tracked_link_url
from tidings.kit.db import read_transaction
from tidings.notify import repository, unsubscribe
from tidings.notify.delivery.authenticity import authenticity_code
from tidings.notify.delivery.outcome import ClaimedDelivery, Composed, Unsendable
from tidings.notify.templates.exceptions import TemplateProblem
from tidings.notify.templates.render import RenderedContent, TemplateRenderer
from tidings.notify.types import (
    Category,
    ChannelName,
    DeliveryStatus,
    OutgoingMessage,
    PersonalFigures,
    ProviderTemplate,
    Recipient,
)
from tidings.privacy.codes import (
    CODE_IN_EVENT,
    DESTINATIONS,
    SEALED_CODE,
    open_code,
    open_destinations,
    redact,
)
from tidings.privacy.crypto import Keyring

log = structlog.get_logger(__name__)

_PERSONAL_TEXTS: Final = ("title", "body")
"""The parts of a promotion that may carry the recipient's own figures (never its url)."""

MAX_TEMPLATE_PARAM_CHARS: Final = 35
"""Aliyun's limit on one SMS template variable."""


@dataclass(frozen=True, slots=True)
class Composer:
    """Everything a message is made from besides the delivery and its recipient."""

    engine: Engine
    keyring: Keyring
    renderer: TemplateRenderer
    authenticity_key: bytes
    public_url: str
    """The base of links in messages: marketing's `/u/` link."""
    unsubscribe_mailto: str | None
    sms_templates: Mapping[str, Mapping[str, ProviderTemplate]]
    """SMS provider name → kind → its approved template, params as Jinja sources (Aliyun)."""
    personal_figures: PersonalFigures | None = None
    """Fills the user's own figures into a personalised promotion's title and body."""

    def compose(
        self, delivery: ClaimedDelivery, recipient: Recipient, now: datetime
    ) -> Composed | Unsendable:
        data = self._with_personal_figures(
            delivery, recipient, self._with_tracked_link(delivery, dict(delivery.data)), now
        )
        secret = None
        if data.pop(CODE_IN_EVENT, False):
            secret = self._one_time_code(delivery.event_id)
            if secret is None:  # used or expired meanwhile: nothing to send, nowhere else
                return Unsendable("the one-time code was used or has expired", falls_back=False)
            data["code"] = secret
        pinned = open_destinations(self.keyring, data.pop(DESTINATIONS, None))
        channel = delivery.channel
        try:
            rendered, code = (
                (None, None)
                if channel is ChannelName.WEBHOOK
                else self._render(delivery, recipient, data)
            )
            provider_templates = self._provider_templates(delivery, recipient, data)
        except Exception as exc:  # a template that cannot render is a permanent failure
            log.error(
                "notify.delivery.render_failed", delivery_id=delivery.id, error=str(exc)[:200]
            )
            return Unsendable(f"render: {exc}")
        to = pinned.get(channel.value) or recipient.address(channel)
        if secret is not None and channel.value not in pinned:
            to = None  # a code goes only to the addresses its domain pinned
        if to is None and channel is ChannelName.PUSH and secret is None:
            # Every device was removed since the notice was planned.
            return Unsendable("no_device", status=DeliveryStatus.SKIPPED)
        if to is None:
            return Unsendable("no address for this channel")
        unsubscribe_url, unsubscribe_mailto = self._unsubscribe(delivery)
        webhook = channel is ChannelName.WEBHOOK
        message = OutgoingMessage(
            delivery_id=delivery.id,
            channel=channel,
            kind=delivery.kind,
            category=delivery.category,
            to=to,
            body=rendered.body if rendered else "",
            title=rendered.title if rendered else None,
            html=rendered.html if rendered else None,
            confidential=(secret,) if secret else (),
            provider_templates=provider_templates,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            data=cloud_event(delivery)
            if webhook
            else {"delivery_id": delivery.id, "kind": delivery.kind},
            signing_secrets=recipient.webhook_secrets if webhook else (),
            notification_id=delivery.notification_id,
            at=now,
        )
        # Push goes to every device of the user; a one-time code only to the token pinned.
        devices = (
            ((to,) if channel.value in pinned else recipient.push_tokens)
            if channel is ChannelName.PUSH
            else ()
        )
        return Composed(
            message,
            devices=devices,
            auth_code=code,
            kept_content=redact(rendered.body, [secret or ""]) if rendered else None,
        )

    def _with_tracked_link(self, delivery: ClaimedDelivery, data: dict[str, Any]) -> dict[str, Any]:
        """A campaign message's link becomes the recipient's own tracked `/l/` link (the
        click is counted once, then redirected to the content's url)."""
        campaign_id = data.get("campaign_id")
        if delivery.kind != PROMOTION or not data.get("url") or not isinstance(campaign_id, str):
            return data
        token = make_link_token(self.keyring, campaign_id=campaign_id, user_id=delivery.user_id)
        return {**data, "url": tracked_link_url(self.public_url, token)}

    def _with_personal_figures(
        self, delivery: ClaimedDelivery, recipient: Recipient, data: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """A personalised campaign's content with the recipient's own figures, rendered now
        in their locale (only a personalised campaign may carry placeholders)."""
        if delivery.kind != PROMOTION or data.get("personalised") is not True:
            return data
        if self.personal_figures is None:
            return data
        texts = {key: data[key] for key in _PERSONAL_TEXTS if isinstance(data.get(key), str)}
        filled = self.personal_figures(
            user_id=delivery.user_id, locale=recipient.locale, texts=texts, at=now
        )
        return {**data, **filled}

    def _one_time_code(self, event_id: str) -> str | None:
        """The sealed code of a notice's event, opened; None once it was used or expired."""
        with read_transaction(self.engine) as conn:
            sealed = repository.event_field(conn, event_id, SEALED_CODE)
        return open_code(self.keyring, sealed) if isinstance(sealed, str) else None

    def _render(
        self, delivery: ClaimedDelivery, recipient: Recipient, data: dict[str, Any]
    ) -> tuple[RenderedContent, str]:
        """Render once; the code is derived from the rendered text, then printed in it."""
        codes: list[str] = []

        def code_for(content: str) -> str:
            codes.append(authenticity_code(self.authenticity_key, delivery.id, content))
            return codes[-1]

        rendered = self.renderer.render(
            kind=delivery.kind,
            channel=delivery.channel,
            locale=recipient.locale,
            data=data,
            timezone=recipient.timezone,
            category=delivery.category,
            code_for=code_for,
            unsubscribe_url=self._unsubscribe(delivery)[0],
        )
        return rendered, codes[-1]

    def _unsubscribe(self, delivery: ClaimedDelivery) -> tuple[str | None, str | None]:
        """Marketing's `/u/` link and, for email, the `mailto:`; (None, None) otherwise."""
        channel = delivery.channel
        if delivery.category is not Category.MARKETING or channel not in unsubscribe.LINK_CHANNELS:
            return None, None
        token = unsubscribe.make_token(self.keyring, user_id=delivery.user_id, channel=channel)
        mailto = None
        if channel is ChannelName.EMAIL and self.unsubscribe_mailto:
            mailto = unsubscribe.mailto(self.unsubscribe_mailto, token)
        return unsubscribe.unsubscribe_url(self.public_url, token), mailto

    def _provider_templates(
        self, delivery: ClaimedDelivery, recipient: Recipient, data: dict[str, Any]
    ) -> dict[str, ProviderTemplate]:
        """Each SMS provider's approved template for this kind, its variables rendered;
        `TemplateProblem` (a value too long for the provider, a render failure) is final."""
        found: dict[str, ProviderTemplate] = {}
        if delivery.channel is not ChannelName.SMS:
            return found
        for provider, kinds in self.sms_templates.items():
            template = kinds.get(delivery.kind)
            if template is None:
                continue
            params = self.renderer.render_params(
                template.params,
                kind=delivery.kind,
                locale=recipient.locale,
                data=data,
                timezone=recipient.timezone,
                category=delivery.category,
            )
            for name, value in params.items():
                if len(value) > MAX_TEMPLATE_PARAM_CHARS:
                    raise TemplateProblem(
                        f"SMS template {template.code} of {provider}: variable {name!r} "
                        f"renders {len(value)} characters; the provider takes at most "
                        f"{MAX_TEMPLATE_PARAM_CHARS}",
                        field=f"params.{name}",
                    )
            found[provider] = ProviderTemplate(code=template.code, params=params)
        return found


def cloud_event(delivery: ClaimedDelivery) -> dict[str, Any]:
    """The notice as a CloudEvent: its id is the delivery id (the webhook-id too)."""
    return {
        "specversion": "1.0",
        "id": delivery.id,
        "source": "tidings",
        "type": delivery.kind,
        "subject": delivery.user_id,
        "time": delivery.notified_at.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            **dict(delivery.data),
            "notification_id": delivery.notification_id,
            "category": delivery.category.value,
            "event_id": delivery.event_id,
        },
    }
