"""The generic JSON SMS provider, against a local server and httpx.MockTransport."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tidings.notify.channels.sms_http import HttpSmsAdapter, HttpSmsSettings
from tidings.notify.types import PermanentChannelError, SendResult, TransientChannelError

from .conftest import MessageFactory
from .stubs import Received, Reply, StubServer


def settings(url: str, **overrides: object) -> HttpSmsSettings:
    values: dict[str, object] = {"url": url, "api_key": "sk_live_abcdef123456", "timeout_s": 2}
    values.update(overrides)
    return HttpSmsSettings.model_validate(values)


def test_posts_the_message_with_bearer_key_and_the_delivery_id_as_idempotency_key(
    make_message: MessageFactory,
) -> None:
    with StubServer(lambda request: Reply(201, {"id": "msg-77"})) as server:
        adapter = HttpSmsAdapter(settings(server.url + "/v1/sms", sender="Tidings"))
        message = make_message()
        result = adapter.send(message)

    assert result == SendResult(provider="http", provider_message_id="msg-77")
    request = server.requests[0]
    assert request.path == "/v1/sms"
    assert request.headers["authorization"] == "Bearer sk_live_abcdef123456"
    assert request.headers["idempotency-key"] == message.delivery_id
    assert request.json() == {
        "to": "+8613812348000",
        "body": message.body,
        "id": message.delivery_id,
        "sender": "Tidings",
    }


def test_a_custom_api_key_header_carries_the_bare_key(make_message: MessageFactory) -> None:
    def answer(request: Received) -> Reply:
        return Reply(200, {"id": "1"})

    with StubServer(answer) as server:
        HttpSmsAdapter(settings(server.url, api_key_header="X-API-Key")).send(make_message())
    headers = server.requests[0].headers
    assert headers["x-api-key"] == "sk_live_abcdef123456"
    assert "authorization" not in headers


def test_the_provider_deduplicates_on_the_idempotency_key(make_message: MessageFactory) -> None:
    accepted: dict[str, str] = {}

    def answer(request: Received) -> Reply:
        key = request.headers["idempotency-key"]
        accepted.setdefault(key, f"msg-{len(accepted) + 1}")
        return Reply(200, {"id": accepted[key]})

    with StubServer(answer) as server:
        adapter = HttpSmsAdapter(settings(server.url))
        message = make_message()
        first, second = adapter.send(message), adapter.send(message)
    assert first == second
    assert len(accepted) == 1


def mock_adapter(response: httpx.Response) -> HttpSmsAdapter:
    return HttpSmsAdapter(
        settings("https://sms.example/v1"),
        transport=httpx.MockTransport(lambda request: response),
        clock=lambda: datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
def test_rate_limits_server_errors_and_timeouts_are_transient(
    status: int, make_message: MessageFactory
) -> None:
    with pytest.raises(TransientChannelError) as caught:
        mock_adapter(httpx.Response(status)).send(make_message())
    assert caught.value.status == status
    assert type(caught.value) is TransientChannelError


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_permanent(status: int, make_message: MessageFactory) -> None:
    with pytest.raises(PermanentChannelError):
        mock_adapter(httpx.Response(status, json={"message": "invalid"})).send(make_message())


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Wed, 01 Jan 2025 12:05:00 GMT", 300.0), ("soon", None)],
)
def test_retry_after_in_seconds_or_as_an_http_date(
    header: str, seconds: float | None, make_message: MessageFactory
) -> None:
    response = httpx.Response(429, headers={"Retry-After": header})
    with pytest.raises(TransientChannelError) as caught:
        mock_adapter(response).send(make_message())
    assert caught.value.retry_after == seconds


def test_a_provider_that_does_not_answer_in_time_is_transient(
    make_message: MessageFactory,
) -> None:
    with StubServer(lambda request: Reply(200, {"id": "late"}, delay_s=0.5)) as server:
        adapter = HttpSmsAdapter(settings(server.url, timeout_s=0.2))
        with pytest.raises(TransientChannelError, match="timed out"):
            adapter.send(make_message())


def test_a_2xx_without_an_id_is_still_accepted(make_message: MessageFactory) -> None:
    result = mock_adapter(httpx.Response(202, text="queued")).send(make_message())
    assert result == SendResult(provider="http", provider_message_id=None)


def test_repr_masks_the_api_key_and_url_tokens() -> None:
    adapter = HttpSmsAdapter(settings("https://user:pw@sms.example/v1?token=abc"))
    text = repr(adapter)
    for leaked in ("sk_live", "abc", ":pw@"):
        assert leaked not in text
    assert "sms.example/v1" in text
