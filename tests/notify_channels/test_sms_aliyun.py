"""Aliyun SendSms against a local server that plays Dysmsapi (signature, OutId, errors)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest

from tidings.notify.channels.base import RecipientRateLimited
from tidings.notify.channels.retry import MESSAGE_POLICY
from tidings.notify.channels.sms_aliyun import (
    AliyunSmsAdapter,
    AliyunSmsSettings,
    aliyun_phone_number,
    rpc_signature,
)
from tidings.notify.types import (
    Category,
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

from .conftest import MessageFactory
from .stubs import AliyunStub, StubServer, aliyun_error

KEY_ID = "LTAI5tTestKeyId0001"
SECRET = "test-secret-do-not-leak"


def settings_for(url: str, **overrides: object) -> AliyunSmsSettings:
    values: dict[str, object] = {
        "type": "aliyun",
        "endpoint": url + "/",
        "access_key_id": KEY_ID,
        "access_key_secret": SECRET,
        "sign_name": "Tidings钱包",
        "template_code": "SMS_1",
        "timeout_s": 2,
    }
    values.update(overrides)
    return AliyunSmsSettings.model_validate(values)


@pytest.fixture
def stub() -> AliyunStub:
    return AliyunStub(key_id=KEY_ID, secret=SECRET)


@pytest.fixture
def server(stub: AliyunStub) -> Iterator[StubServer]:
    with StubServer(stub) as running:
        yield running


def test_signature_matches_aliyuns_published_examples() -> None:
    """Worked examples from Aliyun's RPC signature and SMS HTTP-protocol documentation."""
    ecs = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert rpc_signature(ecs, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    sms = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert rpc_signature(sms, "testSecret", method="GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_an_accepted_sms_returns_the_bizid_and_sends_the_delivery_id_as_outid(
    server: StubServer, stub: AliyunStub, make_message: MessageFactory
) -> None:
    at = datetime(2025, 11, 24, 7, 30, 5, tzinfo=UTC)
    adapter = AliyunSmsAdapter(settings_for(server.url), clock=lambda: at)
    message = make_message()

    result = adapter.send(message)

    assert result == SendResult(provider="aliyun", provider_message_id="biz-1")
    sent = stub.sent[message.delivery_id]
    assert sent["Action"] == "SendSms"
    assert sent["Version"] == "2017-05-25"
    assert sent["PhoneNumbers"] == "13812348000"
    assert sent["SignName"] == "Tidings钱包"
    assert sent["TemplateCode"] == "SMS_1"
    assert sent["Timestamp"] == "2025-11-24T07:30:05Z"
    assert sent["Format"] == "JSON"
    assert (sent["SignatureMethod"], sent["SignatureVersion"]) == ("HMAC-SHA1", "1.0")
    # The default template gets the body, without the signature Aliyun adds itself.
    assert json.loads(sent["TemplateParam"]) == {
        "content": "您尾号8821的钱包于11月24日15:30消费128.00元（星巴克）。"
    }
    assert server.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_a_message_with_its_own_template_sends_that_template_and_its_params(
    server: StubServer, stub: AliyunStub, make_message: MessageFactory
) -> None:
    message = make_message(template_code="SMS_REPAY_T3", template_params={"amount": "2,016.50"})
    AliyunSmsAdapter(settings_for(server.url)).send(message)
    sent = stub.sent[message.delivery_id]
    assert sent["TemplateCode"] == "SMS_REPAY_T3"
    assert json.loads(sent["TemplateParam"]) == {"amount": "2,016.50"}


def test_503_then_429_with_retry_after_then_ok_under_the_message_retry_policy(
    server: StubServer, stub: AliyunStub, make_message: MessageFactory
) -> None:
    stub.script.extend(
        [
            aliyun_error(503, "ServiceUnavailable"),
            aliyun_error(429, "Throttling.User", retry_after="7"),
        ]
    )
    adapter = AliyunSmsAdapter(settings_for(server.url))
    message = make_message()
    rng = random.Random(1)
    waits: list[float] = []
    attempt = 0
    while True:
        attempt += 1
        try:
            result = adapter.send(message)
            break
        except TransientChannelError as exc:
            delay = MESSAGE_POLICY.next_delay(attempt, exc.retry_after, rng)
            assert delay is not None
            waits.append(delay)

    assert result.provider_message_id == "biz-1"
    assert stub.answers == ["ServiceUnavailable", "Throttling.User", "OK"]
    assert waits[0] <= 2.0
    assert waits[1] >= 7.0  # Retry-After honoured by the policy
    assert len(stub.nonces) == 3  # a fresh nonce on every attempt


def test_a_resend_after_a_timeout_is_recorded_once_by_the_provider(
    server: StubServer, stub: AliyunStub, make_message: MessageFactory
) -> None:
    """The first answer comes too late: we retry, and OutId lets the provider drop the copy."""
    impatient = AliyunSmsAdapter(settings_for(server.url, timeout_s=0.3))
    message = make_message()
    stub.slow_accept_s = 0.8

    with pytest.raises(TransientChannelError, match="timed out"):
        impatient.send(message)
    result = AliyunSmsAdapter(settings_for(server.url)).send(message)

    assert list(stub.sent) == [message.delivery_id]
    assert result.provider_message_id == "biz-1"


def test_an_invalid_number_is_permanent(server: StubServer, make_message: MessageFactory) -> None:
    with pytest.raises(PermanentChannelError, match=r"isv\.MOBILE_NUMBER_ILLEGAL"):
        AliyunSmsAdapter(settings_for(server.url)).send(make_message(to="+86 138-1234"))


def test_wrong_credentials_are_a_provider_problem_so_transient(
    server: StubServer, make_message: MessageFactory
) -> None:
    adapter = AliyunSmsAdapter(settings_for(server.url, access_key_secret="wrong"))
    with pytest.raises(TransientChannelError, match="SignatureDoesNotMatch") as caught:
        adapter.send(make_message())
    assert caught.value.status == 400


def test_nothing_listening_is_transient(make_message: MessageFactory) -> None:
    with StubServer(lambda request: aliyun_error(500, "InternalError")) as server:
        url = server.url
    with pytest.raises(TransientChannelError, match="transport error"):
        AliyunSmsAdapter(settings_for(url)).send(make_message())


def plain_message() -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id="dlv_x",
        channel=ChannelName.SMS,
        kind="wallet.payment",
        category=Category.TRANSACTIONAL,
        to="+8613812348000",
        body="b",
    )


def classify_via(status: int, body: object, headers: dict[str, str] | None = None) -> Exception:
    """Send through httpx.MockTransport answering `status`/`body`; return what was raised."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers or {})

    adapter = AliyunSmsAdapter(
        settings_for("https://dysmsapi.example"), transport=httpx.MockTransport(answer)
    )
    with pytest.raises((TransientChannelError, PermanentChannelError)) as caught:
        adapter.send(plain_message())
    return caught.value


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, "isv.MOBILE_NUMBER_ILLEGAL"),
        (200, "isv.BLACK_KEY_CONTROL_LIMIT"),
        (200, "isv.TEMPLATE_MISSING_PARAMETERS"),
        (200, "isv.TEMPLATE_PARAMS_ILLEGAL"),
        (200, "isv.SMS_SIGNATURE_ILLEGAL"),
        (200, "isv.DAY_LIMIT_CONTROL"),
        (200, "isv.SOMETHING_NEW"),
        (400, "MissingPhoneNumbers"),
        (404, "InvalidAction.NotFound"),
    ],
)
def test_permanent_codes(status: int, code: str) -> None:
    error = classify_via(status, {"Code": code, "Message": "m", "RequestId": "r"})
    assert type(error) is PermanentChannelError
    assert code in str(error)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (503, "ServiceUnavailable"),
        (500, "InternalError"),
        (400, "Throttling.User"),
        (200, "isp.SYSTEM_ERROR"),
        (200, "isv.AMOUNT_NOT_ENOUGH"),
        (404, "InvalidAccessKeyId.NotFound"),
        (502, ""),
        (429, ""),
    ],
)
def test_transient_codes(status: int, code: str) -> None:
    error = classify_via(status, {"Code": code} if code else None)
    assert type(error) is TransientChannelError


def test_throttling_honours_retry_after_as_an_http_date() -> None:
    error = classify_via(
        429, {"Code": "Throttling.User"}, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
    )
    assert isinstance(error, TransientChannelError)
    assert error.retry_after is not None
    assert error.retry_after > 3600


def test_the_per_number_limit_is_a_recipient_limit_of_at_least_a_minute() -> None:
    error = classify_via(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"})
    assert isinstance(error, RecipientRateLimited)
    assert error.retry_after == 60


def test_phone_numbers_in_aliyuns_format() -> None:
    assert aliyun_phone_number("+8613812348000") == "13812348000"
    assert aliyun_phone_number("+85291234567") == "85291234567"


def test_request_is_form_encoded_and_signed_over_exactly_what_is_sent() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Code": "OK", "BizId": "1", "RequestId": "r"})

    adapter = AliyunSmsAdapter(
        settings_for("https://dysmsapi.example"), transport=httpx.MockTransport(answer)
    )
    adapter.send(plain_message())
    params = dict(parse_qsl(seen[0].content.decode()))
    signature = params.pop("Signature")
    assert signature == rpc_signature(params, SECRET)


def test_repr_masks_the_keys() -> None:
    adapter = AliyunSmsAdapter(settings_for("https://dysmsapi.example"))
    text = repr(adapter)
    assert SECRET not in text
    assert KEY_ID not in text
    assert "Tidings钱包" in text
    assert "access_key_secret='****'" in text
