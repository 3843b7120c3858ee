"""Build each channel's providers from settings (environment variables, JSON values).

Configuration format
--------------------
Each channel takes a JSON array of providers, tried in order (the first is preferred; the
next takes over while it fails). A channel with no variable, or an empty array, writes its
messages to the file sink `<var_dir>/messages.jsonl` instead of sending them.

``TIDINGS_SMS_PROVIDERS``::

    [{"type": "aliyun", "access_key_id": "LTAI…", "access_key_secret": "…",
      "sign_name": "Tidings钱包", "template_code": "SMS_1",
      "endpoint": "https://dysmsapi.aliyuncs.com/", "region_id": "cn-hangzhou"},
     {"type": "http", "url": "https://sms.example.com/v1/messages", "api_key": "…",
      "api_key_header": "Authorization", "sender": "Tidings"}]

  - ``aliyun``: Dysmsapi SendSms. ``templates`` maps a kind to its approved template:
    ``{"wallet.payment.succeeded": {"code": "SMS_123", "params": {"amount":
    "{{ amount|money(bare=true) }}", "merchant": "{{ merchant.name }}"}}}``; each variable
    is a Jinja2 source rendered in the templates' sandbox with their filters, in the user's
    locale and time zone, and may be at most 35 characters (else the delivery fails for
    good, saying which). Sources that do not compile stop start-up, naming the variable.
    ``template_code`` is the fallback for kinds without an entry, with TemplateParam
    ``{"content": <body>}`` (so that template's text should be ``${content}``).
    ``endpoint`` and ``region_id`` have the defaults shown.
  - ``http``: a generic JSON API: POST ``{"to", "body", "id", "sender"?}`` with
    ``Idempotency-Key``. ``api_key_header`` ``Authorization`` (default) sends
    ``Bearer <key>``; any other header name carries the bare key. ``body_limit`` defaults
    to 670 characters.

``TIDINGS_EMAIL_PROVIDERS``::

    [{"type": "smtp", "host": "smtp.example.com", "port": 587, "security": "starttls",
      "username": "apikey", "password": "…", "sender": "noreply@example.com",
      "sender_name": "Tidings钱包"}]

  ``security`` is ``plain`` (default; a local relay), ``starttls`` or ``tls`` (implicit,
  port 465); a login requires one of the TLS modes. ``cert_bundle`` names a CA file for a
  private CA; ``message_id_domain`` defaults to the sender's domain.

``TIDINGS_PUSH_PROVIDERS``::

    [{"type": "fcm", "project_id": "tidings-prod",
      "service_account_file": "/run/secrets/fcm-service-account.json"}]

  Access tokens are minted from the service account's key (RS256 JWT bearer, RFC 7523) and
  refreshed five minutes before they expire; ``service_account`` takes the key's JSON
  inline instead; ``access_token`` (a fixed token, valid one hour) is for stubs only.

``TIDINGS_WEBHOOK_SECRET``: ``whsec_`` + base64 of 24–64 random bytes; generate one with
``tidings.notify.channels.webhook.generate_secret()``. It signs what goes to the operator's
status receiver (``TIDINGS_STATUS_WEBHOOK_URL``); a second secret after a space or comma
signs too, for a rotation. Each user's webhook is signed with that endpoint's own secret.
Webhooks are signed per Standard Webhooks; receivers verify with ``verify`` or the
``standardwebhooks`` library.

Every provider also accepts ``name`` (unique within its channel; recorded as the provider
of each attempt; defaults to the type, then ``<type>-2``, …), ``timeout_s`` (default 10,
SMTP 15) and ``rate_per_s`` (the provider's send rate, read by the workers). Unknown keys
are refused, so a misspelt key fails at start-up instead of being ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeAlias

from pydantic import Field, TypeAdapter, ValidationError

from tidings.notify.channels.base import ChannelAdapter
from tidings.notify.channels.failover import DEFAULT_BREAKER, BreakerPolicy, ProviderChain
from tidings.notify.channels.file_sink import DEFAULT_FILE_NAME, FileSink
from tidings.notify.channels.push_fcm import FcmPushAdapter, FcmSettings
from tidings.notify.channels.sms_aliyun import AliyunSmsAdapter, AliyunSmsSettings
from tidings.notify.channels.sms_http import HttpSmsAdapter, HttpSmsSettings
from tidings.notify.channels.smtp import SmtpEmailAdapter, SmtpSettings
from tidings.notify.channels.webhook import WebhookAdapter, parse_secrets
from tidings.notify.types import ChannelName, ProviderTemplate

SMS_VARIABLE = "TIDINGS_SMS_PROVIDERS"
EMAIL_VARIABLE = "TIDINGS_EMAIL_PROVIDERS"
PUSH_VARIABLE = "TIDINGS_PUSH_PROVIDERS"
WEBHOOK_SECRET_VARIABLE = "TIDINGS_WEBHOOK_SECRET"  # noqa: S105 - a variable name

SmsSettings: TypeAlias = Annotated[AliyunSmsSettings | HttpSmsSettings, Field(discriminator="type")]
ProviderSettings: TypeAlias = AliyunSmsSettings | HttpSmsSettings | SmtpSettings | FcmSettings

_SMS_LIST = TypeAdapter(list[SmsSettings])
_EMAIL_LIST = TypeAdapter(list[Annotated[SmtpSettings, Field(discriminator="type")]])
_PUSH_LIST = TypeAdapter(list[Annotated[FcmSettings, Field(discriminator="type")]])

_FACTORIES: Mapping[type[ProviderSettings], Callable[[Any], ChannelAdapter]] = {
    AliyunSmsSettings: AliyunSmsAdapter,
    HttpSmsSettings: HttpSmsAdapter,
    SmtpSettings: SmtpEmailAdapter,
    FcmSettings: FcmPushAdapter,
}


class ChannelConfigError(ValueError):
    """Channel settings that cannot work; the message names the variable and the field."""


def _describe_errors(variable: str, error: ValidationError, *, types: tuple[str, ...]) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in item["loc"]
            if part not in types
        )
        if item["type"] in ("union_tag_not_found", "union_tag_invalid"):
            choices = ", ".join(repr(t) for t in types)
            problems.append(f"{variable}{path}.type: must be one of {choices}")
        else:
            problems.append(f"{variable}{path}: {item['msg']}")
    return "; ".join(problems)


def _unique_names(variable: str, entries: list[Any]) -> list[Any]:
    """Give same-typed providers distinct default names (http, http-2); refuse duplicates."""
    seen: set[str] = set()
    named = []
    for index, entry in enumerate(entries):
        if "name" not in entry.model_fields_set:
            candidate, n = entry.name, 1
            while candidate in seen:
                n += 1
                candidate = f"{entry.name}-{n}"
            entry = entry.model_copy(update={"name": candidate})
        if entry.name in seen:
            raise ChannelConfigError(f"{variable}[{index}].name: {entry.name!r} is used twice")
        seen.add(entry.name)
        named.append(entry)
    return named


def _parse(
    variable: str, raw: str | None, adapter: TypeAdapter[Any], *, types: tuple[str, ...]
) -> list[Any]:
    if raw is None or not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ChannelConfigError(f"{variable}: not valid JSON ({exc.msg} at {exc.pos})") from exc
    if isinstance(value, dict):
        value = [value]
    try:
        entries = adapter.validate_python(value)
    except ValidationError as exc:
        raise ChannelConfigError(_describe_errors(variable, exc, types=types)) from exc
    return _unique_names(variable, list(entries))


def parse_provider_lists(env: Mapping[str, str]) -> dict[ChannelName, list[Any]]:
    """Each channel's provider settings, validated; `ChannelConfigError` names what is wrong."""
    return {
        ChannelName.SMS: _parse(
            SMS_VARIABLE, env.get(SMS_VARIABLE), _SMS_LIST, types=("aliyun", "http")
        ),
        ChannelName.EMAIL: _parse(
            EMAIL_VARIABLE, env.get(EMAIL_VARIABLE), _EMAIL_LIST, types=("smtp",)
        ),
        ChannelName.PUSH: _parse(PUSH_VARIABLE, env.get(PUSH_VARIABLE), _PUSH_LIST, types=("fcm",)),
    }


def webhook_secret(env: Mapping[str, str]) -> str:
    """The webhook signing secret ('' when unset), refused with its variable's name if bad."""
    secret = env.get(WEBHOOK_SECRET_VARIABLE, "").strip()
    if secret:
        try:
            parse_secrets(secret)
        except ValueError as exc:
            raise ChannelConfigError(f"{WEBHOOK_SECRET_VARIABLE}: {exc}") from exc
    return secret


def sms_templates(env: Mapping[str, str]) -> dict[str, dict[str, ProviderTemplate]]:
    """SMS provider name → kind → its approved template (variables as Jinja2 sources)."""
    return {
        entry.name: {
            kind: ProviderTemplate(code=template.code, params=dict(template.params))
            for kind, template in entry.templates.items()
        }
        for entry in parse_provider_lists(env)[ChannelName.SMS]
        if isinstance(entry, AliyunSmsSettings) and entry.templates
    }


def _check_sms_templates(env: Mapping[str, str]) -> None:
    """Every per-kind template variable must compile in the sandbox (named when it does not)."""
    from tidings.notify.templates.exceptions import TemplateProblem
    from tidings.notify.templates.render import TemplateRenderer

    renderer = TemplateRenderer()
    for index, entry in enumerate(parse_provider_lists(env)[ChannelName.SMS]):
        if not isinstance(entry, AliyunSmsSettings):
            continue
        for kind, template in entry.templates.items():
            for name, source in template.params.items():
                where = f"{SMS_VARIABLE}[{index}].templates.{kind}.params.{name}"
                try:
                    renderer.check_compiles(source, where)
                except TemplateProblem as exc:
                    raise ChannelConfigError(exc.detail) from exc


def check_channel_settings(settings_like: Mapping[str, str] | None = None) -> None:
    """Validate every provider setting without connecting anywhere (`serve` and `worker`
    call it before starting, so a typo stops the process instead of every delivery)."""
    env: Mapping[str, str] = os.environ if settings_like is None else settings_like
    parse_provider_lists(env)
    _check_sms_templates(env)
    webhook_secret(env)


def build_channels(
    settings_like: Mapping[str, str] | None,
    *,
    var_dir: Path,
    breaker: BreakerPolicy = DEFAULT_BREAKER,
    webhook_allow_private: bool = False,
    trusted_webhook_urls: frozenset[str] = frozenset(),
) -> dict[ChannelName, ProviderChain]:
    """One `ProviderChain` for each of SMS, email, push and webhook (never the inbox).

    `settings_like` is an environment-like mapping (None: `os.environ`). Raises
    `ChannelConfigError` naming the variable and field of the first invalid setting.
    Webhooks go to public addresses only, except `trusted_webhook_urls` (the operator's own
    status receiver) or everywhere with `webhook_allow_private` (development, tests).
    """
    env: Mapping[str, str] = os.environ if settings_like is None else settings_like
    sink_path = var_dir / DEFAULT_FILE_NAME
    chains: dict[ChannelName, ProviderChain] = {}
    lists = parse_provider_lists(env)
    for channel, entries in lists.items():
        providers = [_FACTORIES[type(entry)](entry) for entry in entries]
        if not providers:
            chains[channel] = ProviderChain([FileSink(sink_path, channel=channel)], breaker=None)
        else:
            chains[channel] = ProviderChain(providers, breaker=breaker)
    secret = webhook_secret(env)
    if secret:
        # One adapter serves every receiver: no breaker, or one dead receiver would stop all.
        chains[ChannelName.WEBHOOK] = ProviderChain(
            [
                WebhookAdapter(
                    secret=secret,
                    allow_private=webhook_allow_private,
                    trusted_urls=trusted_webhook_urls,
                )
            ],
            breaker=None,
        )
    else:
        chains[ChannelName.WEBHOOK] = ProviderChain(
            [FileSink(sink_path, channel=ChannelName.WEBHOOK)], breaker=None
        )
    return chains
