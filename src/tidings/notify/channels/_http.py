"""Shared HTTP plumbing for the provider adapters: one client per adapter, one error mapping."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from tidings import __version__ as _version
from tidings.notify.channels.base import ChannelInfo
from tidings.notify.types import ChannelName, PermanentChannelError, TransientChannelError

USER_AGENT = f"tidings/{_version}"
DEFAULT_TIMEOUT_S = 10.0

WallClock = Callable[[], datetime]
"""Returns the current UTC time; injected where a timestamp goes into a request."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_client(
    *, timeout_s: float, transport: httpx.BaseTransport | None, headers: dict[str, str] | None
) -> httpx.Client:
    """A pooled, thread-safe client that never follows redirects (a redirect is a failure)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        transport=transport,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds from now; it may be delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def post(client: httpx.Client, *, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST, turning network trouble into `TransientChannelError`.

    A timeout after the request was written may still have been accepted by the provider;
    that is why every adapter sends the delivery id as the provider's idempotency key.
    """
    try:
        return client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientChannelError(f"timed out: {type(exc).__name__}", provider=provider) from exc
    except httpx.TransportError as exc:
        raise TransientChannelError(
            f"transport error: {type(exc).__name__}: {exc}", provider=provider
        ) from exc


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response as a JSON object, or {} when it is not one (an HTML error page, say)."""
    try:
        parsed = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _provider_reason(response: httpx.Response) -> str:
    """The provider's own short reason, if its error body has one (never the raw body, which
    may echo the recipient's number back)."""
    payload = json_body(response)
    for key in ("message", "error", "detail", "code"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return f": {value[:200]}"
    return ""


def raise_for_status(
    response: httpx.Response, *, provider: str, now: datetime, detail: str | None = None
) -> None:
    """The generic rule: 2xx passes; 408/429/5xx transient (with Retry-After); rest permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    text = detail or f"HTTP {status}{_provider_reason(response)}"
    if status in (408, 425, 429) or status >= 500:
        raise TransientChannelError(
            text,
            provider=provider,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
        )
    raise PermanentChannelError(text, provider=provider, status=status)


class ProviderSettings(Protocol):
    """What the HTTP plumbing reads of a provider's settings."""

    @property
    def name(self) -> str: ...

    @property
    def timeout_s(self) -> float: ...

    @property
    def rate_per_s(self) -> float | None: ...


class HttpAdapter:
    """What every HTTP provider adapter holds: its self-description, one pooled client and
    the clock it reads `Retry-After` dates (and request timestamps) against."""

    def __init__(
        self,
        provider: ProviderSettings,
        channel: ChannelName,
        body_limit: int | None,
        transport: httpx.BaseTransport | None,
        clock: WallClock,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._info = ChannelInfo(
            name=provider.name,
            channel=channel,
            body_limit=body_limit,
            rate_per_s=provider.rate_per_s,
        )
        self._clock = clock
        self._client = make_client(
            timeout_s=provider.timeout_s, transport=transport, headers=headers
        )

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def _retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"), now=self._clock())

    def close(self) -> None:
        self._client.close()
