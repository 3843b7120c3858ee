"""FCM HTTP v1-shaped push against a local stub of `messages:send`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError

from tidings.notify.channels.push_fcm import FcmPushAdapter, FcmSettings
from tidings.notify.types import (
    Category,
    ChannelName,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
    UnregisteredRecipient,
)

from .conftest import MessageFactory
from .stubs import Received, Reply, StubServer

TOKEN = "ya29.test-access-token"


def fcm_error(status: int, rpc_status: str, error_code: str | None = None) -> dict[str, object]:
    details = (
        []
        if error_code is None
        else [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        ]
    )
    return {"error": {"code": status, "message": "m", "status": rpc_status, "details": details}}


def fcm(request: Received) -> Reply:
    """Plays FCM: checks the bearer token, then answers by device token."""
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return Reply(401, fcm_error(401, "UNAUTHENTICATED"))
    device = request.json()["message"]["token"]
    if device == "uninstalled":
        return Reply(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
    if device == "garbage":
        return Reply(400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
    if device == "busy":
        return Reply(503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), {"Retry-After": "30"})
    if device == "quota":
        return Reply(429, fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"))
    return Reply(200, {"name": "projects/tidings-test/messages/0:1500415314455276"})


@pytest.fixture
def server() -> Iterator[StubServer]:
    with StubServer(fcm) as running:
        yield running


def adapter_for(server: StubServer, token: str = TOKEN) -> FcmPushAdapter:
    return FcmPushAdapter(
        FcmSettings(
            base_url=server.url,
            project_id="tidings-test",
            access_token=token,
            timeout_s=2,
        )
    )


def test_a_push_is_posted_to_messages_send_with_string_data(
    server: StubServer, make_message: MessageFactory
) -> None:
    message = make_message(
        ChannelName.PUSH,
        to="device-token-1",
        category=Category.CRITICAL,
        kind="security.new_device_login",
        data={"amount": {"value": 12800, "currency": "CNY"}, "city": "上海"},
    )
    result = adapter_for(server).send(message)

    assert result == SendResult(
        provider="fcm", provider_message_id="projects/tidings-test/messages/0:1500415314455276"
    )
    request = server.requests[0]
    assert request.path == "/v1/projects/tidings-test/messages:send"
    sent = request.json()["message"]
    assert sent["token"] == "device-token-1"
    assert sent["notification"] == {"title": message.title, "body": message.body}
    assert sent["data"] == {
        "amount": '{"value": 12800, "currency": "CNY"}',
        "city": "上海",
        "delivery_id": message.delivery_id,
        "kind": "security.new_device_login",
    }
    assert sent["android"]["priority"] == "high"
    assert sent["android"]["notification"]["tag"] == message.delivery_id
    assert sent["apns"]["headers"]["apns-priority"] == "10"
    assert sent["apns"]["headers"]["apns-collapse-id"] == message.delivery_id


def test_a_non_critical_push_is_normal_priority(
    server: StubServer, make_message: MessageFactory
) -> None:
    adapter_for(server).send(make_message(ChannelName.PUSH, to="device-token-2"))
    sent = server.requests[0].json()["message"]
    assert sent["android"]["priority"] == "normal"
    assert sent["apns"]["headers"]["apns-priority"] == "5"


def test_an_unregistered_token_is_permanent(
    server: StubServer, make_message: MessageFactory
) -> None:
    with pytest.raises(PermanentChannelError, match="UNREGISTERED") as caught:
        adapter_for(server).send(make_message(ChannelName.PUSH, to="uninstalled"))
    assert caught.value.status == 404


def test_an_unregistered_token_says_the_device_is_gone_for_good(
    server: StubServer, make_message: MessageFactory
) -> None:
    with pytest.raises(UnregisteredRecipient):
        adapter_for(server).send(make_message(ChannelName.PUSH, to="uninstalled"))


def test_an_invalid_token_is_permanent(server: StubServer, make_message: MessageFactory) -> None:
    with pytest.raises(PermanentChannelError, match="INVALID_ARGUMENT") as caught:
        adapter_for(server).send(make_message(ChannelName.PUSH, to="garbage"))
    assert not isinstance(caught.value, UnregisteredRecipient)


def test_unavailable_is_transient_with_retry_after(
    server: StubServer, make_message: MessageFactory
) -> None:
    with pytest.raises(TransientChannelError) as caught:
        adapter_for(server).send(make_message(ChannelName.PUSH, to="busy"))
    assert (caught.value.status, caught.value.retry_after) == (503, 30.0)


def test_quota_exceeded_is_transient(server: StubServer, make_message: MessageFactory) -> None:
    with pytest.raises(TransientChannelError, match="QUOTA_EXCEEDED"):
        adapter_for(server).send(make_message(ChannelName.PUSH, to="quota"))


def test_an_expired_access_token_is_ours_to_fix_so_transient(
    server: StubServer, make_message: MessageFactory
) -> None:
    with pytest.raises(TransientChannelError) as caught:
        adapter_for(server, token="expired").send(make_message(ChannelName.PUSH, to="t"))
    assert caught.value.status == 401


def test_a_token_provider_is_asked_on_every_send(make_message: MessageFactory) -> None:
    tokens = iter(["first", "second"])
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"name": "n"})

    adapter = FcmPushAdapter(
        FcmSettings(project_id="p", access_token="unused"),
        transport=httpx.MockTransport(answer),
        token_provider=lambda: next(tokens),
    )
    adapter.send(make_message(ChannelName.PUSH, to="t"))
    adapter.send(make_message(ChannelName.PUSH, to="t"))
    assert seen == ["Bearer first", "Bearer second"]


def test_repr_masks_the_access_token() -> None:
    adapter = FcmPushAdapter(FcmSettings(project_id="tidings-prod", access_token=TOKEN))
    assert TOKEN not in repr(adapter)
    assert "tidings-prod" in repr(adapter)


# --- access tokens minted from a service account -------------------------------------------


class GoogleTokenEndpoint:
    """Plays oauth2.googleapis.com/token: verifies the RS256 assertion with the account's
    public key and hands out numbered access tokens."""

    def __init__(self, public_key: rsa.RSAPublicKey, email: str) -> None:
        self.public_key = public_key
        self.email = email
        self.claims: list[dict[str, Any]] = []

    def __call__(self, request: Received) -> Reply:
        form = parse_qs(request.body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        header, claims, signature = form["assertion"][0].split(".")
        try:
            self.public_key.verify(
                unpad(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), SHA256()
            )
        except InvalidSignature:
            return Reply(400, {"error": "invalid_grant"})
        decoded = json.loads(unpad(claims))
        if decoded["iss"] != self.email:
            return Reply(400, {"error": "invalid_grant"})
        self.claims.append(decoded)
        return Reply(200, {"access_token": f"ya29.minted-{len(self.claims)}", "expires_in": 3599})


def unpad(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_tokens_are_minted_from_the_service_account_and_refreshed_before_expiry(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    email = "push@tidings-prod.iam.gserviceaccount.com"
    google = GoogleTokenEndpoint(key.public_key(), email)
    seen_tokens: list[str] = []

    def fcm_minted(request: Received) -> Reply:
        seen_tokens.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer ya29.minted-2" and len(seen_tokens) == 4:
            return Reply(401, fcm_error(401, "UNAUTHENTICATED"))  # revoked early
        return Reply(200, {"name": "projects/tidings-prod/messages/1"})

    clock = MovableClock()
    with StubServer(google) as token_server, StubServer(fcm_minted) as fcm_server:
        key_file = tmp_path / "fcm.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": email,
                    "private_key": pem,
                    "private_key_id": "k1",
                    "token_uri": token_server.url + "/token",
                }
            )
        )
        settings = FcmSettings(
            project_id="tidings-prod", base_url=fcm_server.url, service_account_file=key_file
        )
        adapter = FcmPushAdapter(settings, clock=clock)
        message = make_message(ChannelName.PUSH, to="device-1")
        adapter.send(message)
        clock.now += timedelta(minutes=50)
        adapter.send(message)  # the first token is still good for 9 minutes
        clock.now += timedelta(minutes=5)
        adapter.send(message)  # inside the 5-minute margin: a fresh token
        with pytest.raises(TransientChannelError):
            adapter.send(message)  # 401: the token is forgotten...
        adapter.send(message)  # ...and the retry mints a new one
        adapter.close()

    assert seen_tokens == [
        "Bearer ya29.minted-1",
        "Bearer ya29.minted-1",
        "Bearer ya29.minted-2",
        "Bearer ya29.minted-2",
        "Bearer ya29.minted-3",
    ]
    first = google.claims[0]
    assert first["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert first["aud"] == token_server.url + "/token"
    assert first["exp"] - first["iat"] == 3600
    assert "BEGIN" not in repr(adapter)


def test_a_provider_needs_exactly_one_credential(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        FcmSettings(project_id="p")
    with pytest.raises(ValidationError, match="exactly one"):
        FcmSettings(project_id="p", access_token="t", service_account_file=tmp_path / "k.json")
    with pytest.raises(ValidationError, match="cannot read"):
        FcmSettings(project_id="p", service_account_file=tmp_path / "missing.json")
