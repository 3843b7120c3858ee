"""Two real SMS providers behind one chain: Aliyun fails, the HTTP provider takes over,
the breaker keeps traffic away, then probes Aliyun back after the cool-down."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tidings.notify.channels.base import ChannelAdapter
from tidings.notify.channels.failover import BreakerPolicy, BreakerState, ProviderChain
from tidings.notify.channels.retry import MESSAGE_POLICY
from tidings.notify.channels.sms_aliyun import AliyunSmsAdapter, AliyunSmsSettings
from tidings.notify.channels.sms_http import HttpSmsAdapter, HttpSmsSettings
from tidings.notify.types import PermanentChannelError, TransientChannelError

from .conftest import FakeMonotonic, MessageFactory, state_of
from .stubs import AliyunStub, Received, Reply, StubServer, aliyun_error

KEY_ID, SECRET = "LTAI5tFailoverKey", "failover-secret"


class HttpSms:
    """The backup provider: accepts everything, or answers 503 while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.accepted: list[str] = []

    def __call__(self, request: Received) -> Reply:
        if self.down:
            return Reply(503, {"message": "maintenance"}, {"Retry-After": "12"})
        self.accepted.append(request.json()["id"])
        return Reply(200, {"id": f"h-{len(self.accepted)}"})


@pytest.fixture
def aliyun() -> AliyunStub:
    return AliyunStub(key_id=KEY_ID, secret=SECRET)


@pytest.fixture
def backup() -> HttpSms:
    return HttpSms()


@pytest.fixture
def chain(aliyun: AliyunStub, backup: HttpSms, clock: FakeMonotonic) -> Iterator[ProviderChain]:
    with StubServer(aliyun) as aliyun_server, StubServer(backup) as backup_server:
        providers: list[ChannelAdapter] = [
            AliyunSmsAdapter(
                AliyunSmsSettings(
                    endpoint=aliyun_server.url + "/",
                    access_key_id=KEY_ID,
                    access_key_secret=SECRET,
                    sign_name="Tidings钱包",
                    template_code="SMS_1",
                    timeout_s=2,
                )
            ),
            HttpSmsAdapter(HttpSmsSettings(url=backup_server.url, api_key="k", timeout_s=2)),
        ]
        chain = ProviderChain(
            providers,
            breaker=BreakerPolicy(failure_threshold=2, window_seconds=60, cool_down_seconds=30),
            clock=clock,
        )
        yield chain
        chain.close()


def test_backup_takes_over_while_aliyun_fails_and_aliyun_is_probed_back(
    chain: ProviderChain,
    aliyun: AliyunStub,
    backup: HttpSms,
    clock: FakeMonotonic,
    make_message: MessageFactory,
) -> None:
    aliyun.script.extend(
        [
            aliyun_error(503, "ServiceUnavailable"),
            aliyun_error(429, "Throttling.User", retry_after="7"),
        ]
    )
    first, second, third = make_message(), make_message(), make_message()
    assert chain.send(first).provider == "http"
    assert chain.send(second).provider == "http"
    assert state_of(chain) is BreakerState.OPEN
    assert chain.send(third).provider == "http"
    assert aliyun.answers == ["ServiceUnavailable", "Throttling.User"]  # third skipped Aliyun
    assert backup.accepted == [first.delivery_id, second.delivery_id, third.delivery_id]

    clock.advance(30)
    probe = make_message()
    result = chain.send(probe)
    assert (result.provider, result.provider_message_id) == ("aliyun", "biz-1")
    assert state_of(chain) is BreakerState.CLOSED
    assert list(aliyun.sent) == [probe.delivery_id]


def test_when_both_fail_the_dispatcher_waits_at_least_the_smallest_retry_after(
    chain: ProviderChain, aliyun: AliyunStub, backup: HttpSms, make_message: MessageFactory
) -> None:
    aliyun.script.append(aliyun_error(429, "Throttling.User", retry_after="20"))
    backup.down = True
    with pytest.raises(TransientChannelError) as caught:
        chain.send(make_message())
    assert caught.value.retry_after == 12
    delay = MESSAGE_POLICY.next_delay(1, caught.value.retry_after, random.Random(0))
    assert delay is not None
    assert delay >= 12


def test_an_invalid_number_is_not_retried_at_the_backup(
    chain: ProviderChain, backup: HttpSms, make_message: MessageFactory
) -> None:
    with pytest.raises(PermanentChannelError):
        chain.send(make_message(to="+86 bad"))
    assert backup.accepted == []
