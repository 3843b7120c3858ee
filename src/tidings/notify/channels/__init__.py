"""Channel adapters: how a rendered message leaves Tidings (SMTP, SMS, push, webhooks, file).

Each adapter has one job — hand one `OutgoingMessage` to one provider and say, through the
`ChannelError` tree, whether a failure is worth retrying. `ProviderChain` puts several
providers of one channel behind circuit breakers; `build_channels` wires them from settings.
"""

from __future__ import annotations

from tidings.notify.channels.base import ChannelAdapter, ChannelInfo, RecipientRateLimited
from tidings.notify.channels.config import ChannelConfigError, build_channels
from tidings.notify.channels.failover import BreakerPolicy, CircuitBreaker, ProviderChain
from tidings.notify.channels.retry import (
    DEFAULT_POLICIES,
    WEBHOOK_SCHEDULE,
    Backoff,
    RetryPolicy,
    ScheduledRetry,
)

__all__ = [
    "DEFAULT_POLICIES",
    "WEBHOOK_SCHEDULE",
    "Backoff",
    "BreakerPolicy",
    "ChannelAdapter",
    "ChannelConfigError",
    "ChannelInfo",
    "CircuitBreaker",
    "ProviderChain",
    "RecipientRateLimited",
    "RetryPolicy",
    "ScheduledRetry",
    "build_channels",
]
