"""Operator alerts for SLA breaches, sent through the configured webhook and email adapters
(`TIDINGS_SLA_ALERT_WEBHOOK_URL`, `TIDINGS_SLA_ALERT_EMAIL`).

The `tickets.sla` job marks each breach in the transaction that finds it, so a breach is
alerted once; the alert is sent after that commit (a provider failure is logged, never
retried into a second alert).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from tidings.app.context import AppContext
from tidings.feedback import events
from tidings.feedback.service.tickets import Breach
from tidings.kit.ids import new_id
from tidings.notify.channels.config import build_channels
from tidings.notify.types import Category, ChannelError, ChannelName, OutgoingMessage

log = structlog.get_logger(__name__)


def _text(breach: Breach, public_url: str) -> tuple[str, str]:
    target = "first response" if breach.target == "first_response" else "resolution"
    title = f"SLA breached: {breach.priority} ticket {breach.ticket_id} ({target})"
    body = (
        f"Ticket {breach.ticket_id} ({breach.priority}) missed its {target} target, due "
        f"{breach.due.isoformat()}.\n{public_url}/console/tickets/{breach.ticket_id}"
    )
    return title, body


def send_sla_alerts(context: AppContext, breaches: Sequence[Breach]) -> int:
    """Send one alert per breach to each configured operator destination; returns how many
    were taken by a provider."""
    settings = context.settings
    destinations = [
        (ChannelName.WEBHOOK, settings.sla_alert_webhook_url),
        (ChannelName.EMAIL, settings.sla_alert_email),
    ]
    destinations = [(c, to) for c, to in destinations if to]
    if not breaches or not destinations:
        return 0
    trusted = frozenset({settings.sla_alert_webhook_url} if settings.sla_alert_webhook_url else ())
    chains = build_channels(None, var_dir=settings.var_dir, trusted_webhook_urls=trusted)
    sent = 0
    for breach in breaches:
        title, body = _text(breach, settings.public_base_url)
        for channel, to in destinations:
            chain = chains.get(channel)
            if chain is None or to is None:
                continue
            message = OutgoingMessage(
                delivery_id=new_id("ops"),
                channel=channel,
                kind=events.SLA_BREACHED,
                category=Category.CRITICAL,
                to=to,
                body=body,
                title=title,
                data={"ticket_id": breach.ticket_id, "target": breach.target},
            )
            try:
                chain.send(message)
                sent += 1
            except ChannelError as exc:
                log.warning("feedback.sla_alert.failed", ticket_id=breach.ticket_id, error=str(exc))
    return sent
