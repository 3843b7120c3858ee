"""Signed webhooks per the Standard Webhooks specification (standardwebhooks.com).

Every request carries three headers:

- `webhook-id`: the delivery id — the same on every retry, so receivers de-duplicate on it;
- `webhook-timestamp`: Unix seconds when this attempt was signed;
- `webhook-signature`: `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where
  key is the base64-decoded part of the shared secret `whsec_<base64>`. Several signatures
  may be sent space-separated during a secret rotation; a receiver accepts any that matches.

Receivers (and our tests) check a request with `verify(secret, headers=..., body=...)`: it
recomputes the signature over the *raw* body bytes, compares in constant time, and refuses
timestamps more than `tolerance_s` (5 minutes) away from now, which stops replays. Respond
2xx quickly; `410 Gone` tells us to stop sending to that URL; anything else is retried on
`WEBHOOK_SCHEDULE` (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tidings.notify.channels._http import (
    DEFAULT_TIMEOUT_S,
    HttpAdapter,
    WallClock,
    post,
    utc_now,
)
from tidings.notify.channels.base import describe, mask_secret
from tidings.notify.channels.destinations import (
    PinnedRequest,
    PrivateDestinationError,
    check_resolved_destination,
    pin,
)
from tidings.notify.channels.retry import STANDARD_WEBHOOKS_SCHEDULE, WEBHOOK_SCHEDULE
from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SECRET_PREFIX",
    "STANDARD_WEBHOOKS_SCHEDULE",
    "WEBHOOK_SCHEDULE",
    "WebhookAdapter",
    "WebhookVerificationError",
    "decode_secret",
    "generate_secret",
    "parse_secrets",
    "sign",
    "sign_all",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix
DEFAULT_TOLERANCE_S = 5 * 60
MIN_SECRET_BYTES = 24
"""The specification asks for secrets of 24 to 64 random bytes."""


class WebhookVerificationError(ValueError):
    """A webhook request that must be refused: missing headers, bad signature, stale time."""


def generate_secret() -> str:
    """A fresh `whsec_` secret of 32 random bytes, to hand to a receiver once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside `whsec_<base64>` (the prefix is optional, as in the reference libs;
    the padding too, as `standardwebhooks` adds it back)."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret needs at least {MIN_SECRET_BYTES} random bytes")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value (`v1,<base64>`) for one request."""
    key = decode_secret(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def parse_secrets(value: str) -> tuple[str, ...]:
    """One secret, or several separated by spaces or commas (the first is the current one,
    the others still sign during a rotation); each is checked, `ValueError` if bad."""
    secrets_ = tuple(part for part in value.replace(",", " ").split() if part)
    for secret in secrets_:
        decode_secret(secret)
    return secrets_


def sign_all(secrets_: Sequence[str], *, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value signed with each secret, space-separated (a receiver
    accepts any signature that matches its secret, so both sides of a rotation verify)."""
    return " ".join(
        sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
        for secret in dict.fromkeys(secrets_)
    )


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def verify(
    secret: str,
    *,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a received webhook; returns its `webhook-id` or raises `WebhookVerificationError`.

    `body` must be the raw bytes as received: re-serialised JSON will not match.
    """
    msg_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(
            candidate.encode("ascii", "replace"), expected.encode("ascii")
        ):
            return msg_id
    raise WebhookVerificationError("no matching v1 signature")


def encode_body(data: Mapping[str, object]) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def content_type(payload: Any) -> str:
    """A CloudEvent goes as `application/cloudevents+json` (structured mode, HTTP binding
    §3.2.1); anything else as plain JSON."""
    if isinstance(payload, dict) and payload.get("specversion") is not None:
        return "application/cloudevents+json; charset=utf-8"
    return "application/json"


@dataclass(frozen=True, slots=True)
class _Provider:
    """The webhook adapter's settings come as keyword arguments, not a settings model."""

    name: str
    timeout_s: float
    rate_per_s: float | None


class WebhookAdapter(HttpAdapter):
    """POSTs `message.data` (the CloudEvent the dispatcher built) to `message.to`, signed.

    Signed with the message's own secrets (each user's endpoint has its own, the previous
    one too during a rotation) or, for a message without any (the operator's status
    receiver), with the adapter's `secret`: one or several, space- or comma-separated.

    One adapter serves every receiver URL, so its `ProviderChain` should run without a
    circuit breaker (one receiver being down must not stop the others; `build_channels`
    does that). 2xx: sent. 410: the receiver is gone, permanent. Everything else, time-outs
    included, is transient, as the specification has senders retry any non-2xx.
    """

    def __init__(
        self,
        *,
        secret: str,
        name: str = "webhook",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rate_per_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: WallClock = utc_now,
        allow_private: bool = False,
        trusted_urls: frozenset[str] = frozenset(),
    ) -> None:
        self._secrets = parse_secrets(secret)
        if not self._secrets:
            raise ValueError("a webhook adapter needs a signing secret")
        self._allow_private = allow_private
        self._trusted_urls = trusted_urls
        provider = _Provider(name=name, timeout_s=timeout_s, rate_per_s=rate_per_s)
        super().__init__(provider, ChannelName.WEBHOOK, None, transport, clock, {})

    def send(self, message: OutgoingMessage) -> SendResult:
        name = self._info.name
        scheme = urlsplit(message.to).scheme
        if scheme not in ("http", "https"):
            raise PermanentChannelError(f"not an http(s) URL: scheme {scheme!r}", provider=name)
        target = PinnedRequest(url=message.to)
        if not self._allow_private and message.to not in self._trusted_urls:
            target = pin(message.to, self._check_destination(message.to))
        body = encode_body(message.data)
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": content_type(message.data),
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_all(
                message.signing_secrets or self._secrets,
                msg_id=message.delivery_id,
                timestamp=timestamp,
                body=body,
            ),
        }
        response = post(
            self._client,
            provider=name,
            url=target.url,
            content=body,
            headers={**headers, **target.headers},
            extensions=target.extensions,
        )
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(provider=name)
        if status == 410:
            raise PermanentChannelError("receiver answered 410 Gone", provider=name, status=status)
        raise TransientChannelError(
            f"receiver answered HTTP {status}",
            provider=name,
            status=status,
            retry_after=self._retry_after(response),
        )

    def _check_destination(self, url: str) -> str:
        """Users choose their URLs: never POST into our own network (see destinations).
        The address to send to: the one that was checked."""
        name = self._info.name
        try:
            return check_resolved_destination(url)
        except PrivateDestinationError as exc:
            raise PermanentChannelError(f"refused destination: {exc}", provider=name) from exc
        except OSError as exc:
            raise TransientChannelError(f"cannot resolve receiver: {exc}", provider=name) from exc

    def __repr__(self) -> str:
        return describe(
            "WebhookAdapter", name=self._info.name, secret=mask_secret(self._secrets[0])
        )
