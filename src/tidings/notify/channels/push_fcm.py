"""App push through an FCM HTTP v1-shaped API (`projects/{id}/messages:send`).

Access tokens are minted from the project's service account (`service_account_file` or an
inline `service_account`) and refreshed before they expire; a fixed `access_token` is
accepted for short tests against a stub. A 401 forgets the minted token, so the retry
mints a fresh one.
Duplicates from at-least-once delivery are collapsed on the device: the delivery id is the
Android notification `tag` and the APNs `apns-collapse-id`, so a resend replaces, not adds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from tidings.notify.channels._http import (
    DEFAULT_TIMEOUT_S,
    HttpAdapter,
    WallClock,
    json_body,
    post,
    utc_now,
)
from tidings.notify.channels.base import SECRET_MASK, ProviderConfig, describe, mask_url
from tidings.notify.channels.google_auth import ServiceAccount, ServiceAccountTokens
from tidings.notify.types import (
    Category,
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
    UnregisteredRecipient,
)

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
BODY_LIMIT = 1000
"""FCM allows 4 KB per message in all; leave room for title, data and JSON."""
APNS_COLLAPSE_ID_MAX = 64

_TRANSIENT_FCM_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})
_PERMANENT_FCM_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})
"""About this token or payload: the app was uninstalled, the token is malformed or belongs
to another project. (THIRD_PARTY_AUTH_ERROR is our APNs credential: transient.)"""


class FcmSettings(ProviderConfig):
    """One FCM project (an entry of `TIDINGS_PUSH_PROVIDERS` with `"type": "fcm"`)."""

    type: Literal["fcm"] = "fcm"
    name: str = "fcm"
    base_url: str = Field(default=DEFAULT_BASE_URL, pattern=r"^https?://")
    project_id: str = Field(min_length=1)
    access_token: SecretStr | None = None
    """A fixed token (they expire after an hour): stubs and quick trials only."""
    service_account_file: Path | None = None
    """The service account's JSON key file (mounted as a secret)."""
    service_account: ServiceAccount | None = None
    """The same key inline."""
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_credential(self) -> FcmSettings:
        given = [
            self.access_token is not None,
            self.service_account_file is not None,
            self.service_account is not None,
        ]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of service_account_file, service_account, access_token"
            )
        if self.service_account_file is not None:
            try:
                text = self.service_account_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read service_account_file: {exc.strerror}") from exc
            account = ServiceAccount.model_validate_json(text)
            object.__setattr__(self, "service_account", account)
        return self


def _string_values(data: dict[str, Any]) -> dict[str, str]:
    """FCM `data` takes only string values; anything else travels as JSON text."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in data.items()
    }


def build_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The `messages:send` body for one message (public for tests and receivers' docs)."""
    critical = message.category is Category.CRITICAL
    notification: dict[str, str] = {"body": message.body}
    if message.title:
        notification["title"] = message.title
    data = _string_values(message.data)
    data.update({"delivery_id": message.delivery_id, "kind": message.kind})
    apns_headers = {"apns-priority": "10" if critical else "5"}
    if len(message.delivery_id.encode("utf-8")) <= APNS_COLLAPSE_ID_MAX:
        apns_headers["apns-collapse-id"] = message.delivery_id
    aps: dict[str, Any] = {"sound": "default"} if critical else {}
    return {
        "message": {
            "token": message.to,
            "notification": notification,
            "data": data,
            "android": {
                "priority": "high" if critical else "normal",
                "notification": {"tag": message.delivery_id},
            },
            "apns": {"headers": apns_headers, "payload": {"aps": aps}},
        }
    }


def _fcm_error_code(payload: dict[str, Any]) -> str:
    """`FcmError.errorCode` from the error details, else the Google RPC status."""
    error = payload.get("error")
    if not isinstance(error, dict):
        return ""
    details = error.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
                return str(detail["errorCode"])
    status = error.get("status")
    return status if isinstance(status, str) else ""


class FcmPushAdapter(HttpAdapter):
    """Sends one push per call; `provider_message_id` is FCM's message `name`."""

    def __init__(
        self,
        settings: FcmSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: WallClock = utc_now,
        token_provider: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(settings, ChannelName.PUSH, BODY_LIMIT, transport, clock)
        self.settings = settings
        self._url = (
            f"{settings.base_url.rstrip('/')}/v1/projects/{settings.project_id}/messages:send"
        )
        self._minted: ServiceAccountTokens | None = None
        if token_provider is not None:
            self._token = token_provider
        elif settings.service_account is not None:
            self._minted = ServiceAccountTokens(
                settings.service_account, client=self._client, provider=settings.name, clock=clock
            )
            self._token = self._minted
        else:
            assert settings.access_token is not None
            self._token = settings.access_token.get_secret_value

    def send(self, message: OutgoingMessage) -> SendResult:
        name = self._info.name
        response = post(
            self._client,
            provider=name,
            url=self._url,
            json=build_payload(message),
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        status = response.status_code
        payload = json_body(response)
        if 200 <= status < 300:
            message_name = payload.get("name")
            return SendResult(
                provider=name, provider_message_id=str(message_name) if message_name else None
            )
        code = _fcm_error_code(payload)
        detail = f"HTTP {status} {code}".rstrip()
        if status == 401 and self._minted is not None:
            self._minted.invalidate()
        retry_after = self._retry_after(response)
        if code == "UNREGISTERED" or (status == 404 and code in ("", "NOT_FOUND")):
            raise UnregisteredRecipient(detail, provider=name, status=status)
        if code in _PERMANENT_FCM_CODES:
            raise PermanentChannelError(detail, provider=name, status=status)
        if code in _TRANSIENT_FCM_CODES or status in (401, 403, 408, 429) or status >= 500:
            # 401/403 without a token-specific code: our access token or APNs credential,
            # not the recipient; another provider (or a refreshed token) can still send it.
            raise TransientChannelError(
                detail, provider=name, status=status, retry_after=retry_after
            )
        raise PermanentChannelError(detail, provider=name, status=status)

    def __repr__(self) -> str:
        return describe(
            "FcmPushAdapter",
            name=self.settings.name,
            base_url=mask_url(self.settings.base_url),
            project_id=self.settings.project_id,
            access_token=SECRET_MASK,
        )
