"""Email over real SMTP with aiosmtplib, behind a synchronous `send`.

Each `send` runs its own short-lived event loop (`asyncio.run`) and its own SMTP session,
so worker threads never share a loop or a connection; the cost, one TCP handshake per
message, is small next to the relay's own work. The Message-ID is derived from the delivery
id, so a retried send carries the same id and mail systems can recognise the duplicate.
"""

from __future__ import annotations

import asyncio
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr, model_validator

from tidings.notify.channels._http import WallClock, utc_now
from tidings.notify.channels.base import ChannelInfo, ProviderConfig, describe, mask_secret
from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from tidings.privacy.masking import mask_email

SmtpSecurity = Literal["plain", "starttls", "tls"]
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class SmtpSettings(ProviderConfig):
    """One SMTP relay (an entry of `TIDINGS_EMAIL_PROVIDERS` with `"type": "smtp"`)."""

    type: Literal["smtp"] = "smtp"
    name: str = "smtp"
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="The From address.")
    sender_name: str | None = Field(default=None, description="Display name, e.g. Tidings钱包.")
    security: SmtpSecurity = Field(
        default="plain",
        description="plain: no TLS (a local relay); starttls: upgrade (587); tls: implicit (465).",
    )
    username: str | None = None
    password: SecretStr | None = None
    cert_bundle: str | None = Field(
        default=None, description="CA file to trust instead of the system store (private CAs)."
    )
    message_id_domain: str | None = Field(
        default=None, description="Right-hand side of Message-IDs; the sender's domain by default."
    )
    timeout_s: float = Field(default=15.0, gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _credentials_need_tls(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.username is not None and self.security == "plain":
            raise ValueError("a login needs security 'starttls' or 'tls' (no passwords in clear)")
        return self


def _subject(message: OutgoingMessage) -> str:
    """The title, else the body's first line: a subject is one line, whatever the template did."""
    lines = message.body.strip().splitlines()
    text = message.title or (lines[0][:78] if lines else message.kind)
    return " ".join(text.split())


def list_unsubscribe(message: OutgoingMessage) -> str | None:
    """RFC 2369 List-Unsubscribe: the `/u/` link (which takes RFC 8058 one-click POSTs),
    then the `mailto:`; None for mail that is not marketing. Mailbox providers honour
    one-click only over https: set `TIDINGS_PUBLIC_URL` to an https address in production."""
    links = [
        f"<{link}>"
        for link in (message.unsubscribe_url, message.unsubscribe_mailto)
        if link and link.startswith(("https://", "http://", "mailto:"))
    ]
    return ", ".join(links) or None


def message_id(delivery_id: str, domain: str) -> str:
    """`<delivery-id@domain>`: stable across retries of one delivery, unique across deliveries."""
    return f"<{_UNSAFE_ID_CHARS.sub('_', delivery_id)}@{domain}>"


class SmtpEmailAdapter:
    """Sends one multipart/alternative email (text, plus HTML when rendered) per call."""

    def __init__(self, settings: SmtpSettings, *, clock: WallClock = utc_now) -> None:
        self.settings = settings
        self._clock = clock
        self._domain = settings.message_id_domain or settings.sender.rpartition("@")[2]
        self._info = ChannelInfo(
            name=settings.name,
            channel=ChannelName.EMAIL,
            body_limit=None,
            rate_per_s=settings.rate_per_s,
        )

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message for one delivery (public so tests and previews can inspect it)."""
        settings = self.settings
        email = EmailMessage()
        local, _, domain = settings.sender.rpartition("@")
        email["From"] = Address(
            display_name=settings.sender_name or "", username=local, domain=domain
        )
        email["To"] = message.to
        email["Subject"] = _subject(message)
        email["Date"] = format_datetime(self._clock())
        email["Message-ID"] = message_id(message.delivery_id, self._domain)
        email["Auto-Submitted"] = "auto-generated"
        unsubscribe = list_unsubscribe(message)
        if unsubscribe is not None:
            email["List-Unsubscribe"] = unsubscribe
            if message.unsubscribe_url:
                email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(message.body, charset="utf-8")
        if message.html:
            email.add_alternative(message.html, subtype="html", charset="utf-8")
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            email = self.build(message)
        except ValueError as exc:  # a header with a line break, an unparsable address
            raise PermanentChannelError(
                f"cannot build the email: {exc}", provider=self._info.name
            ) from exc
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "SmtpEmailAdapter.send blocks; call it from a worker thread, not an event loop"
            )
        asyncio.run(self._send(email, recipient=message.to))
        return SendResult(provider=self._info.name, provider_message_id=email["Message-ID"])

    async def _send(self, email: EmailMessage, *, recipient: str) -> None:
        settings = self.settings
        name = self._info.name
        try:
            await aiosmtplib.send(
                email,
                recipients=[recipient],
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=None
                if settings.password is None
                else settings.password.get_secret_value(),
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                cert_bundle=settings.cert_bundle,
                timeout=settings.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _classify_refusals(exc, provider=name, recipient=recipient) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _classify_response(exc, provider=name, recipient=recipient) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused or dropped, time-outs, TLS trouble, a missing extension:
            # the relay or our settings, never the message; retry (or another provider).
            raise TransientChannelError(f"{type(exc).__name__}: {exc}", provider=name) from exc

    def __repr__(self) -> str:
        settings = self.settings
        return describe(
            "SmtpEmailAdapter",
            name=settings.name,
            host=settings.host,
            port=settings.port,
            security=settings.security,
            sender=settings.sender,
            username=settings.username,
            password=mask_secret(None if settings.password is None else "set"),
        )


def _scrub(detail: str, recipient: str) -> str:
    """Relays echo the address back ("<li@example.com>: no such user"); attempts are logged."""
    return detail.replace(recipient, mask_email(recipient))


def _classify_refusals(
    exc: aiosmtplib.SMTPRecipientsRefused, *, provider: str, recipient: str
) -> TransientChannelError | PermanentChannelError:
    """RCPT TO refused: 4xx (mailbox busy, greylisting) retries; 5xx (no such user) does not."""
    codes = [refusal.code for refusal in exc.recipients]
    refusals = "; ".join(f"{r.code} {r.message}" for r in exc.recipients) or "recipient refused"
    detail = _scrub(refusals, recipient)
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentChannelError(
            f"recipient refused: {detail}", provider=provider, status=codes[0]
        )
    return TransientChannelError(
        f"recipient deferred: {detail}", provider=provider, status=codes[0] if codes else None
    )


def _classify_response(
    exc: aiosmtplib.SMTPResponseException, *, provider: str, recipient: str
) -> TransientChannelError | PermanentChannelError:
    """4xx is always "try later". A 5xx is permanent only when it is about this message
    (RCPT, DATA: content rejected, too big); a 5xx to HELO, MAIL FROM or AUTH is our relay
    configuration, which another provider or a fix can overcome, so it stays transient."""
    detail = _scrub(f"{exc.code} {exc.message}", recipient)
    about_message = isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError)
    if 500 <= exc.code < 600 and about_message:
        return PermanentChannelError(detail, provider=provider, status=exc.code)
    return TransientChannelError(detail, provider=provider, status=exc.code)
