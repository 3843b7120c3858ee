"""The dispatcher: claims due deliveries with a lease, renders, sends, records the outcome.

At least once to providers (the delivery id is their idempotency key: Aliyun `OutId`,
`Idempotency-Key`, the webhook id), exactly once into the inbox (unique constraint). A
worker that dies mid-batch leaves its rows `sending` with a lease that runs out; another
worker takes them again.

The steps are modules of this package: `claim` (work and recipients), `render` (the
message), `send` (through the channel, into an outcome), `record` (one transaction a batch),
`digest` (the daily summaries). Every channel, the inbox too, goes the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import Engine

from tidings.kit.clock import Clock
from tidings.kit.db import read_transaction, with_retry
from tidings.kit.ids import new_id
from tidings.notify.channels.base import StoringChannel
from tidings.notify.delivery import claim
from tidings.notify.delivery.digest import Digests
from tidings.notify.delivery.outcome import (
    ClaimedDelivery,
    Composed,
    DeliveryOutcome,
    DeliveryUpdate,
    Unsendable,
    handed_back,
    unsendable,
)
from tidings.notify.delivery.record import record_digest, record_outcomes
from tidings.notify.delivery.render import Composer
from tidings.notify.delivery.send import Pacer, RetryDelay, Sender, Sending
from tidings.notify.planner import PlannerPolicy
from tidings.notify.templates.render import TemplateRenderer
from tidings.notify.types import ChannelName, PersonalFigures, ProviderTemplate, Recipient
from tidings.privacy.crypto import Keyring


@dataclass
class Dispatcher:
    """One worker's delivery loop body; tests replace `senders`, `retry_delay` and `clock`
    between runs, so every run reads them afresh."""

    engine: Engine
    keyring: Keyring
    clock: Clock
    renderer: TemplateRenderer
    senders: Mapping[ChannelName, Sender]
    """Every channel's sender, the inbox's (`InboxChannel`) among them."""
    retry_delay: RetryDelay
    worker_id: str = field(default_factory=lambda: new_id("wrk"))
    batch_size: int = 200
    lease: timedelta = timedelta(seconds=60)
    status_webhook_url: str | None = None
    """Where delivery status changes go; None: not reported."""
    send_concurrency: int = 8
    """Sends in flight at once: providers answer in milliseconds to seconds, so a batch
    sent one by one would spend its time waiting on the network."""
    rates: Mapping[ChannelName, float] = field(default_factory=dict)
    """Each channel's provider rate (sends per second), honoured by this process."""
    policy: PlannerPolicy = field(default_factory=PlannerPolicy)
    """The planner's rules, asked again for marketing at the moment of sending."""
    public_url: str = "http://127.0.0.1:8000"
    """The base of links in messages (`TIDINGS_PUBLIC_URL`): marketing's `/u/` link."""
    unsubscribe_mailto: str | None = None
    """Marketing email also offers this address in List-Unsubscribe."""
    sms_templates: Mapping[str, Mapping[str, ProviderTemplate]] = field(default_factory=dict)
    """SMS provider name → kind → its approved template, params as Jinja sources (Aliyun)."""
    personal_figures: PersonalFigures | None = None
    """Fills the user's own figures into personalised campaign content; None: left as written."""

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.send_concurrency, thread_name_prefix="dispatch-send")

    @cached_property
    def _pacers(self) -> dict[ChannelName, Pacer]:
        return {channel: Pacer(rate) for channel, rate in self.rates.items()}

    @cached_property
    def _authenticity_key(self) -> bytes:
        return self.keyring.derive_key("authenticity")

    def close(self) -> None:
        """Let in-flight sends finish and stop the sending threads."""
        if "_pool" in self.__dict__:
            self._pool.shutdown(wait=True)

    def run_once(self) -> int:
        """Deliver one batch; the number of deliveries handled (0 when nothing is due)."""
        now = self.clock.now()
        claimed = claim.claim_due(
            self.engine, now=now, limit=self.batch_size, owner=self.worker_id, lease=self.lease
        )
        if not claimed:
            return 0
        read = claim.addressed(
            self.engine,
            self.keyring,
            claimed,
            policy=self.policy,
            now=now,
            clock=self.clock,
            status_webhook_url=self.status_webhook_url,
        )
        sendable = [delivery for delivery in claimed if delivery.id not in read.held]
        composer = Composer(
            engine=self.engine,
            keyring=self.keyring,
            renderer=self.renderer,
            authenticity_key=self._authenticity_key,
            public_url=self.public_url,
            unsubscribe_mailto=self.unsubscribe_mailto,
            sms_templates=self.sms_templates,
            personal_figures=self.personal_figures,
        )
        sending = Sending(self.senders, self._pacers, self.retry_delay, self._device)
        # Slow providers: what is not sent by half the lease goes back undone, or another
        # worker would take it while we still send it.
        hand_back_at = time.monotonic() + self.lease.total_seconds() / 2

        def send(delivery: ClaimedDelivery, composed: Composed, attempts: int) -> DeliveryOutcome:
            if time.monotonic() > hand_back_at:
                return handed_back(delivery)
            return sending.send(
                delivery,
                composed,
                attempts=attempts,
                now=self.clock.now(),
                has_it=read.has_it.get(delivery.id, set()),
            )

        # Messages are composed on this thread and only a provider's round trip goes to a
        # sending thread: a thread hand-off costs more than composing, and Python code on
        # eight threads at once spends its time passing the GIL. A message our own database
        # keeps (the inbox) is made here outright. Claims hold at most one delivery per user
        # and channel, so sending a batch's rows at once keeps each user's order on each
        # channel.
        stored_here = {
            channel
            for channel, sender in self.senders.items()
            if isinstance(sender, StoringChannel)
        }
        made_here: list[DeliveryOutcome] = []
        in_flight: list[Future[DeliveryOutcome]] = []
        for delivery in sendable:
            now = self.clock.now()
            attempts = delivery.attempts + 1
            composed = composer.compose(delivery, read.recipients[delivery.user_id], now)
            if isinstance(composed, Unsendable):
                made_here.append(unsendable(delivery, composed, attempts=attempts, now=now))
            elif delivery.channel in stored_here:
                made_here.append(send(delivery, composed, attempts))
            else:
                in_flight.append(self._pool.submit(send, delivery, composed, attempts))
        outcomes = [*read.held.values(), *made_here, *(future.result() for future in in_flight)]
        with_retry(
            lambda: record_outcomes(
                self.engine,
                outcomes,
                owner=self.worker_id,
                senders=self.senders,
                keyring=self.keyring,
                clock=self.clock,
                report_status=self.status_webhook_url is not None,
            )
        )
        return len(claimed)

    def next_due(self) -> datetime | None:
        """When a delivery next comes due here or anywhere (None: none is open)."""
        return claim.next_due(self.engine)

    def run_digests(self, now: datetime | None = None) -> int:
        """Send each user one summary per channel of the notices held for the digest."""
        now = now or self.clock.now()
        claimed = claim.claim_digests(
            self.engine,
            now=now,
            limit=self.batch_size * 5,
            owner=self.worker_id,
            lease=self.lease,
        )
        if not claimed:
            return 0
        groups: dict[tuple[str, ChannelName], list[ClaimedDelivery]] = {}
        for delivery in claimed:
            groups.setdefault((delivery.user_id, delivery.channel), []).append(delivery)
        recipients = self._recipients({delivery.user_id for delivery in claimed})
        digests = Digests(
            self.renderer, self.senders, self.retry_delay, self._authenticity_key, self._device
        )
        for (user_id, channel), members in groups.items():
            update = digests.send(members, recipients[user_id], channel, now)
            self._record_digest(members, update, channel)
        return len(claimed)

    def _record_digest(
        self, members: list[ClaimedDelivery], update: DeliveryUpdate, channel: ChannelName
    ) -> None:
        with_retry(
            lambda: record_digest(
                self.engine, members, update, owner=self.worker_id, channel=channel
            )
        )

    def _recipients(self, user_ids: set[str]) -> dict[str, Recipient]:
        with read_transaction(self.engine) as conn:
            return claim.recipients(
                conn,
                self.keyring,
                user_ids,
                now=self.clock.now(),
                status_webhook_url=self.status_webhook_url,
            )

    def _device(self, token: str) -> str:
        """A push device's name in attempts and logs: a keyed hash of its token."""
        return self.keyring.lookup_hash(token, context="push.device")[:24]
