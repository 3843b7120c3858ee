"""The notification engine's loops, wired to real adapters: relay and dispatcher."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import structlog

from tidings.app.context import AppContext, Loop
from tidings.config import Settings
from tidings.insights.service.figures import fill_personal_figures
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.health import BreakerReader
from tidings.kit.wakeups import Channel, doorbell
from tidings.notify.channels.config import build_channels, sms_templates
from tidings.notify.channels.failover import CircuitBreaker, ProviderChain
from tidings.notify.channels.inbox import InboxChannel
from tidings.notify.channels.retry import DEFAULT_POLICIES
from tidings.notify.delivery.dispatcher import Dispatcher
from tidings.notify.delivery.send import Sender
from tidings.notify.kinds.service import active_kind
from tidings.notify.planner import PlannerPolicy
from tidings.notify.relay import RelayResult, relay_batch
from tidings.notify.templates.render import TemplateRenderer, TemplateSource
from tidings.notify.templates.service import active_override
from tidings.notify.templates.source import CustomKindTemplates
from tidings.notify.types import ChannelName, PersonalFigures

log = structlog.get_logger(__name__)

OVERRIDE_TTL_S = 5.0
SQLITE_WRITE_BUDGET_S = 0.02
"""On SQLite the relay sizes its batches to hold the one writer about this long, so an API
write waiting behind it (the writer is handed over first come, first served) waits little."""


def paced_batch(previous: int, took_s: float, *, most: int, budget_s: float) -> int:
    """The next batch size: the one that would have taken `budget_s`, growing at most
    twofold a batch, never more than `most` nor fewer than one."""
    if took_s <= 0:
        return min(most, previous * 2)
    fitting = round(previous * budget_s / took_s)
    return max(1, min(most, previous * 2, fitting))


def wait_for_work(
    woken: threading.Event,
    stop: threading.Event,
    settings: Settings,
    *,
    at_most_s: float | None = None,
) -> None:
    """Sleep until `woken` rings (or the idle poll is due, or `at_most_s` has passed); once
    rung, linger a moment so what else arrives meanwhile is claimed in the same batch."""
    idle_s = settings.worker_idle_ms / 1000
    rung = woken.wait(idle_s if at_most_s is None else min(idle_s, at_most_s))
    if rung and settings.worker_linger_ms:
        stop.wait(settings.worker_linger_ms / 1000)


def until_due_s(next_due: datetime | None, *, now: datetime) -> float | None:
    """How long an idle dispatcher may sleep before a delivery comes due (a retry, a window
    opening, a digest), or None to sleep until the idle poll: nothing is open, or what is
    due already waits behind an earlier delivery of its user and channel."""
    if next_due is None or next_due <= now:
        return None
    return (next_due - now).total_seconds()


def relay_once(
    context: AppContext,
    policy: PlannerPolicy,
    *,
    limit: int | None = None,
    held: list[float] | None = None,
) -> RelayResult:
    """Relay one batch in one write transaction; `held` gets how long it held the writer."""

    def attempt() -> RelayResult:
        with write_transaction(context.engine) as conn:
            started = time.monotonic()
            result = relay_batch(
                conn,
                context.keyring,
                policy=policy,
                now=context.clock.now(),
                limit=limit or context.settings.relay_batch,
                platform_webhook=context.settings.status_webhook_url is not None,
            )
        if held is not None:
            held[:] = [time.monotonic() - started]
        return result

    return with_retry(attempt)


def relay_loop(context: AppContext, stop: threading.Event) -> None:
    """Relay while full batches come; then sleep until a commit rings the outbox (the
    deliveries it writes ring the dispatchers). On SQLite each batch is a short write
    transaction, so the API is never starved of the one writer while a backlog drains.
    A commit during a batch has rung already, so waiting after a short batch misses
    nothing."""
    policy = PlannerPolicy(default_timezone=context.settings.default_timezone)
    woken = doorbell(context.engine, Channel.OUTBOX).subscribe()
    most = context.settings.relay_batch
    limit = most
    held: list[float] = []
    while not stop.is_set():
        woken.clear()
        result = relay_once(context, policy, limit=limit, held=held)
        if result.events:
            log.debug("notify.relay.batch", events=result.events, deliveries=result.deliveries)
            if context.settings.is_sqlite and result.events == limit:
                limit = paced_batch(limit, held[0], most=most, budget_s=SQLITE_WRITE_BUDGET_S)
        if result.events < limit:
            wait_for_work(woken, stop, context.settings)


def cached_overrides(
    context: AppContext,
) -> Callable[[str, str, str], TemplateSource | None]:
    """Operator templates, re-read at most every few seconds (not once per message)."""
    cache: dict[tuple[str, str, str], tuple[float, TemplateSource | None]] = {}

    def lookup(kind: str, channel: str, locale: str) -> TemplateSource | None:
        key = (kind, channel, locale)
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < OVERRIDE_TTL_S:
            return hit[1]
        with context.engine.connect() as conn:
            found = active_override(conn, kind, channel, locale)
        cache[key] = (time.monotonic(), found)
        return found

    return lookup


def cached_custom_kinds(
    context: AppContext,
) -> Callable[[str], CustomKindTemplates | None]:
    """Registered kinds' templates (`/v1/kinds`), re-read at most every few seconds: a new
    or changed kind renders in every worker process within `OVERRIDE_TTL_S`, no restart."""
    cache: dict[str, tuple[float, CustomKindTemplates | None]] = {}

    def lookup(kind: str) -> CustomKindTemplates | None:
        hit = cache.get(kind)
        if hit is not None and time.monotonic() - hit[0] < OVERRIDE_TTL_S:
            return hit[1]
        with context.engine.connect() as conn:
            found = active_kind(conn, kind)
        templates = found.templates if found is not None else None
        cache[kind] = (time.monotonic(), templates)
        return templates

    return lookup


def personal_figures(context: AppContext) -> PersonalFigures:
    """The engine's way to the user's own figures: the insights domain's read function, in a
    read transaction of its own."""

    def fill(
        *, user_id: str, locale: str, texts: Mapping[str, str], at: datetime
    ) -> dict[str, str]:
        with read_transaction(context.engine) as conn:
            return fill_personal_figures(conn, user_id, texts, locale=locale, at=at)

    return fill


def build_dispatcher(context: AppContext) -> Dispatcher:
    settings = context.settings
    senders = build_channels(
        None,
        var_dir=settings.var_dir,
        webhook_allow_private=settings.webhook_allow_private,
        trusted_webhook_urls=frozenset(filter(None, [settings.status_webhook_url])),
    )
    renderer = TemplateRenderer(
        brand=settings.brand,
        brand_en=settings.brand_en,
        overrides=cached_overrides(context),
        custom_kinds=cached_custom_kinds(context),
    )

    def retry_delay(channel: ChannelName, attempts: int, retry_after: float | None) -> float | None:
        return DEFAULT_POLICIES[channel].next_delay(attempts, retry_after)

    return Dispatcher(
        engine=context.engine,
        keyring=context.keyring,
        clock=context.clock,
        renderer=renderer,
        senders={ChannelName.INBOX: InboxChannel(context.keyring), **senders},
        retry_delay=retry_delay,
        batch_size=settings.dispatch_batch,
        status_webhook_url=settings.status_webhook_url,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        send_concurrency=settings.send_concurrency,
        policy=PlannerPolicy(default_timezone=settings.default_timezone),
        public_url=settings.public_base_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        sms_templates=sms_templates(os.environ),
        personal_figures=personal_figures(context),
        rates={
            channel: sender.info.rate_per_s
            for channel, sender in senders.items()
            if sender.info.rate_per_s is not None
        },
    )


def _breaker_reader(breaker: CircuitBreaker | None) -> BreakerReader:
    return lambda: None if breaker is None else breaker.state.value


def breaker_readers(senders: Mapping[ChannelName, Sender]) -> dict[tuple[str, str], BreakerReader]:
    """Each provider of each channel, by (channel, provider name), and how to read its
    circuit breaker's state."""
    return {
        (channel.value, provider.info.name): _breaker_reader(breaker)
        for channel, sender in senders.items()
        if isinstance(sender, ProviderChain)
        for provider, breaker in zip(sender.providers, sender.breakers, strict=True)
    }


def dispatch_loop(context: AppContext, stop: threading.Event) -> None:
    """Dispatch while deliveries are due; then sleep until new deliveries ring (any
    process's relay, through PostgreSQL) or the next one comes due (a retry on time, not at
    the next idle poll), or the idle poll finds what another process made due."""
    dispatcher = build_dispatcher(context)
    context.providers.publish(breaker_readers(dispatcher.senders))
    woken = doorbell(context.engine, Channel.DELIVERIES).subscribe()
    try:
        while not stop.is_set():
            woken.clear()
            sent = dispatcher.run_once()
            sent += dispatcher.run_digests()
            if sent == 0:
                due_in_s = until_due_s(dispatcher.next_due(), now=context.clock.now())
                wait_for_work(woken, stop, context.settings, at_most_s=due_in_s)
    finally:
        dispatcher.close()


def relay(context: AppContext, stop: threading.Event) -> None:
    relay_loop(context, stop)


def dispatch(context: AppContext, stop: threading.Event) -> None:
    dispatch_loop(context, stop)


def notify_loops() -> tuple[Loop, Loop]:
    """The relay and the dispatcher of one process. The relay's deliveries ring the
    dispatcher when they commit, so a notice does not wait out an idle poll in between."""
    return relay, dispatch
