"""Every channel for real, end to end: `tidings serve` (API and worker) on SQLite, sending to
servers that run in this test process and play the providers.

- an SMTP server (aiosmtpd) that keeps every message it accepts;
- an Aliyun Dysmsapi `SendSms` stub that checks each request's signature and keeps one SMS per
  OutId; it answers the first message 503, then 429 with `Retry-After: 1`, then OK;
- a webhook receiver that accepts only requests whose Standard Webhooks signature
  `tidings.notify.channels.webhook.verify` accepts.

The server is configured with those providers through its environment, exactly as an
operator would; the test then speaks only HTTP to it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.notify_channels.stubs import (
    AliyunStub,
    Received,
    Reply,
    StubServer,
    aliyun_error,
    free_port,
)
from tidings.notify.channels.webhook import WebhookVerificationError, generate_secret, verify

from .support import (
    CALLBACK_TOKEN,
    Cluster,
    cloud_event,
    cluster,
    cny,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
)

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0
ALIYUN_KEY_ID = "LTAI5tE2eNotifyTest"
ALIYUN_SECRET = "e2e-aliyun-secret-do-not-use"
SIGN_NAME = "Tidings钱包"
PHONE = "13812348821"
EMAIL = "zhang.sanfeng@example.com"
SENDER = "noreply@tidings.example"


# ---------------------------------------------------------------------------------------------
# The providers


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.lock:
            content = envelope.original_content or b""
            self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            raw = [content for _, _, content in self.received]
        parsed = [message_from_bytes(content, policy=policy.default) for content in raw]
        return [m for m in parsed if isinstance(m, EmailMessage)]

    def with_subject(self, subject: str) -> list[EmailMessage]:
        return [m for m in self.messages() if m["Subject"] == subject]


@dataclass
class WebhookReceiver:
    """Accepts (204) only correctly signed requests; remembers both kinds."""

    secret: str
    verified: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __call__(self, request: Received) -> Reply:
        try:
            webhook_id = verify(self.secret, headers=request.headers, body=request.body)
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return Reply(status=401)
        self.verified.append((webhook_id, json.loads(request.body)))
        return Reply(status=204)

    def payloads(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(i, p) for i, p in self.verified if p.get("type") == kind]


@dataclass
class Providers:
    mailbox: Mailbox
    smtp_port: int
    aliyun: AliyunStub
    aliyun_url: str
    webhooks: WebhookReceiver
    webhook_url: str

    def sms_by_out_id(self) -> dict[str, dict[str, str]]:
        """What the SMS stub accepted, keyed by OutId (one SMS per OutId)."""
        return dict(self.aliyun.sent)

    def sms_content(self, out_id: str) -> str:
        content: str = json.loads(self.aliyun.sent[out_id]["TemplateParam"])["content"]
        return content


def _start_smtp(mailbox: Mailbox) -> Controller:
    for _ in range(5):
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
        except OSError:
            continue
        return controller
    raise RuntimeError("no free port for the SMTP server")


@pytest.fixture
def providers() -> Iterator[Providers]:
    mailbox = Mailbox()
    smtp = _start_smtp(mailbox)
    aliyun = AliyunStub(
        key_id=ALIYUN_KEY_ID,
        secret=ALIYUN_SECRET,
        script=[
            aliyun_error(503, "ServiceUnavailable"),
            aliyun_error(429, "Throttling.User", retry_after="1"),
        ],
    )
    receiver = WebhookReceiver(secret=generate_secret())
    try:
        with StubServer(aliyun) as sms_server, StubServer(receiver) as hook_server:
            yield Providers(
                mailbox=mailbox,
                smtp_port=smtp.port,
                aliyun=aliyun,
                aliyun_url=f"{sms_server.url}/",
                webhooks=receiver,
                webhook_url=f"{hook_server.url}/hooks/tidings",
            )
    finally:
        smtp.stop()


def provider_settings(providers: Providers) -> dict[str, str]:
    """The operator's configuration: TIDINGS_*_PROVIDERS as JSON, the webhook secret."""
    sms = {
        "type": "aliyun",
        "access_key_id": ALIYUN_KEY_ID,
        "access_key_secret": ALIYUN_SECRET,
        "sign_name": SIGN_NAME,
        "template_code": "SMS_000001",
        "endpoint": providers.aliyun_url,
        "timeout_s": 5,
    }
    email = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": providers.smtp_port,
        "sender": SENDER,
        "sender_name": SIGN_NAME,
        "timeout_s": 5,
    }
    return {
        "TIDINGS_SMS_PROVIDERS": json.dumps([sms], ensure_ascii=False),
        "TIDINGS_EMAIL_PROVIDERS": json.dumps([email], ensure_ascii=False),
        "TIDINGS_WEBHOOK_SECRET": providers.webhooks.secret,
    }


# ---------------------------------------------------------------------------------------------
# Helpers over the API


def notice_of_kind(client: httpx.Client, user_id: str, kind: str) -> dict[str, Any] | None:
    return next((i for i in inbox_items(client, user_id) if i["kind"] == kind), None)


def deliveries_by_channel(client: httpx.Client, notification_id: str) -> dict[str, dict[str, Any]]:
    detail = ok(client.get(f"/v1/notifications/{notification_id}"))
    found: dict[str, dict[str, Any]] = {}
    for delivery in detail["deliveries"]:
        assert delivery["channel"] not in found, f"two {delivery['channel']} deliveries: {detail}"
        found[delivery["channel"]] = delivery
    return found


def all_final(client: httpx.Client, notification_id: str, channels: set[str]) -> bool:
    by_channel = deliveries_by_channel(client, notification_id)
    return channels <= set(by_channel) and all(
        by_channel[c]["status"] not in ("pending", "sending") for c in channels
    )


# ---------------------------------------------------------------------------------------------
# The test


def test_every_channel_end_to_end_with_retries_callbacks_and_verification(
    tmp_path: Path, providers: Providers
) -> None:
    env = environment(
        f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var", **provider_settings(providers)
    )
    with cluster(tmp_path, env) as running:
        server = running.serve()
        assert server.base_url is not None
        with operator(server.base_url) as client:
            check_every_channel(client, providers, server.base_url, running)
        running.assert_no_crash()


def check_every_channel(
    client: httpx.Client, providers: Providers, base_url: str, running: Cluster
) -> None:
    run = uuid.uuid4().hex[:8]
    user = ok(
        client.post(
            "/v1/users",
            json={
                "external_id": f"zhang-{run}",
                "name": "张三丰",
                "phone": PHONE,
                "email": EMAIL,
                "locale": "zh-CN",
                "timezone": "Asia/Shanghai",
            },
        ),
        201,
    )
    user_id, wallet = user["id"], user["wallet_id"]

    # Money first, while transactional notices still go to the inbox only (the default:
    # inbox and push, and this user has no push token): the SMS stub's scripted 503 and 429
    # are kept for the payment.
    ok(
        client.post(
            "/v1/transfers",
            json={"kind": "top_up", "destination": wallet, "amount": cny(500_000)},
        ),
        201,
    )
    wait_until(
        lambda: notice_of_kind(client, user_id, "wallet.top_up.succeeded"),
        timeout=TIMEOUT,
        watch=running,
        what="the top-up notice",
    )
    assert providers.aliyun.answers == []
    assert providers.mailbox.received == []

    prefs = ok(
        client.put(
            f"/v1/users/{user_id}/preferences",
            json={
                "channels": {"transactional": ["inbox", "sms", "email", "webhook"]},
                "webhook_url": providers.webhook_url,
            },
        )
    )
    assert prefs["channels"]["transactional"] == ["inbox", "sms", "email", "webhook"]
    assert prefs["webhook_url"] == providers.webhook_url
    # The endpoint's own secret, shown once: the receiver verifies with it from now on.
    assert prefs["webhook_secret"].startswith("whsec_")
    providers.webhooks.secret = prefs["webhook_secret"]

    # (a) A payment of 1,288.00 CNY reaches all four channels; SMS only at the third try.
    payment = ok(
        client.post(
            "/v1/transfers",
            json={
                "kind": "payment",
                "source": wallet,
                "amount": cny(128_800),
                "merchant": {"name": "星巴克", "category": "5814"},
            },
        ),
        201,
    )
    assert payment["status"] == "succeeded"
    kind = "wallet.payment.succeeded"
    notice = wait_until(
        lambda: notice_of_kind(client, user_id, kind),
        timeout=TIMEOUT,
        what="the payment notice",
        watch=running,
    )
    wait_until(
        lambda: all_final(client, notice["id"], {"inbox", "sms", "email", "webhook"}),
        timeout=TIMEOUT,
        watch=running,
        what="every channel of the payment notice to finish",
    )
    deliveries = deliveries_by_channel(client, notice["id"])
    assert {c: d["status"] for c, d in deliveries.items()} == {
        "inbox": "sent",
        "sms": "sent",
        "email": "sent",
        "webhook": "sent",
    }, deliveries

    # In the inbox: the figures in zh-CN format and the authenticity code.
    body = notice["body"]
    assert notice["title"] == "消费提醒"
    assert "1,288.00元" in body
    assert "星巴克" in body
    assert "3,712.00元" in body  # the balance after it
    assert "防伪码" in body

    # SMS: 503, then 429 (Retry-After: 1), then accepted, each attempt recorded.
    sms = deliveries["sms"]
    assert [(a["outcome"], a["status_code"]) for a in sms["attempts"]] == [
        ("retryable", 503),
        ("retryable", 429),
        ("sent", None),
    ], sms["attempts"]
    assert all(a["provider"] == "aliyun" for a in sms["attempts"])
    stamps = [datetime.fromisoformat(a["at"]) for a in sms["attempts"]]
    waited = (stamps[2] - stamps[1]).total_seconds()
    assert waited >= 1.0, f"the retry after the 429 came {waited:.2f} s later, before Retry-After"
    assert providers.aliyun.answers[:3] == ["ServiceUnavailable", "Throttling.User", "OK"]
    accepted = providers.sms_by_out_id()
    assert list(accepted) == [sms["id"]], "the OutId is the delivery id"
    sent_sms = accepted[sms["id"]]
    assert sent_sms["PhoneNumbers"] == PHONE
    assert sent_sms["SignName"] == SIGN_NAME
    content = providers.sms_content(sms["id"])
    assert "1,288.00元" in content
    assert "星巴克" in content
    assert "防伪码" in content
    assert not content.startswith(f"【{SIGN_NAME}】"), "Aliyun adds the signature itself"

    # Email: text and HTML alternatives, the same figures, the code, a stable Message-ID.
    emails = providers.mailbox.messages()
    assert len(emails) == 1
    email = emails[0]
    mail_from, rcpt_tos, _ = providers.mailbox.received[0]
    assert (mail_from, rcpt_tos) == (SENDER, [EMAIL])
    assert email["Subject"] == "消费提醒"
    assert email["From"].addresses[0].display_name == SIGN_NAME
    assert email["Message-ID"] == f"<{deliveries['email']['id']}@tidings.example>"
    assert email.get_content_type() == "multipart/alternative"
    text_part = email.get_body(preferencelist=("plain",))
    html_part = email.get_body(preferencelist=("html",))
    assert text_part is not None
    assert html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for part in (text, html):
        assert "1,288.00元" in part
        assert "星巴克" in part
        assert "防伪码" in part
    assert "<html" in html.lower()

    # Webhook: one request, signature verified, the webhook id is the delivery id.
    assert providers.webhooks.refused == []
    hooks = providers.webhooks.payloads(kind)
    assert len(hooks) == 1
    webhook_id, payload = hooks[0]
    assert webhook_id == deliveries["webhook"]["id"]
    # The body is a CloudEvent whose id is the delivery (and webhook) id.
    assert payload["specversion"] == "1.0"
    assert payload["id"] == webhook_id
    assert payload["subject"] == user_id
    assert payload["data"]["notification_id"] == notice["id"]
    assert payload["data"]["category"] == "transactional"
    assert payload["data"]["amount"] == cny(128_800)
    assert payload["data"]["merchant"]["name"] == "星巴克"

    # (b) A new-device login is critical: inbox, SMS and email at once (push is unreachable).
    ok(
        client.post(
            "/v1/events",
            json=cloud_event(
                event_id=f"login-{run}",
                type_="security.login.new_device",
                subject=user_id,
                data={"device": "iPhone 15 Pro", "city": "深圳"},
            ),
        ),
        202,
    )
    alert = wait_until(
        lambda: notice_of_kind(client, user_id, "security.login.new_device"),
        timeout=TIMEOUT,
        watch=running,
        what="the new-device alert in the inbox",
    )
    assert alert["category"] == "critical"
    wait_until(
        lambda: all_final(client, alert["id"], {"inbox", "sms", "email"}),
        timeout=TIMEOUT,
        watch=running,
        what="every channel of the new-device alert to finish",
    )
    alert_deliveries = deliveries_by_channel(client, alert["id"])
    sent_channels = {c for c, d in alert_deliveries.items() if d["status"] == "sent"}
    assert sent_channels >= {"inbox", "sms", "email"}, alert_deliveries
    assert "iPhone 15 Pro" in alert["body"]
    alert_sms = alert_deliveries["sms"]["id"]
    assert alert_sms in providers.sms_by_out_id()
    assert "iPhone 15 Pro" in providers.sms_content(alert_sms)
    alert_emails = providers.mailbox.with_subject("新设备登录提醒")
    assert len(alert_emails) == 1
    assert alert_emails[0]["Message-ID"] == f"<{alert_deliveries['email']['id']}@tidings.example>"

    # (c) The inbox text is genuine; a copy with one figure changed is not.
    genuine = ok(client.post("/v1/messages/verify", json={"text": body}))
    assert genuine["genuine"] is True
    assert genuine["kind"] == kind
    tampered = body.replace("1,288.00元", "1,888.00元")
    assert tampered != body
    forged = ok(client.post("/v1/messages/verify", json={"text": tampered}))
    assert forged["genuine"] is False
    # The SMS as the phone showed it is genuine too (Aliyun put the signature in front).
    shown = f"【{SIGN_NAME}】" + providers.sms_content(sms["id"])
    assert ok(client.post("/v1/messages/verify", json={"text": shown}))["genuine"] is True

    # (d) Aliyun's SmsReport for the payment's SMS (out_id = our delivery id) → delivered.
    report = [
        {
            "phone_number": PHONE,
            "send_time": "2026-11-24 15:30:01",
            "report_time": "2026-11-24 15:30:04",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": "biz-1",
            "out_id": sms["id"],
        }
    ]
    callback = f"{base_url}/v1/providers/aliyun/sms-report"
    refused = httpx.post(callback, params={"token": "wrong"}, json=report, trust_env=False)
    assert refused.status_code == 401
    assert deliveries_by_channel(client, notice["id"])["sms"]["status"] == "sent"
    answer = httpx.post(callback, params={"token": CALLBACK_TOKEN}, json=report, trust_env=False)
    assert ok(answer) == {"code": 0, "msg": "成功"}
    reported = deliveries_by_channel(client, notice["id"])["sms"]
    assert reported["status"] == "delivered"
    assert reported["final_at"] is not None
    # The same report again (Aliyun retries its pushes) changes nothing.
    again = httpx.post(callback, params={"token": CALLBACK_TOKEN}, json=report, trust_env=False)
    assert ok(again) == {"code": 0, "msg": "成功"}
    assert deliveries_by_channel(client, notice["id"])["sms"] == reported

    # (e) The same CloudEvent twice is one notice: one inbox item, one SMS, one email, one
    # webhook. A later event to the same user is the marker: once its SMS has arrived, the
    # earlier one's copies would have too (each user's messages go out in order).
    repeated = cloud_event(
        event_id=f"incoming-{run}",
        type_="wallet.transfer.received",
        subject=user["external_id"],
        data={"amount": cny(52_000), "counterparty": "李四", "balance_after": cny(423_200)},
    )
    first_post = ok(client.post("/v1/events", json=repeated), 202)
    second_post = ok(client.post("/v1/events", json=repeated), 202)
    assert (first_post["duplicate"], second_post["duplicate"]) == (False, True)
    assert second_post["id"] == first_post["id"]
    marker = cloud_event(
        event_id=f"marker-{run}",
        type_="wallet.transfer.received",
        subject=user_id,
        data={"amount": cny(1_314), "counterparty": "王五", "balance_after": cny(424_514)},
    )
    ok(client.post("/v1/events", json=marker), 202)

    def marker_notice() -> dict[str, Any] | None:
        return next(
            (
                i
                for i in inbox_items(client, user_id)
                if i["kind"] == "wallet.transfer.received" and "13.14元" in i["body"]
            ),
            None,
        )

    marked = wait_until(
        marker_notice, timeout=TIMEOUT, what="the marker event's notice", watch=running
    )
    wait_until(
        lambda: all_final(client, marked["id"], {"inbox", "sms", "email", "webhook"}),
        timeout=TIMEOUT,
        watch=running,
        what="every channel of the marker event to finish",
    )
    received = [i for i in inbox_items(client, user_id) if i["kind"] == "wallet.transfer.received"]
    assert sorted("520.00元" in i["body"] for i in received) == [False, True]
    texts = [json.loads(p["TemplateParam"])["content"] for p in providers.sms_by_out_id().values()]
    assert sum("520.00元" in t for t in texts) == 1
    assert len(providers.mailbox.with_subject("到账提醒")) == 2
    hooks = providers.webhooks.payloads("wallet.transfer.received")
    assert sorted(p["data"]["amount"]["value"] for _, p in hooks) == [1_314, 52_000]
    # Nothing was sent twice to any provider.
    assert len(providers.aliyun.sent) == len(set(providers.aliyun.sent))
    assert providers.aliyun.answers.count("OK") == len(providers.aliyun.sent)
    assert len({m["Message-ID"] for m in providers.mailbox.messages()}) == len(
        providers.mailbox.received
    )
    assert len({i for i, _ in providers.webhooks.verified}) == len(providers.webhooks.verified)
