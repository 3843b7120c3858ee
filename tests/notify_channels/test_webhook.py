"""Standard Webhooks: signing, a real receiver that verifies, and delivery outcomes."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from standardwebhooks import Webhook
from standardwebhooks.webhooks import (
    WebhookVerificationError as StandardWebhookVerificationError,
)

from tidings.notify.channels.webhook import (
    WebhookAdapter,
    WebhookVerificationError,
    decode_secret,
    generate_secret,
    sign,
    verify,
)
from tidings.notify.types import (
    ChannelName,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

from .conftest import MessageFactory
from .stubs import Received, Reply, StubServer

SECRET = generate_secret()

CLOUD_EVENT = {
    "specversion": "1.0",
    "id": "evt_01HX",
    "source": "/tidings/wallets",
    "type": "com.tidings.wallet.payment",
    "time": "2025-11-24T07:30:00Z",
    "datacontenttype": "application/json",
    "data": {"amount": {"value": 12800, "currency": "CNY"}, "merchant": "星巴克"},
}


class Receiver:
    """A receiver as we document it: verify the raw body, answer 204, or 400 with why."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.accepted: list[tuple[str, dict[str, object]]] = []
        self.refused: list[str] = []

    def __call__(self, request: Received) -> Reply:
        try:
            msg_id = verify(self.secret, headers=request.headers, body=request.body)
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return Reply(400, {"error": str(exc)})
        self.accepted.append((msg_id, json.loads(request.body)))
        return Reply(204)


def test_signature_matches_the_specifications_example() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body='{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_cloud_event_is_verified_by_the_receiver(make_message: MessageFactory) -> None:
    receiver = Receiver(SECRET)
    with StubServer(receiver) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url + "/hooks", data=CLOUD_EVENT)
        result = WebhookAdapter(secret=SECRET, allow_private=True).send(message)

    assert result == SendResult(provider="webhook")
    assert receiver.accepted == [(message.delivery_id, CLOUD_EVENT)]
    headers = server.requests[0].headers
    assert headers["webhook-id"] == message.delivery_id
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    parsed = from_http_event(HTTPMessage(headers=dict(headers), body=server.requests[0].body))
    assert parsed.get_id() == CLOUD_EVENT["id"]
    assert parsed.get_data() == CLOUD_EVENT["data"]


def test_a_tampered_body_or_an_old_timestamp_is_refused(make_message: MessageFactory) -> None:
    receiver = Receiver(SECRET)
    with StubServer(receiver) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url, data=CLOUD_EVENT)
        WebhookAdapter(secret=SECRET, allow_private=True).send(message)
    request = server.requests[0]

    tampered = request.body.replace(b"12800", b"99800")
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(SECRET, headers=request.headers, body=tampered)

    later = int(request.headers["webhook-timestamp"]) + 301
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, headers=request.headers, body=request.body, now=later)

    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(generate_secret(), headers=request.headers, body=request.body)


def test_a_receiver_refuses_a_replay_signed_long_ago(make_message: MessageFactory) -> None:
    receiver = Receiver(SECRET)
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    with StubServer(receiver) as server:
        adapter = WebhookAdapter(secret=SECRET, allow_private=True, clock=lambda: ten_minutes_ago)
        message = make_message(ChannelName.WEBHOOK, to=server.url, data=CLOUD_EVENT)
        with pytest.raises(TransientChannelError) as caught:
            adapter.send(message)
    assert caught.value.status == 400
    assert receiver.refused == ["webhook-timestamp is outside the tolerance"]


def test_during_a_rotation_any_listed_signature_is_accepted() -> None:
    old, new = generate_secret(), generate_secret()
    body = b'{"a":1}'
    header = " ".join(
        [
            sign(old, msg_id="m1", timestamp=1_700_000_000, body=body),
            sign(new, msg_id="m1", timestamp=1_700_000_000, body=body),
        ]
    )
    headers = {"Webhook-Id": "m1", "Webhook-Timestamp": "1700000000", "Webhook-Signature": header}
    assert verify(new, headers=headers, body=body, now=1_700_000_010) == "m1"
    assert verify(old, headers=headers, body=body, now=1_700_000_010) == "m1"


def test_missing_headers_are_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="webhook-signature"):
        verify(SECRET, headers={"webhook-id": "m", "webhook-timestamp": "1"}, body=b"{}")


def test_410_gone_is_permanent(make_message: MessageFactory) -> None:
    with StubServer(lambda request: Reply(410)) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url, data=CLOUD_EVENT)
        with pytest.raises(PermanentChannelError) as caught:
            WebhookAdapter(secret=SECRET, allow_private=True).send(message)
    assert caught.value.status == 410


@pytest.mark.parametrize("status", [500, 503, 429, 404, 400])
def test_other_failures_are_retried_as_the_specification_asks(
    status: int, make_message: MessageFactory
) -> None:
    with StubServer(lambda request: Reply(status, headers={"Retry-After": "90"})) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url, data=CLOUD_EVENT)
        with pytest.raises(TransientChannelError) as caught:
            WebhookAdapter(secret=SECRET, allow_private=True).send(message)
    assert (caught.value.status, caught.value.retry_after) == (status, 90.0)


def test_a_slow_receiver_times_out_as_transient(make_message: MessageFactory) -> None:
    with StubServer(lambda request: Reply(204, delay_s=0.5)) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url, data=CLOUD_EVENT)
        with pytest.raises(TransientChannelError, match="timed out"):
            WebhookAdapter(secret=SECRET, allow_private=True, timeout_s=0.2).send(message)


def test_a_non_http_url_is_permanent(make_message: MessageFactory) -> None:
    message = make_message(ChannelName.WEBHOOK, to="file:///etc/passwd", data=CLOUD_EVENT)
    with pytest.raises(PermanentChannelError, match="scheme"):
        WebhookAdapter(secret=SECRET, allow_private=True).send(message)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5:5432/",
        "http://[::1]:8000/admin",
        "http://[::ffff:192.168.1.1]/",
        "https://localhost/hooks",
    ],
)
def test_a_users_webhook_into_our_own_network_is_refused_without_a_request(
    url: str, make_message: MessageFactory
) -> None:
    message = make_message(ChannelName.WEBHOOK, to=url, data=CLOUD_EVENT)
    with pytest.raises(PermanentChannelError, match="refused destination"):
        WebhookAdapter(secret=SECRET).send(message)


def test_a_name_that_resolves_to_a_private_address_is_refused(
    make_message: MessageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(SECRET)
    with StubServer(receiver) as server:
        port = server.url.rsplit(":", 1)[1]
        real = socket.getaddrinfo
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: (
                real("127.0.0.1", *a, **k) if host == "hooks.example.com" else real(host, *a, **k)
            ),
        )
        message = make_message(
            ChannelName.WEBHOOK, to=f"http://hooks.example.com:{port}/h", data=CLOUD_EVENT
        )
        with pytest.raises(PermanentChannelError, match=r"resolves to 127\.0\.0\.1"):
            WebhookAdapter(secret=SECRET).send(message)
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "sent_to", "host", "tls_name"),
    [
        ("http://hooks.example.com/h", "http://93.184.216.34/h", "hooks.example.com", None),
        (
            "https://hooks.example.com:8443/h?x=1",
            "https://93.184.216.34:8443/h?x=1",
            "hooks.example.com:8443",
            "hooks.example.com",
        ),
    ],
)
def test_the_post_goes_to_the_address_that_was_checked_not_to_a_second_look_up(
    url: str,
    sent_to: str,
    host: str,
    tls_name: str | None,
    make_message: MessageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name answers a public address for the check, then 127.0.0.1.
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])

    def rebinding(
        host: str, port: int, *args: object, **kwargs: object
    ) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    adapter = WebhookAdapter(secret=SECRET, transport=httpx.MockTransport(receiver))
    message = make_message(ChannelName.WEBHOOK, to=url, data=CLOUD_EVENT)
    assert adapter.send(message) == SendResult(provider="webhook")
    (request,) = seen
    assert str(request.url) == sent_to
    assert request.headers["host"] == host
    assert request.extensions.get("sni_hostname") == tls_name
    # Signed as usual: the receiver verifies what it got.
    verify(SECRET, headers=dict(request.headers), body=request.content)


def test_the_operators_own_status_receiver_is_trusted(make_message: MessageFactory) -> None:
    receiver = Receiver(SECRET)
    with StubServer(receiver) as server:
        adapter = WebhookAdapter(secret=SECRET, trusted_urls=frozenset({server.url + "/status"}))
        ok = make_message(ChannelName.WEBHOOK, to=server.url + "/status", data=CLOUD_EVENT)
        assert adapter.send(ok) == SendResult(provider="webhook")
        other = make_message(ChannelName.WEBHOOK, to=server.url + "/other", data=CLOUD_EVENT)
        with pytest.raises(PermanentChannelError):
            adapter.send(other)
    assert len(receiver.accepted) == 1


def test_secrets_are_whsec_base64_of_enough_random_bytes() -> None:
    assert len(decode_secret(generate_secret())) == 32
    with pytest.raises(ValueError, match="base64"):
        decode_secret("whsec_not base64!")
    with pytest.raises(ValueError, match="24"):
        decode_secret("whsec_c2hvcnQ=")


def test_the_operators_secret_may_list_a_second_one_for_a_rotation(
    make_message: MessageFactory,
) -> None:
    new, old = generate_secret(), generate_secret()
    receivers = [Receiver(new), Receiver(old)]

    def both(request: Received) -> Reply:
        replies = [receiver(request) for receiver in receivers]
        return replies[0]

    with StubServer(both) as server:
        message = make_message(ChannelName.WEBHOOK, to=server.url + "/status", data=CLOUD_EVENT)
        WebhookAdapter(secret=f"{new} {old}", allow_private=True).send(message)
        [request] = server.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    assert all(len(r.accepted) == 1 for r in receivers)
    for secret in (new, old):
        Webhook(secret).verify(request.body, dict(request.headers))


def test_a_message_with_its_endpoints_own_secret_is_signed_with_that_alone(
    make_message: MessageFactory,
) -> None:
    own = generate_secret()
    with StubServer(lambda request: Reply(204)) as server:
        message = dataclasses.replace(
            make_message(ChannelName.WEBHOOK, to=server.url + "/hooks", data=CLOUD_EVENT),
            signing_secrets=(own,),
        )
        WebhookAdapter(secret=SECRET, allow_private=True).send(message)
        [request] = server.requests
    Webhook(own).verify(request.body, dict(request.headers))
    with pytest.raises(StandardWebhookVerificationError):
        Webhook(SECRET).verify(request.body, dict(request.headers))


def test_unpadded_secrets_are_accepted_as_the_reference_library_accepts_them() -> None:
    padded = generate_secret()
    unpadded = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    assert decode_secret(padded.rstrip("=")) == Webhook(padded.rstrip("="))._whsecret
    assert decode_secret(unpadded) == Webhook(unpadded)._whsecret == b"k" * 25


def test_repr_hides_the_secret() -> None:
    adapter = WebhookAdapter(secret=SECRET, allow_private=True)
    assert SECRET.removeprefix("whsec_") not in repr(adapter)
    assert "secret='****'" in repr(adapter)
