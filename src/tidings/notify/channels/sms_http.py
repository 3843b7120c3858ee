"""SMS through a generic JSON HTTP provider: the shape most SMS APIs share.

`POST {url}` with `{"to", "body", "id", "sender"?}`, an API key header, and
`Idempotency-Key: <delivery id>` so a retried request is not a second text on the user's
phone. 2xx (ideally `{"id": ...}`) is accepted; 408/429/5xx and time-outs are transient
(`Retry-After` honoured, seconds or HTTP date); any other 4xx is permanent.
"""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field, SecretStr

from tidings.notify.channels._http import (
    DEFAULT_TIMEOUT_S,
    HttpAdapter,
    WallClock,
    json_body,
    post,
    raise_for_status,
    utc_now,
)
from tidings.notify.channels.base import SECRET_MASK, ProviderConfig, describe, mask_url
from tidings.notify.types import ChannelName, OutgoingMessage, SendResult


class HttpSmsSettings(ProviderConfig):
    """One generic provider (an entry of `TIDINGS_SMS_PROVIDERS` with `"type": "http"`)."""

    type: Literal["http"] = "http"
    name: str = "http"
    url: str = Field(pattern=r"^https?://")
    api_key: SecretStr
    api_key_header: str = Field(
        default="Authorization",
        description="`Authorization` sends `Bearer <key>`; any other header gets the bare key.",
    )
    sender: str | None = None
    body_limit: int = Field(default=670, gt=0, description="Ten Chinese segments of 67.")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)


class HttpSmsAdapter(HttpAdapter):
    """Sends one SMS per call; `provider_message_id` is the provider's `id` when it gives one."""

    def __init__(
        self,
        settings: HttpSmsSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: WallClock = utc_now,
    ) -> None:
        key = settings.api_key.get_secret_value()
        auth = f"Bearer {key}" if settings.api_key_header.lower() == "authorization" else key
        headers = {settings.api_key_header: auth, "Accept": "application/json"}
        super().__init__(settings, ChannelName.SMS, settings.body_limit, transport, clock, headers)
        self.settings = settings

    def send(self, message: OutgoingMessage) -> SendResult:
        name = self._info.name
        payload: dict[str, str] = {
            "to": message.to,
            "body": message.body,
            "id": message.delivery_id,
        }
        if self.settings.sender:
            payload["sender"] = self.settings.sender
        response = post(
            self._client,
            provider=name,
            url=self.settings.url,
            json=payload,
            headers={"Idempotency-Key": message.delivery_id},
        )
        raise_for_status(response, provider=name, now=self._clock())
        provider_id = json_body(response).get("id")
        return SendResult(
            provider=name, provider_message_id=None if provider_id is None else str(provider_id)
        )

    def __repr__(self) -> str:
        return describe(
            "HttpSmsAdapter",
            name=self.settings.name,
            url=mask_url(self.settings.url),
            api_key=SECRET_MASK,
            sender=self.settings.sender,
        )
