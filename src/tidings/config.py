"""One typed place for every setting, read from `TIDINGS_*` environment variables."""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import structlog
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = structlog.get_logger(__name__)

MIN_ADMIN_KEY_CHARS = 32
"""An operator key anyone could guess in a day of tries is no key."""

Days = Annotated[int, Field(ge=1, le=3650)]
"""How long something lasts or is kept: a day to ten years."""
WebhookUrl = Annotated[str, Field(pattern=r"^https?://")]
"""Where a webhook is posted."""
MailAddress = Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")]
"""An email address, as far as a setting needs checking."""


class Settings(BaseSettings):
    """Service settings; every field maps to `TIDINGS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="ignore")

    database_url: str = "sqlite:///var/tidings.db"
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    admin_key: SecretStr | None = None
    data_key: SecretStr | None = Field(
        default=None,
        description="`key_id:base64(32 bytes)`, comma-separated; the first encrypts, all decrypt.",
    )
    lookup_key: SecretStr | None = Field(
        default=None, description="base64(32 bytes) HMAC key for look-up hashes of personal data."
    )
    callback_token: SecretStr | None = Field(
        default=None,
        description="Shared secret providers put in their callback URLs (`?token=`).",
    )
    status_webhook_url: WebhookUrl | None = Field(
        default=None,
        description="A system subscribed to delivery status changes (signed webhooks).",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let users' webhooks reach loopback and private addresses (development).",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Where users reach this service; links in messages are built from it "
        "(default `http://127.0.0.1:<port>`). Use https in production.",
    )
    unsubscribe_mailto: MailAddress | None = Field(
        default=None,
        description="An address marketing emails also offer in List-Unsubscribe (mailto:); "
        "unset: the link only.",
    )
    brand: str = "Tidings钱包"
    brand_en: str = "Tidings Wallet"
    delivery_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a worker owns claimed deliveries."
    )
    dispatch_batch: int = Field(default=200, ge=1, le=5000)
    relay_batch: int = Field(default=500, ge=1, le=5000)
    campaign_batch: int = Field(default=20_000, ge=1, le=200_000)
    """Audience members a campaign freezes and plans per transaction (keyset pages)."""
    send_concurrency: int = Field(
        default=8, ge=1, le=256, description="Sends in flight at once per worker process."
    )
    worker_idle_ms: int = Field(
        default=2_000,
        ge=1,
        le=60_000,
        description="How often an idle worker looks for work anyway. New work wakes it at once "
        "(PostgreSQL LISTEN/NOTIFY, or in-process on SQLite) and an idle dispatcher wakes when "
        "its next delivery comes due (a retry, a quiet-hours wait), so this only bounds how "
        "late it sees a wait that another worker process scheduled while it slept.",
    )
    worker_linger_ms: int = Field(
        default=20,
        ge=0,
        le=1_000,
        description="How long a woken worker loop waits before it claims, so that work arriving "
        "at once is taken in one batch: at hundreds of events a second, batches of one cost "
        "each event a whole transaction's fixed work. Adds at most this to a notice's latency.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs (with a provider "
        "configured, e.g. FASTAPI_OTEL_AUTO_CONFIGURE=true). Off by default: `/metrics` "
        "serves Prometheus, and asking on every request whether OpenTelemetry is set up "
        "costs about 2% of a payment's CPU.",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=500,
        description="Database connections per process (and, in `tidings serve`, requests "
        "handled at once on PostgreSQL). N processes use N times this: keep the sum under "
        "PostgreSQL's `max_connections`.",
    )
    database_busy_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="SQLite: how long a write waits for another process's write transaction "
        "to end (for `<database>.writer`, and in SQLite's busy handler) before it fails with "
        "'database is locked' (the API answers 503).",
    )
    # Follow-up and feedback (issue #18).
    business_timezone: str = Field(
        default="Asia/Shanghai", description="The business calendar's time zone (SLA clocks)."
    )
    business_hours: str = Field(
        default="09:00-18:00",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}(,\d{2}:\d{2}-\d{2}:\d{2})*$",
        description="Working periods of a working day, e.g. `09:00-12:00,13:00-18:00`; "
        "working days are Monday-Friday with China's holidays and make-up days.",
    )
    ticket_auto_close_days: int = Field(
        default=7, ge=1, le=365, description="A pending ticket untouched this long is closed."
    )
    sla_alert_webhook_url: WebhookUrl | None = Field(
        default=None, description="Operators' webhook for SLA breaches."
    )
    sla_alert_email: MailAddress | None = Field(
        default=None, description="Operators' address for SLA breaches."
    )
    default_currency: str = "CNY"
    default_locale: str = "zh-CN"
    default_timezone: str = "Asia/Shanghai"
    low_balance_threshold: int = Field(default=10_000, ge=0, description="Minor units.")
    token_ttl_days: Days = 30
    message_retention_days: Days = Field(
        default=180,
        description="Sent message bodies and inbox items are deleted after (privacy.retention).",
    )
    login_retention_days: Days = Field(
        default=365, description="Reported logins are deleted after."
    )
    idempotency_retention_days: Days = Field(
        default=1,
        description="Stored idempotent answers (they may name a person) are deleted after; a "
        "key is remembered this long.",
    )
    log_level: str = "INFO"
    log_json: bool = True
    allow_time_travel: bool = False
    risk_scoring: bool = Field(
        default=True,
        description="Score outgoing transfers; off only where a core in front already does.",
    )
    risk_model: bool = Field(
        default=False,
        description="Let the online model step up transfers the rules allow, once trained.",
    )
    risk_model_settle_days: int = Field(
        default=30, ge=1, le=365, description="Days without a reported outcome that mean not fraud."
    )
    step_up_amount: int = Field(default=500_000, ge=1, description="Minor units (5,000.00 CNY).")
    verification_code_ttl_seconds: int = Field(
        default=900, ge=30, le=86_400, description="How long a step-up code may be used."
    )
    step_up_hold_ttl_seconds: int = Field(
        default=900, ge=30, le=86_400, description="An unverified held transfer is released after."
    )
    verification_attempts: int = Field(default=3, ge=1, le=10)
    token_rate_limit: int = Field(
        default=20, ge=1, description="Token issuances per user (and per client) per window."
    )
    token_rate_window_seconds: int = Field(default=3600, ge=1)
    verification_rate_limit: int = Field(
        default=10, ge=1, description="Code attempts per user (and per client) per window."
    )
    verification_rate_window_seconds: int = Field(default=600, ge=1)
    # Money bounds and the step-up day total (issue #12).
    max_amount: int = Field(
        default=10**12, ge=1, le=2**63 - 1, description="Minor units one transfer may move."
    )
    # Savings goals (issue #16).
    goal_reward: int = Field(
        default=888, ge=0, le=10**9, description="Minor units paid when a goal is reached; 0: off."
    )
    goal_rewards_per_year: int = Field(
        default=4, ge=0, le=366, description="At most this many goal rewards per user a year."
    )
    step_up_daily_amount: int = Field(
        default=500_000,
        ge=1,
        description="Minor units: a user's outgoing transfers in their local day, this one "
        "included, at or past it ask for a code.",
    )
    # Contact changes and one-time codes (issue #12).
    contact_change_cooling_hours: int = Field(
        default=48,
        ge=0,
        le=24 * 90,
        description="After a phone or email change: large outgoing transfers are refused, and "
        "one-time codes go only to contacts and push tokens older than this.",
    )
    # Input limits and authentication throttling (issue #12).
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Larger request bodies are refused with 413."
    )
    auth_failure_limit: int = Field(
        default=20, ge=1, description="Failed authentications per client address per window."
    )
    auth_failure_window_seconds: int = Field(default=300, ge=1)
    # Pages (issue #15).
    web_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="How long a page session (user or console) lasts."
    )
    web_frame_ancestors: str = Field(
        default="'none'",
        pattern=r"^[A-Za-z0-9 .:/*'_-]+$",
        description="Who may show the pages in a frame (CSP `frame-ancestors`), e.g. "
        "`'self' https://app.example.com` for the company's app webview.",
    )
    web_verify_rate_limit: int = Field(
        default=30, ge=1, description="Checks on the public /verify page per client per window."
    )
    web_verify_rate_window_seconds: int = Field(default=600, ge=1)
    # Event bus (issue #20): off unless a NATS URL is set.
    nats_url: str | None = Field(
        default=None,
        pattern=r"^(nats|tls)://",
        description="NATS with JetStream (e.g. `nats://127.0.0.1:4222`); set, the worker "
        "publishes every outbox event and consumes `tidings.ingest.>` (docs/event-bus.md).",
    )
    bus_publish_batch: int = Field(
        default=1000, ge=1, le=5000, description="Outbox events one publisher round takes."
    )
    bus_ingest_batch: int = Field(
        default=200, ge=1, le=5000, description="Ingest messages one consumer round takes."
    )
    bus_ack_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How long to wait for JetStream's ack."
    )
    bus_retry_delay_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="After a database outage an ingest message is redelivered this much later.",
    )
    bus_pause_before_mark_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Testing only: wait between JetStream's ack and marking the events "
        "published (the window a crash test kills the worker in).",
    )

    @field_validator("admin_key")
    @classmethod
    def _long_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None  # set but empty: no operator key, as when unset
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY_CHARS:
            raise ValueError(
                f"TIDINGS_ADMIN_KEY must be at least {MIN_ADMIN_KEY_CHARS} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return value

    @field_validator("default_currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        return value.upper()

    @property
    def public_base_url(self) -> str:
        """The absolute base of every link we send, without a trailing slash."""
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read_or_create_secret(path: Path, make: str) -> str:
    """Keep a generated secret across restarts so encrypted data stays readable."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    log.warning("config.secret_generated", path=str(path), hint="set it in production")
    return make


def resolve_data_key(settings: Settings) -> str:
    """The data-key spec, generated into `var/` on first run when unset."""
    if settings.data_key is not None:
        return settings.data_key.get_secret_value()
    fresh = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    return _read_or_create_secret(settings.var_dir / "data.key", fresh)


def resolve_lookup_key(settings: Settings) -> str:
    """The look-up hash key, generated into `var/` on first run when unset."""
    if settings.lookup_key is not None:
        return settings.lookup_key.get_secret_value()
    fresh = base64.b64encode(secrets.token_bytes(32)).decode()
    return _read_or_create_secret(settings.var_dir / "lookup.key", fresh)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
