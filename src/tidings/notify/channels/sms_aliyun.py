"""SMS through Aliyun Dysmsapi `SendSms` (RPC style, signature v1), over plain httpx.

No vendor SDK: the request is a signed form POST, and owning it lets us classify every
answer precisely. The delivery id goes out as `OutId`, which Aliyun echoes in its delivery
receipts, so a receipt can be matched to its delivery and a retried send recognised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from tidings.notify.channels._http import (
    DEFAULT_TIMEOUT_S,
    HttpAdapter,
    WallClock,
    json_body,
    post,
    utc_now,
)
from tidings.notify.channels.base import (
    SECRET_MASK,
    ProviderConfig,
    RecipientRateLimited,
    describe,
    mask_identifier,
)
from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
API_VERSION = "2017-05-25"
BODY_LIMIT = 500
"""Aliyun's longest (concatenated) text, signature included."""
RECIPIENT_LIMIT_RETRY_S = 60.0
"""isv.BUSINESS_LIMIT_CONTROL: the tightest per-number limit is one message a minute."""

_TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "isp.UNKNOWN",
        "SignatureNonceUsed",
        # Our account or credentials, not the message: another provider can still send it,
        # and fixing the account makes the retries go through.
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isp.RAM_PERMISSION_DENY",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidTimeStamp.Expired",
        "InvalidTimeStamp.Format",
        "Forbidden.RAM",
    }
)
_TRANSIENT_PREFIXES = ("Throttling", "InvalidAccessKeyId", "ServiceUnavailable")
_PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.DAY_LIMIT_CONTROL",
    }
)
"""Codes about this message or recipient (isv.TEMPLATE_* is matched by prefix). A daily
per-number limit is permanent: no retry within the policy's minutes can help, fall back."""


class AliyunTemplate(ProviderConfig):
    """One kind's approved Aliyun template: its TemplateCode and each variable as a Jinja2
    source, rendered like our own templates (sandbox, filters, the user's locale and zone)."""

    code: str = Field(min_length=1, max_length=64, description="The approved TemplateCode.")
    params: dict[str, str] = Field(
        default_factory=dict, description="Variable name → Jinja2 source of its value."
    )


class AliyunSmsSettings(ProviderConfig):
    """One Aliyun SMS account (an entry of `TIDINGS_SMS_PROVIDERS` with `"type": "aliyun"`)."""

    type: Literal["aliyun"] = "aliyun"
    name: str = "aliyun"
    endpoint: str = DEFAULT_ENDPOINT
    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    sign_name: str = Field(min_length=1, description="The approved signature, e.g. Tidings钱包.")
    template_code: str = Field(
        min_length=1,
        description="Template for kinds without their own: one variable, ${content}.",
    )
    templates: dict[str, AliyunTemplate] = Field(
        default_factory=dict,
        description="Kind → its approved template and variables, e.g. "
        '{"wallet.payment.succeeded": {"code": "SMS_123", "params": '
        '{"amount": "{{ amount|money(bare=true) }}"}}}.',
    )
    region_id: str = "cn-hangzhou"
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)


def percent_encode(value: str) -> str:
    """Aliyun's RFC 3986 encoding: only A-Z a-z 0-9 - _ . ~ stay; space is %20, * is %2A."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(key)}={percent_encode(params[key])}" for key in sorted(params)
    )


def rpc_signature(params: Mapping[str, str], secret: str, *, method: str = "POST") -> str:
    """Aliyun RPC signature v1: base64(HMAC-SHA1(secret + "&", METHOD&%2F&enc(canonical)))."""
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(
        (secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def aliyun_phone_number(e164: str) -> str:
    """Aliyun wants mainland numbers as 11 digits and others as country code + number, no "+"."""
    digits = e164.strip().removeprefix("+")
    if e164.startswith("+86"):
        return digits.removeprefix("86")
    return digits


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


class AliyunSmsAdapter(HttpAdapter):
    """Sends one SMS per call through `SendSms`; `SendResult.provider_message_id` is the BizId."""

    def __init__(
        self,
        settings: AliyunSmsSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: WallClock = utc_now,
    ) -> None:
        super().__init__(settings, ChannelName.SMS, BODY_LIMIT, transport, clock)
        self.settings = settings

    def request_params(self, message: OutgoingMessage) -> dict[str, str]:
        """The signed form fields for one message (public so tests can inspect them)."""
        settings = self.settings
        own = message.provider_templates.get(settings.name)
        if own is not None:
            template_code = own.code
            template_params = dict(own.params)
        elif message.template_code:
            template_code = message.template_code
            template_params = dict(message.template_params)
        else:
            template_code = settings.template_code
            template_params = {"content": self._content(message.body)}
        params = {
            "AccessKeyId": settings.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.delivery_id,
            "PhoneNumbers": aliyun_phone_number(message.to),
            "RegionId": settings.region_id,
            "SignName": settings.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "Timestamp": _timestamp(self._clock()),
            "Version": API_VERSION,
        }
        if template_params:
            params["TemplateParam"] = json.dumps(
                template_params, ensure_ascii=False, separators=(",", ":")
            )
        params["Signature"] = rpc_signature(
            params, settings.access_key_secret.get_secret_value(), method="POST"
        )
        return params

    def _content(self, body: str) -> str:
        """Aliyun prepends 【SignName】 itself; a body that carries it too would show it twice."""
        return body.removeprefix(f"【{self.settings.sign_name}】")

    def send(self, message: OutgoingMessage) -> SendResult:
        name = self._info.name
        response = post(
            self._client,
            provider=name,
            url=self.settings.endpoint,
            data=self.request_params(message),
        )
        payload = json_body(response)
        code = str(payload.get("Code", ""))
        if 200 <= response.status_code < 300 and code == "OK":
            biz_id = payload.get("BizId")
            return SendResult(provider=name, provider_message_id=str(biz_id) if biz_id else None)
        raise classify(
            code,
            status=response.status_code,
            detail=f"{code or 'HTTP ' + str(response.status_code)}: {payload.get('Message', '')}",
            provider=name,
            retry_after=self._retry_after(response),
        )

    def __repr__(self) -> str:
        settings = self.settings
        return describe(
            "AliyunSmsAdapter",
            name=settings.name,
            endpoint=settings.endpoint,
            access_key_id=mask_identifier(settings.access_key_id),
            access_key_secret=SECRET_MASK,
            sign_name=settings.sign_name,
            template_code=settings.template_code,
        )


def classify(
    code: str, *, status: int, detail: str, provider: str, retry_after: float | None
) -> TransientChannelError | PermanentChannelError:
    """The error for a SendSms answer that is not `OK`: by Aliyun's code first, then HTTP."""
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        return RecipientRateLimited(
            detail,
            provider=provider,
            status=status,
            retry_after=max(retry_after or 0.0, RECIPIENT_LIMIT_RETRY_S),
        )
    if code in _TRANSIENT_CODES or code.startswith(_TRANSIENT_PREFIXES):
        return TransientChannelError(
            detail, provider=provider, status=status, retry_after=retry_after
        )
    if code in _PERMANENT_CODES or code.startswith("isv.TEMPLATE_"):
        return PermanentChannelError(detail, provider=provider, status=status)
    if status in (408, 429) or status >= 500 or code.startswith("isp."):
        return TransientChannelError(
            detail, provider=provider, status=status, retry_after=retry_after
        )
    return PermanentChannelError(detail, provider=provider, status=status)
