"""Email through a real SMTP server (aiosmtpd in this process, on a free port)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tidings.notify.channels.smtp import SmtpEmailAdapter, SmtpSettings
from tidings.notify.types import (
    ChannelName,
    PermanentChannelError,
    TransientChannelError,
)

from .conftest import MessageFactory
from .stubs import free_port, self_signed_certificate


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps what it accepts; refuses nobody@ (550) and busy@ (450)."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: No such user"
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted"

    def parsed(self, index: int = 0) -> EmailMessage:
        message = message_from_bytes(self.received[index][2], policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


def start_controller(handler: Mailbox, **kwargs: Any) -> Controller:
    for _ in range(5):
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        try:
            controller.start()
        except OSError:
            continue
        return controller
    raise RuntimeError("no free port for the SMTP server")


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_server(mailbox: Mailbox) -> Iterator[Controller]:
    controller = start_controller(mailbox)
    yield controller
    controller.stop()


def adapter_for(controller: Controller, **overrides: Any) -> SmtpEmailAdapter:
    settings = {
        "host": "127.0.0.1",
        "port": controller.port,
        "sender": "noreply@tidings.example",
        "sender_name": "Tidings钱包",
        "timeout_s": 5,
        **overrides,
    }
    return SmtpEmailAdapter(SmtpSettings.model_validate(settings))


def test_email_arrives_with_text_and_html_parts_utf8_subject_and_a_stable_message_id(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    adapter = adapter_for(smtp_server)
    message = make_message(
        ChannelName.EMAIL,
        to="zhang.san@example.com",
        title="您的借款将于11月27日到期",
        body="您的借款2,000.00元将于11月27日到期，应还2,016.50元。",
        html="<p>您的借款<strong>2,000.00元</strong>将于11月27日到期。</p>",
    )

    result = adapter.send(message)

    assert len(mailbox.received) == 1
    mail_from, rcpt_tos, _ = mailbox.received[0]
    assert (mail_from, rcpt_tos) == ("noreply@tidings.example", ["zhang.san@example.com"])
    email = mailbox.parsed()
    assert email["Subject"] == "您的借款将于11月27日到期"
    assert email["To"] == "zhang.san@example.com"
    assert email["From"].addresses[0].display_name == "Tidings钱包"
    assert email["Message-ID"] == f"<{message.delivery_id}@tidings.example>"
    assert result.provider_message_id == email["Message-ID"]
    assert result.provider == "smtp"
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "应还2,016.50元" in text.get_content()
    assert "<strong>2,000.00元</strong>" in html.get_content()
    assert email["Auto-Submitted"] == "auto-generated"


def test_a_retried_delivery_carries_the_same_message_id(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    adapter = adapter_for(smtp_server)
    message = make_message(ChannelName.EMAIL, to="li@example.com")
    adapter.send(message)
    adapter.send(message)
    assert mailbox.parsed(0)["Message-ID"] == mailbox.parsed(1)["Message-ID"]


def test_text_only_message_is_a_single_utf8_part(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    adapter_for(smtp_server).send(make_message(ChannelName.EMAIL, to="li@example.com", html=None))
    email = mailbox.parsed()
    assert email.get_content_type() == "text/plain"
    assert "星巴克" in email.get_content()


def test_marketing_email_carries_one_click_unsubscribe(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    message = make_message(
        ChannelName.EMAIL,
        to="li@example.com",
        unsubscribe_url="https://t.example/u/1",
        unsubscribe_mailto="mailto:unsubscribe@t.example?subject=unsubscribe%201",
    )
    adapter_for(smtp_server).send(message)
    email = mailbox.parsed()
    assert email["List-Unsubscribe"] == (
        "<https://t.example/u/1>, <mailto:unsubscribe@t.example?subject=unsubscribe%201>"
    )
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_mail_that_is_not_marketing_has_no_list_unsubscribe(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    adapter_for(smtp_server).send(make_message(ChannelName.EMAIL, to="li@example.com"))
    email = mailbox.parsed()
    assert email["List-Unsubscribe"] is None
    assert email["List-Unsubscribe-Post"] is None


def test_unknown_recipient_5xx_is_permanent(
    smtp_server: Controller, make_message: MessageFactory
) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        adapter_for(smtp_server).send(make_message(ChannelName.EMAIL, to="nobody@example.com"))
    assert caught.value.status == 550
    assert "nobody@example.com" not in str(caught.value)
    assert "<n***@example.com>: Recipient address rejected" in caught.value.detail


def test_deferred_recipient_4xx_is_transient(
    smtp_server: Controller, make_message: MessageFactory
) -> None:
    with pytest.raises(TransientChannelError) as caught:
        adapter_for(smtp_server).send(make_message(ChannelName.EMAIL, to="busy@example.com"))
    assert caught.value.status == 450


def test_no_server_listening_is_transient(make_message: MessageFactory) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), sender="noreply@t.example")
    with pytest.raises(TransientChannelError):
        SmtpEmailAdapter(settings).send(make_message(ChannelName.EMAIL, to="li@example.com"))


def test_a_server_that_never_greets_times_out_as_transient(make_message: MessageFactory) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        settings = SmtpSettings(
            host="127.0.0.1", port=port, sender="noreply@t.example", timeout_s=0.3
        )
        with pytest.raises(TransientChannelError, match="Timeout"):
            SmtpEmailAdapter(settings).send(make_message(ChannelName.EMAIL, to="li@example.com"))


def test_a_header_with_a_line_break_is_refused_permanently(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    message = make_message(ChannelName.EMAIL, to="li@example.com\r\nBcc: all@example.com")
    with pytest.raises(PermanentChannelError):
        adapter_for(smtp_server).send(message)
    assert mailbox.received == []


def test_sends_from_several_threads_at_once_all_arrive(
    smtp_server: Controller, mailbox: Mailbox, make_message: MessageFactory
) -> None:
    adapter = adapter_for(smtp_server)
    messages = [make_message(ChannelName.EMAIL, to=f"user{n}@example.com") for n in range(12)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(adapter.send, messages))
    assert len(results) == 12
    assert sorted(r[1][0] for r in mailbox.received) == sorted(m.to for m in messages)


def test_starttls_and_login(tmp_path: Path, mailbox: Mailbox, make_message: MessageFactory) -> None:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = (data.login, data.password) == (b"mailer", b"s3cret-pass")
        if ok:
            mailbox.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    controller = start_controller(
        mailbox,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    try:
        adapter = adapter_for(
            controller,
            security="starttls",
            username="mailer",
            password="s3cret-pass",
            cert_bundle=str(cert),
        )
        adapter.send(make_message(ChannelName.EMAIL, to="li@example.com"))
        assert mailbox.logins == ["mailer"]
        assert len(mailbox.received) == 1

        wrong = adapter_for(
            controller,
            security="starttls",
            username="mailer",
            password="wrong",
            cert_bundle=str(cert),
        )
        with pytest.raises(TransientChannelError) as caught:
            wrong.send(make_message(ChannelName.EMAIL, to="li@example.com"))
        assert caught.value.status == 535
    finally:
        controller.stop()


def test_login_without_tls_is_refused_by_configuration() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpSettings(host="smtp.example.com", sender="a@b.example", username="u", password="p")


def test_repr_hides_the_password() -> None:
    settings = SmtpSettings.model_validate(
        {
            "host": "smtp.example.com",
            "sender": "a@b.example",
            "security": "tls",
            "username": "u",
            "password": "hunter2-very-secret",
        }
    )
    text = repr(SmtpEmailAdapter(settings))
    assert "hunter2" not in text
    assert "password='****'" in text
    assert "hunter2" not in repr(settings)
