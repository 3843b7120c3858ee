"""Names operators read for the engine's codes (breaker states, attempt outcomes, template
statuses, jobs), marked for the catalogue and translated when a page shows them."""

from __future__ import annotations

from tidings.notify.channels.failover import BreakerState
from tidings.notify.templates.schemas import TemplateStatus
from tidings.notify.types import AttemptOutcome
from tidings.web.i18n import gettext_noop

BREAKER_STATES: dict[BreakerState | None, str] = {
    BreakerState.CLOSED: gettext_noop("Closed: takes traffic"),
    BreakerState.OPEN: gettext_noop("Open: skipped while it fails"),
    BreakerState.HALF_OPEN: gettext_noop("Half-open: one test message let through"),
    None: gettext_noop("No breaker (nothing to fail over to)"),
}

OUTCOMES: dict[str, str] = {
    AttemptOutcome.SENT: gettext_noop("Taken by the provider"),
    AttemptOutcome.RETRYABLE: gettext_noop("Temporary failure: retried"),
    AttemptOutcome.PERMANENT: gettext_noop("Permanent failure"),
}

DELIVERY_STATUSES: dict[str, str] = {
    "pending": gettext_noop("Waiting"),
    "sending": gettext_noop("Being sent"),
    "sent": gettext_noop("Handed over"),
    "delivered": gettext_noop("Delivered"),
    "undeliverable": gettext_noop("Could not be delivered"),
    "failed": gettext_noop("Failed"),
    "digest": gettext_noop("Kept for the digest"),
    "suppressed": gettext_noop("Held back"),
    "cancelled": gettext_noop("Cancelled"),
    "skipped": gettext_noop("Skipped"),
}
"""The delivery statuses the dispatcher and provider reports write (`DeliveryStatusOut`)."""

TEMPLATE_STATUSES: dict[TemplateStatus, str] = {
    TemplateStatus.DRAFT: gettext_noop("Draft: waits for a second operator"),
    TemplateStatus.APPROVED: gettext_noop("Approved: can be activated"),
    TemplateStatus.ACTIVE: gettext_noop("Active: being sent"),
}

JOBS: dict[str, str] = {
    "notify.digests": gettext_noop("Send the digests that are due"),
    "wallet.statements": gettext_noop("Issue wallet statements"),
    "credit.auto_debit": gettext_noop("Collect repayments by auto-debit"),
    "credit.overdue": gettext_noop("Mark overdue repayments"),
    "credit.reminders": gettext_noop("Send repayment reminders"),
    "credit.limit_review": gettext_noop("Review credit limits"),
    "risk.expire_holds": gettext_noop("Release held transfers whose hold ran out"),
    "risk.learn_model": gettext_noop("Teach the risk model from settled outcomes"),
    "followup.invitations": gettext_noop("Invite sampled users to surveys"),
    "followup.inbound": gettext_noop("Open tickets from users' SMS replies"),
    "tickets.sla": gettext_noop("Mark SLA breaches, alert operators, close quiet tickets"),
    "campaigns.dispatch": gettext_noop("Freeze launched campaigns and plan their messages"),
    "campaigns.conversions": gettext_noop("Count campaign conversions"),
}

CAMPAIGN_STATUSES: dict[str, str] = {
    "draft": gettext_noop("Draft"),
    "scheduled": gettext_noop("Scheduled"),
    "sending": gettext_noop("Sending"),
    "sent": gettext_noop("Sent"),
    "cancelled": gettext_noop("Cancelled"),
}
