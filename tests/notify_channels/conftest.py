"""Shared builders for the channel adapter tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tidings.notify.channels.failover import BreakerState, ProviderChain
from tidings.notify.types import Category, ChannelName, OutgoingMessage

_serial = itertools.count(1)

MessageFactory = Callable[..., OutgoingMessage]


class FakeMonotonic:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state_of(chain: ProviderChain, index: int = 0) -> BreakerState:
    """The breaker state of one provider of a chain built with breakers."""
    breaker = chain.breakers[index]
    assert breaker is not None
    return breaker.state


@pytest.fixture
def make_message() -> MessageFactory:
    def build(channel: ChannelName = ChannelName.SMS, **overrides: Any) -> OutgoingMessage:
        n = next(_serial)
        fields: dict[str, Any] = {
            "delivery_id": f"dlv_01HX{n:06d}",
            "channel": channel,
            "kind": "wallet.payment",
            "category": Category.TRANSACTIONAL,
            "to": "+8613812348000",
            "body": "【Tidings钱包】您尾号8821的钱包于11月24日15:30消费128.00元（星巴克）。",
            "title": "消费提醒",
        }
        fields.update(overrides)
        return OutgoingMessage(**fields)

    return build


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()
