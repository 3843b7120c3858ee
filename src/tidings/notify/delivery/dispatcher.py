"""The dispatcher: claims due deliveries with a lease, renders, sends, records the outcome.

At least once to providers (the delivery id is their idempotency key: Aliyun `OutId`,
`Idempotency-Key`, the webhook id), exactly once into the inbox (unique constraint). A
worker that dies mid-batch leaves its rows `sending` with a lease that runs out; another
worker takes them again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import Engine

from tidings.kit.clock import Clock, as_utc
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.ids import new_id
from tidings.kit.tables import AnyRow
from tidings.notify import preferences, repository, unsubscribe, webhook_secrets
from tidings.notify.delivery.authenticity import authenticity_code
from tidings.notify.planner import (
    PlannerPolicy,
    SendCheck,
    SentRecord,
    cap_lookback,
    recheck_marketing,
)
from tidings.notify.status import PLATFORM, record_status_change
from tidings.notify.templates.exceptions import TemplateProblem
from tidings.notify.types import (
    Category,
    ChannelError,
    ChannelName,
    Intent,
    OutgoingMessage,
    ProviderTemplate,
    SendResult,
    TransientChannelError,
    UnregisteredRecipient,
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
from tidings.users import service as users

log = structlog.get_logger(__name__)

DELIVERIES = Counter(
    "tidings_deliveries_total", "Deliveries by channel and outcome.", ["channel", "status"]
)
RETRIES = Counter("tidings_delivery_retries_total", "Retries scheduled.", ["channel"])
EVENT_TO_DELIVERED = Histogram(
    "tidings_event_to_delivered_seconds",
    "From the event happening to its notice handed to the channel (inbox: stored).",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


class Rendered(Protocol):
    @property
    def title(self) -> str | None: ...
    @property
    def body(self) -> str: ...
    @property
    def html(self) -> str | None: ...


class Renderer(Protocol):
    def render(
        self,
        *,
        kind: str,
        channel: ChannelName,
        locale: str,
        data: dict[str, Any],
        timezone: str,
        category: Category,
        authenticity_code: str | None = None,
        code_for: Callable[[str], str] | None = None,
        unsubscribe_url: str | None = None,
    ) -> Rendered: ...

    def render_params(
        self,
        params: Mapping[str, str],
        *,
        kind: str,
        locale: str,
        data: dict[str, Any],
        timezone: str,
        category: Category,
    ) -> dict[str, str]: ...


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> SendResult: ...


class Pacer:
    """Spaces one provider's sends to its rate across this process's sending threads."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._sleep = sleep

    def wait(self) -> None:
        """Take the next free slot (one `interval` after the last one taken) and sleep until
        it comes."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


Address = tuple[users.Contact, list[str], str | None, tuple[str, ...]]
"""A user's contact, push tokens (latest last), webhook URL and that endpoint's secrets."""

MAX_TEMPLATE_PARAM_CHARS = 35
"""Aliyun's limit on one SMS template variable."""

RetryDelay = Callable[[ChannelName, int, float | None], float | None]
"""(channel, attempts so far, provider's Retry-After) → seconds to wait, or None to give up."""


@dataclass
class Outcome:
    row: AnyRow
    status: str
    values: dict[str, Any] = field(default_factory=dict)
    attempt: dict[str, Any] | None = None
    inbox: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    more_attempts: list[dict[str, Any]] = field(default_factory=list)
    """Push: one attempt per device beyond `attempt`."""
    unregistered: list[str] = field(default_factory=list)
    """Push tokens the provider reported gone: removed from the user's devices."""


@dataclass
class Dispatcher:
    engine: Engine
    keyring: Keyring
    clock: Clock
    renderer: Renderer
    senders: Mapping[ChannelName, Sender]
    retry_delay: RetryDelay
    worker_id: str = field(default_factory=lambda: new_id("wrk"))
    batch_size: int = 200
    lease: timedelta = timedelta(seconds=60)
    rng: random.Random = field(default_factory=random.Random)
    brand: str = "Tidings钱包"
    brand_en: str = "Tidings Wallet"
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

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.send_concurrency, thread_name_prefix="dispatch-send")

    @cached_property
    def _pacers(self) -> dict[ChannelName, Pacer]:
        return {channel: Pacer(rate) for channel, rate in self.rates.items()}

    def close(self) -> None:
        """Let in-flight sends finish and stop the sending threads."""
        if "_pool" in self.__dict__:
            self._pool.shutdown(wait=True)

    def run_once(self) -> int:
        """Deliver one batch; the number of deliveries handled (0 when nothing is due)."""
        now = self.clock.now()

        def claim() -> list[AnyRow]:
            with write_transaction(self.engine) as conn:
                return repository.claim_due_deliveries(
                    conn,
                    now=now,
                    limit=self.batch_size,
                    owner=self.worker_id,
                    lease_until=now + self.lease,
                )

        rows = with_retry(claim)
        if not rows:
            return 0
        held = self._recheck_marketing(rows, now)
        sendable = [row for row in rows if row.id not in held]
        addresses = self._addresses({row.user_id for row in sendable})
        retried_push = [r.id for r in sendable if r.channel == ChannelName.PUSH and r.attempts]
        if retried_push:
            with read_transaction(self.engine) as conn:
                has_it = repository.sent_devices(conn, retried_push)
        else:
            has_it = {}
        # Slow providers: what is not sent by half the lease goes back undone, or another
        # worker would take it while we still send it.
        hand_back_at = time.monotonic() + self.lease.total_seconds() / 2

        def deliver(row: AnyRow) -> Outcome:
            if time.monotonic() > hand_back_at:
                return Outcome(row, "pending", values={"status": "pending"})
            return self._deliver(row, addresses[row.user_id], has_it.get(row.id, set()))

        # Claims hold at most one delivery per user and channel, so sending a batch's rows
        # at once keeps each user's order on each channel.
        external = [row for row in sendable if row.channel != ChannelName.INBOX]
        sending = [self._pool.submit(deliver, row) for row in external]
        outcomes = list(held.values())
        outcomes.extend(deliver(row) for row in sendable if row.channel == ChannelName.INBOX)
        outcomes.extend(future.result() for future in sending)
        with_retry(lambda: self._record(outcomes))
        return len(rows)

    def _recheck_marketing(self, rows: list[AnyRow], now: datetime) -> dict[str, Outcome]:
        """Marketing in the batch that must not go now, by delivery id: consent withdrawn
        since it was planned (cancelled), the window or quiet hours closed (back to pending
        at the next opening), the cap full (suppressed). Four queries for the whole batch,
        none when it holds no marketing."""
        marketing = [row for row in rows if row.category == Category.MARKETING]
        if not marketing:
            return {}
        user_ids = sorted({row.user_id for row in marketing})
        with read_transaction(self.engine) as conn:
            prefs = preferences.planning_preferences(conn, self.keyring, user_ids)
            sent = repository.sent_since(
                conn,
                user_ids,
                category=Category.MARKETING.value,
                since=now - cap_lookback(self.policy),
            )
        history: dict[str, list[SentRecord]] = {user_id: [] for user_id in user_ids}
        for record in sent:
            history[record.user_id].append(
                SentRecord(
                    ChannelName(record.channel),
                    record.kind,
                    Category(record.category),
                    as_utc(record.sent_at),
                )
            )
        held: dict[str, Outcome] = {}
        for row in marketing:
            channel = ChannelName(row.channel)
            user_prefs = prefs.get(row.user_id)
            if user_prefs is None:  # the user is gone: nobody consents any more
                check = SendCheck("cancelled", "no_consent")
            else:
                intent = Intent(
                    kind=row.kind,
                    category=Category.MARKETING,
                    user_id=row.user_id,
                    event_id=row.event_id,
                    data={},
                    occurred_at=as_utc(row.notified_at),
                )
                check = recheck_marketing(
                    intent, channel, user_prefs, history[row.user_id], self.policy, now
                )
            if check.status == "send":
                history[row.user_id].append(SentRecord(channel, row.kind, Category.MARKETING, now))
                continue
            values: dict[str, Any] = {"status": check.status, "reason": check.reason}
            if check.status == "pending":
                values["due_at"] = check.due_at
            else:
                values["final_at"] = now
            held[row.id] = Outcome(row, check.status, values=values)
            log.info(
                "notify.delivery.held_at_send",
                delivery_id=row.id,
                channel=row.channel,
                status=check.status,
                reason=check.reason,
            )
        return held

    def run_digests(self, now: datetime | None = None) -> int:
        """Send each user one summary per channel of the notices held for the digest."""
        now = now or self.clock.now()

        def claim() -> list[AnyRow]:
            with write_transaction(self.engine) as conn:
                return repository.claim_due_digests(
                    conn,
                    now=now,
                    limit=self.batch_size * 5,
                    owner=self.worker_id,
                    lease_until=now + self.lease,
                )

        rows = with_retry(claim)
        if not rows:
            return 0
        groups: dict[tuple[str, str], list[AnyRow]] = {}
        for row in rows:
            groups.setdefault((row.user_id, row.channel), []).append(row)
        addresses = self._addresses({row.user_id for row in rows})
        for (user_id, channel), members in groups.items():
            values = self._send_digest(members, addresses[user_id], ChannelName(channel), now)
            ids = [m.id for m in members]

            def record(ids: list[str] = ids, values: dict[str, Any] = values) -> None:
                with write_transaction(self.engine) as conn:
                    repository.finish_digest(conn, ids, self.worker_id, values)

            with_retry(record)
            DELIVERIES.labels(channel, str(values["status"])).inc(len(members))
        return len(rows)

    def _digest_title(self, member: AnyRow, contact: users.Contact) -> str:
        """A notice's inbox title, or its kind when its template cannot render (broken, or
        past the render budget): one bad template must not hold up the whole digest."""
        try:
            rendered = self.renderer.render(
                kind=member.kind,
                channel=ChannelName.INBOX,
                locale=contact.locale,
                data=dict(member.data),
                timezone=contact.timezone,
                category=Category(member.category),
            )
        except Exception as exc:  # the template is code an operator wrote: its failure
            log.error("notify.digest.render_failed", delivery_id=member.id, error=str(exc)[:200])
            return str(member.kind)
        return rendered.title or str(member.kind)

    def digest_text(self, titles: list[str], locale: str) -> str:
        shown = titles[:5]
        if locale.startswith("zh"):
            more = "等" if len(titles) > len(shown) else ""
            return (
                f"【{self.brand}】您有{len(titles)}条新通知：{'；'.join(shown)}{more}。"
                "详情请查看App消息中心。"
            )
        more = " and more" if len(titles) > len(shown) else ""
        return (
            f"[{self.brand_en}] You have {len(titles)} new notices: {'; '.join(shown)}{more}. "
            "See the app inbox for details."
        )

    def _send_digest(
        self,
        members: list[AnyRow],
        address: Address,
        channel: ChannelName,
        now: datetime,
    ) -> dict[str, Any]:
        contact, tokens, _, _ = address
        titles = [self._digest_title(m, contact) for m in members]
        text = self.digest_text(titles, contact.locale)
        lead = members[0]
        code = authenticity_code(self._authenticity_key, lead.id, text)
        label = "防伪码" if contact.locale.startswith("zh") else " Code "
        body = f"{text}{label}{code}"
        to = {
            ChannelName.SMS: contact.phone,
            ChannelName.EMAIL: contact.email,
            ChannelName.PUSH: tokens[-1] if tokens else None,
        }.get(channel)
        if to is None:
            return {"status": "failed", "final_at": now, "reason": "no address for the digest"}
        title = "今日通知摘要" if contact.locale.startswith("zh") else "Your daily summary"
        message = OutgoingMessage(
            delivery_id=lead.id,
            channel=channel,
            kind="notify.digest",
            category=Category.INFORMATIONAL,
            to=to,
            body=body,
            title=title,
            data={"delivery_id": lead.id, "kind": "notify.digest"},
        )
        try:
            result = self._send_digest_message(
                message, tokens if channel is ChannelName.PUSH else []
            )
        except TransientChannelError as exc:
            delay = self.retry_delay(channel, int(lead.attempts) + 1, exc.retry_after)
            if delay is None:
                return {"status": "failed", "final_at": now, "reason": exc.detail[:255]}
            return {
                "status": "digest",
                "due_at": now + timedelta(seconds=delay),
                "attempts": int(lead.attempts) + 1,
                "reason": exc.detail[:255],
            }
        except ChannelError as exc:
            return {"status": "failed", "final_at": now, "reason": exc.detail[:255]}
        return {
            "status": "sent",
            "sent_at": now,
            "content": body,
            "auth_code": code,
            "provider": result.provider,
            "provider_message_id": result.provider_message_id,
            "reason": f"digest of {len(members)}",
        }

    def _send_digest_message(self, message: OutgoingMessage, devices: list[str]) -> SendResult:
        """A digest by push goes to every device: sent when one has it, else the first
        device's error. Other channels: the one address."""
        if not devices:
            return self.senders[message.channel].send(message)
        result: SendResult | None = None
        errors: list[ChannelError] = []
        for token in dict.fromkeys(devices):
            try:
                result = self.senders[message.channel].send(
                    replace(message, to=token, device=self._device(token))
                )
            except ChannelError as exc:
                errors.append(exc)
        if result is None:
            raise errors[0]
        return result

    def _addresses(self, user_ids: set[str]) -> dict[str, Address]:
        found: dict[str, Address] = {}
        now = self.clock.now()
        if PLATFORM in user_ids:
            platform = users.Contact(PLATFORM, PLATFORM, None, None, "en", "UTC")
            # The operator's receiver: signed with TIDINGS_WEBHOOK_SECRET (the adapter's).
            found[PLATFORM] = (platform, [], self.status_webhook_url, ())
        wanted = list(user_ids - {PLATFORM})
        with read_transaction(self.engine) as conn:
            stored = repository.get_preferences(conn, wanted)
            known = users.contacts(conn, self.keyring, wanted)
            for user_id in wanted:
                row = stored.get(user_id)
                found[user_id] = (
                    known[user_id],
                    preferences.push_tokens(self.keyring, row.push_tokens_enc if row else None),
                    row.webhook_url if row else None,
                    webhook_secrets.signing_secrets(self.keyring, row, now=now),
                )
        return found

    def _device(self, token: str) -> str:
        """A push device's name in attempts and logs: a keyed hash of its token."""
        return self.keyring.lookup_hash(token, context="push.device")[:24]

    @cached_property
    def _authenticity_key(self) -> bytes:
        return self.keyring.derive_key("authenticity")

    def _one_time_code(self, event_id: str) -> str | None:
        """The sealed code of a notice's event, opened; None once it was used or expired."""
        with read_transaction(self.engine) as conn:
            sealed = repository.event_field(conn, event_id, SEALED_CODE)
        return open_code(self.keyring, sealed) if isinstance(sealed, str) else None

    def _render(
        self, row: AnyRow, contact: users.Contact, data: dict[str, Any]
    ) -> tuple[Rendered, str]:
        """Render once; the code is derived from the rendered text, then printed in it."""
        codes: list[str] = []

        def code_for(content: str) -> str:
            codes.append(authenticity_code(self._authenticity_key, row.id, content))
            return codes[-1]

        unsubscribe_url = self._unsubscribe(row)[0]
        rendered = self.renderer.render(
            kind=row.kind,
            channel=ChannelName(row.channel),
            locale=contact.locale,
            data=data,
            timezone=contact.timezone,
            category=Category(row.category),
            code_for=code_for,
            unsubscribe_url=unsubscribe_url,
        )
        return rendered, codes[-1]

    def _unsubscribe(self, row: AnyRow) -> tuple[str | None, str | None]:
        """Marketing's `/u/` link and, for email, the `mailto:`; (None, None) otherwise."""
        channel = ChannelName(row.channel)
        if row.category != Category.MARKETING or channel not in unsubscribe.LINK_CHANNELS:
            return None, None
        token = unsubscribe.make_token(self.keyring, user_id=row.user_id, channel=channel)
        mailto = None
        if channel is ChannelName.EMAIL and self.unsubscribe_mailto:
            mailto = unsubscribe.mailto(self.unsubscribe_mailto, token)
        return unsubscribe.unsubscribe_url(self.public_url, token), mailto

    def _provider_templates(
        self, row: AnyRow, contact: users.Contact, data: dict[str, Any]
    ) -> dict[str, ProviderTemplate]:
        """Each SMS provider's approved template for this kind, its variables rendered;
        `TemplateProblem` (a value too long for the provider, a render failure) is final."""
        found: dict[str, ProviderTemplate] = {}
        if row.channel != ChannelName.SMS:
            return found
        for provider, kinds in self.sms_templates.items():
            template = kinds.get(row.kind)
            if template is None:
                continue
            params = self.renderer.render_params(
                template.params,
                kind=row.kind,
                locale=contact.locale,
                data=data,
                timezone=contact.timezone,
                category=Category(row.category),
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

    def _deliver(self, row: AnyRow, address: Address, has_it: set[str] | None = None) -> Outcome:
        contact, tokens, webhook_url, signing_secrets = address
        channel = ChannelName(row.channel)
        now = self.clock.now()
        attempts = int(row.attempts) + 1
        data = dict(row.data)
        secret = None
        if data.pop(CODE_IN_EVENT, False):
            secret = self._one_time_code(row.event_id)
            if secret is None:  # used or expired meanwhile: nothing to send, nowhere else
                reason = "the one-time code was used or has expired"
                values = {"status": "failed", "attempts": attempts, "final_at": now}
                return Outcome(row, "failed", values={**values, "reason": reason})
            data["code"] = secret
        pinned = open_destinations(self.keyring, data.pop(DESTINATIONS, None))
        try:
            if channel is ChannelName.WEBHOOK:
                content, code = None, None
            else:
                content, code = self._render(row, contact, data)
            provider_templates = self._provider_templates(row, contact, data)
        except Exception as exc:  # a template that cannot render is a permanent failure
            log.error("notify.delivery.render_failed", delivery_id=row.id, error=str(exc)[:200])
            return self._failed(row, now, attempts, f"render: {exc}"[:255], provider=None)
        if channel is ChannelName.INBOX:
            assert content is not None
            return Outcome(
                row,
                "sent",
                values={
                    "status": "sent",
                    "attempts": attempts,
                    "sent_at": now,
                    "final_at": now,
                    "auth_code": code,
                    "content": redact(content.body, [secret or ""]),
                    "provider": "inbox",
                },
                inbox={
                    "id": new_id("inb"),
                    "user_id": row.user_id,
                    "notification_id": row.notification_id,
                    "kind": row.kind,
                    "category": row.category,
                    "title": (content.title or "")[:200],
                    "body": content.body,
                    "created_at": now,
                },
            )
        to = (
            pinned.get(channel.value)
            or {
                ChannelName.SMS: contact.phone,
                ChannelName.EMAIL: contact.email,
                ChannelName.PUSH: tokens[-1] if tokens else None,
                ChannelName.WEBHOOK: webhook_url,
            }[channel]
        )
        if secret is not None and channel.value not in pinned:
            to = None  # a code goes only to the addresses its domain pinned
        if to is None and channel is ChannelName.PUSH and secret is None:
            # Every device was removed since the notice was planned.
            return self._failed(row, now, attempts, "no_device", provider=None, status="skipped")
        if to is None:
            return self._failed(row, now, attempts, "no address for this channel", provider=None)
        unsubscribe_url, unsubscribe_mailto = self._unsubscribe(row)
        message = OutgoingMessage(
            delivery_id=row.id,
            channel=channel,
            kind=row.kind,
            category=Category(row.category),
            to=to,
            body=content.body if content else "",
            title=content.title if content else None,
            html=content.html if content else None,
            confidential=(secret,) if secret else (),
            provider_templates=provider_templates,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=unsubscribe_mailto,
            data=self._webhook_payload(row)
            if channel is ChannelName.WEBHOOK
            else {"delivery_id": row.id, "kind": row.kind},
            signing_secrets=signing_secrets if channel is ChannelName.WEBHOOK else (),
        )
        if channel is ChannelName.PUSH:
            # Every device of the user; a one-time code only to the token its domain pinned.
            devices = [to] if channel.value in pinned else tokens
            kept_copy = {
                "auth_code": code,
                "content": redact(content.body, [secret or ""]) if content else None,
            }
            return self._deliver_push(
                row, message, devices, has_it or set(), now, attempts, kept_copy=kept_copy
            )
        pacer = self._pacers.get(channel)
        if pacer is not None:
            pacer.wait()
        started = time.perf_counter()
        try:
            result = self.senders[channel].send(message)
        except TransientChannelError as exc:
            return self._transient(row, now, attempts, exc, started)
        except ChannelError as exc:
            return self._failed(
                row,
                now,
                attempts,
                exc.detail[:255],
                provider=exc.provider,
                attempt=self._attempt(row, now, "permanent", exc, started),
            )
        duration = int((time.perf_counter() - started) * 1000)
        return Outcome(
            row,
            "sent",
            values={
                "status": "sent",
                "attempts": attempts,
                "sent_at": now,
                "auth_code": code,
                "content": redact(content.body, [secret or ""]) if content else None,
                "provider": result.provider,
                "provider_message_id": result.provider_message_id,
            },
            attempt={
                "id": new_id("att"),
                "delivery_id": row.id,
                "provider": result.provider,
                "outcome": "sent",
                "duration_ms": duration,
                "at": now,
            },
        )

    def _deliver_push(
        self,
        row: AnyRow,
        message: OutgoingMessage,
        tokens: list[str],
        has_it: set[str],
        now: datetime,
        attempts: int,
        *,
        kept_copy: dict[str, Any],
    ) -> Outcome:
        """One push delivery to each of the user's devices, one attempt row per device. A
        retry goes only to devices that do not have it yet (their attempts say `sent`); the
        delivery is sent once any device has it and none is left to retry, failed (and
        falls back) when none could get it. A token the provider reports unregistered is
        removed from the user's devices."""
        rows: list[dict[str, Any]] = []
        gone: list[str] = []
        retryable: list[TransientChannelError] = []
        refused: list[ChannelError] = []
        result: SendResult | None = None
        pacer = self._pacers.get(ChannelName.PUSH)
        for token in dict.fromkeys(tokens):
            device = self._device(token)
            if device in has_it:
                continue
            if pacer is not None:
                pacer.wait()
            started = time.perf_counter()
            try:
                result = self.senders[ChannelName.PUSH].send(
                    replace(message, to=token, device=device)
                )
            except TransientChannelError as exc:
                retryable.append(exc)
                rows.append(self._attempt(row, now, "retryable", exc, started, device=device))
                continue
            except ChannelError as exc:
                refused.append(exc)
                rows.append(self._attempt(row, now, "permanent", exc, started, device=device))
                if isinstance(exc, UnregisteredRecipient):
                    gone.append(token)
                    log.info("notify.push.device_unregistered", delivery_id=row.id, device=device)
                continue
            has_it.add(device)
            rows.append(
                {
                    "id": new_id("att"),
                    "delivery_id": row.id,
                    "provider": result.provider,
                    "device": device,
                    "outcome": "sent",
                    "duration_ms": int((time.perf_counter() - started) * 1000),
                    "at": now,
                }
            )
        if retryable:
            first = retryable[0]
            delay = self.retry_delay(ChannelName.PUSH, attempts, first.retry_after)
            if delay is not None:
                RETRIES.labels(row.channel).inc()
                values = {
                    "status": "pending",
                    "attempts": attempts,
                    "due_at": now + timedelta(seconds=delay),
                    "reason": f"{len(retryable)} device(s) to retry: {first.detail}"[:255],
                }
                return Outcome(row, "pending", values, more_attempts=rows, unregistered=gone)
        if not has_it:
            last = (retryable or refused)[-1] if (retryable or refused) else None
            reason = "no_device" if last is None else last.detail[:255]
            outcome = self._failed(
                row,
                now,
                attempts,
                reason,
                provider=last.provider if last else None,
                status="skipped" if last is None else "failed",
            )
            outcome.more_attempts, outcome.unregistered = rows, gone
            return outcome
        missed = len(retryable) + len(refused)
        values = {
            "status": "sent",
            "attempts": attempts,
            "sent_at": now,
            **kept_copy,
            "reason": f"{missed} device(s) could not get it" if missed else None,
        }
        if result is not None:
            values.update(provider=result.provider, provider_message_id=result.provider_message_id)
        return Outcome(row, "sent", values, more_attempts=rows, unregistered=gone)

    def _webhook_payload(self, row: AnyRow) -> dict[str, Any]:
        """The notice as a CloudEvent: its id is the delivery id (the webhook-id too)."""
        return {
            "specversion": "1.0",
            "id": row.id,
            "source": "tidings",
            "type": row.kind,
            "subject": row.user_id,
            "time": as_utc(row.notified_at).isoformat(),
            "datacontenttype": "application/json",
            "data": {
                **dict(row.data),
                "notification_id": row.notification_id,
                "category": row.category,
                "event_id": row.event_id,
            },
        }

    def _attempt(
        self,
        row: AnyRow,
        now: datetime,
        outcome: str,
        exc: ChannelError,
        started: float,
        *,
        device: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": new_id("att"),
            "delivery_id": row.id,
            "provider": exc.provider,
            "device": device,
            "outcome": outcome,
            "status_code": exc.status,
            "error": exc.detail[:500],
            "duration_ms": int((time.perf_counter() - started) * 1000),
            "at": now,
        }

    def _transient(
        self, row: AnyRow, now: datetime, attempts: int, exc: TransientChannelError, started: float
    ) -> Outcome:
        attempt = self._attempt(row, now, "retryable", exc, started)
        delay = self.retry_delay(ChannelName(row.channel), attempts, exc.retry_after)
        if delay is None:
            return self._failed(
                row,
                now,
                attempts,
                f"gave up: {exc.detail}"[:255],
                provider=exc.provider,
                attempt=attempt,
            )
        RETRIES.labels(row.channel).inc()
        log.info(
            "notify.delivery.retry_scheduled",
            delivery_id=row.id,
            channel=row.channel,
            attempt=attempts,
            delay_s=round(delay, 2),
        )
        return Outcome(
            row,
            "pending",
            values={
                "status": "pending",
                "attempts": attempts,
                "due_at": now + timedelta(seconds=delay),
                "reason": exc.detail[:255],
            },
            attempt=attempt,
        )

    def _failed(
        self,
        row: AnyRow,
        now: datetime,
        attempts: int,
        reason: str,
        *,
        provider: str | None,
        attempt: dict[str, Any] | None = None,
        status: str = "failed",
    ) -> Outcome:
        """Failed for good (or skipped: push to no device); the next channel in the fallback
        chain takes over."""
        chain = [c for c in row.fallback.split(",") if c]
        fallback = None
        if chain:
            fallback = {
                "id": new_id("dlv"),
                "notification_id": row.notification_id,
                "user_id": row.user_id,
                "channel": chain[0],
                "status": "pending",
                "due_at": now,
                "fallback": ",".join(chain[1:]),
                "fallback_of": row.id,
                "reason": f"fallback: {row.channel} {status}",
                "created_at": now,
            }
            log.warning(
                "notify.delivery.fallback", delivery_id=row.id, channel=row.channel, to=chain[0]
            )
        return Outcome(
            row,
            status,
            values={
                "status": status,
                "attempts": attempts,
                "final_at": now,
                "reason": reason,
                "provider": provider,
            },
            attempt=attempt,
            fallback=fallback,
        )

    def _record(self, outcomes: list[Outcome]) -> None:
        with write_transaction(self.engine) as conn:
            owned = repository.finish_deliveries(
                conn, self.worker_id, [(o.row.id, o.values) for o in outcomes]
            )
            kept = [o for o in outcomes if o.row.id in owned]
            for outcome in outcomes:
                if outcome.row.id not in owned:  # our lease ran out; another worker has it
                    log.warning("notify.delivery.lease_lost", delivery_id=outcome.row.id)
            repository.insert_inbox_items(conn, [o.inbox for o in kept if o.inbox])
            repository.insert_attempts(
                conn,
                [o.attempt for o in kept if o.attempt] + [a for o in kept for a in o.more_attempts],
            )
            for outcome in kept:
                if outcome.unregistered:
                    preferences.remove_push_tokens(
                        conn,
                        self.keyring,
                        outcome.row.user_id,
                        outcome.unregistered,
                        at=self.clock.now(),
                    )
            repository.insert_deliveries(conn, [o.fallback for o in kept if o.fallback])
            if self.status_webhook_url is not None:
                for outcome in kept:
                    if outcome.status != "pending":
                        record_status_change(
                            conn,
                            delivery_id=outcome.row.id,
                            notification_id=outcome.row.notification_id,
                            user_id=outcome.row.user_id,
                            channel=outcome.row.channel,
                            status=outcome.status,
                            reason=outcome.values.get("reason"),
                            at=self.clock.now(),
                        )
        now = self.clock.now()
        for outcome in kept:
            DELIVERIES.labels(outcome.row.channel, outcome.status).inc()
            if outcome.status == "sent":
                EVENT_TO_DELIVERED.labels(outcome.row.channel).observe(
                    max(0.0, (now - as_utc(outcome.row.notified_at)).total_seconds())
                )
