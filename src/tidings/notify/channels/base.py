"""What every channel adapter is: a self-description, a `send`, and a repr without secrets.

Modelled on Apprise's plugins (each knows its name, body limit and rate) but `send` returns a
`SendResult` or raises from the `ChannelError` tree, because a delivery must know *why* it
failed to decide between retrying, failing over and falling back to another channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    SendResult,
    StoredMessage,
    TransientChannelError,
)

SECRET_MASK = "****"  # noqa: S105 - what a secret is replaced with, not a secret


class ProviderConfig(BaseModel):
    """A provider's entry in `TIDINGS_*_PROVIDERS` (or a part of one): frozen, and a key we
    do not know — a typo — stops the start rather than being ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """An adapter's self-description; workers read `rate_per_s` to pace their sends."""

    name: str
    """Provider name as recorded on attempts and in `SendResult.provider` (unique per chain)."""
    channel: ChannelName
    body_limit: int | None
    """Longest body (characters) the provider takes in one message; None: no practical limit."""
    rate_per_s: float | None
    """Sends per second the provider allows this account; None: unknown or unlimited."""


@runtime_checkable
class ChannelAdapter(Protocol):
    """One provider of one channel, called synchronously from worker threads.

    `send` must be safe to call from several threads at once. It returns on acceptance by
    the provider and raises `TransientChannelError` (retry, maybe elsewhere) or
    `PermanentChannelError` (this message cannot go through this channel) otherwise.
    """

    @property
    def info(self) -> ChannelInfo: ...

    def send(self, message: OutgoingMessage) -> SendResult: ...


@runtime_checkable
class StoringChannel(ChannelAdapter, Protocol):
    """A channel whose messages are rows of our own database (the in-app inbox).

    `send` only makes the row (`SendResult.stored`); `store` writes a batch of them in the
    transaction that records their deliveries as sent, so a message is kept exactly when its
    delivery is, a batch costs one statement, and a unique constraint makes it once.
    """

    def store(self, conn: Connection, messages: Sequence[StoredMessage]) -> None: ...


@runtime_checkable
class Closeable(Protocol):
    """Adapters that hold connections (HTTP pools) release them here."""

    def close(self) -> None: ...


class RecipientRateLimited(TransientChannelError):
    """The provider is healthy but refuses more messages to *this recipient* for now.

    Retrying later helps; moving to another provider would dodge a per-number limit that
    exists for the user's sake, and the provider must not be counted as failing. So
    `ProviderChain` re-raises it at once without touching the circuit breaker.
    """


def mask_secret(value: str | None) -> str | None:
    """A secret shows as `****` (or None when unset): its presence, never its content."""
    return None if value is None else SECRET_MASK


def mask_identifier(value: str) -> str:
    """Key ids and project ids: enough to tell two apart in logs, not enough to use one."""
    if len(value) <= 8:
        return value[:1] + SECRET_MASK
    return f"{value[:4]}{SECRET_MASK}{value[-2:]}"


def mask_url(url: str) -> str:
    """An endpoint without its user-info password and query values (tokens hide there)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{SECRET_MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={SECRET_MASK}" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def describe(kind: str, **fields: object) -> str:
    """Apprise-style `Kind(name='…', …)`; callers pass secrets through the mask helpers."""
    shown = ", ".join(f"{key}={value!r}" for key, value in fields.items() if value is not None)
    return f"{kind}({shown})"
