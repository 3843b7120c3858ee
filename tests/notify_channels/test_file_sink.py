"""The embedded default sink: one masked JSON line per message, safe from many threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tidings.notify.channels.file_sink import FileSink, mask_recipient
from tidings.notify.types import ChannelName, SendResult, TransientChannelError

from .conftest import MessageFactory


def lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_line_with_the_recipient_masked(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    path = tmp_path / "var" / "messages.jsonl"
    sink = FileSink(path, channel=ChannelName.SMS)
    message = make_message()

    result = sink.send(message)

    assert result == SendResult(provider="file", provider_message_id=message.delivery_id)
    [record] = lines(path)
    assert record["to"] == "138****8000"
    assert "13812348000" not in path.read_text(encoding="utf-8")
    assert record["delivery_id"] == message.delivery_id
    assert record["channel"] == "sms"
    assert record["title"] == "消费提醒"
    assert record["body"] == message.body


@pytest.mark.parametrize(
    ("channel", "to", "shown"),
    [
        (ChannelName.EMAIL, "zhang.san@example.com", "z***@example.com"),
        (ChannelName.PUSH, "fcm-token-0123456789abcdef", "fcm-to…"),
        (
            ChannelName.WEBHOOK,
            "https://hooks.example.com/t/secret-path?k=1",
            "https://hooks.example.com/…",
        ),
        (ChannelName.SMS, "+14155550123", "+1 415***0123"),
    ],
)
def test_every_kind_of_recipient_is_masked(channel: ChannelName, to: str, shown: str) -> None:
    assert mask_recipient(channel, to) == shown


def test_many_threads_append_whole_lines(tmp_path: Path, make_message: MessageFactory) -> None:
    path = tmp_path / "messages.jsonl"
    sinks = [FileSink(path, channel=ChannelName.SMS) for _ in range(2)]
    messages = [make_message(body="长" * 2000) for _ in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda pair: sinks[pair[0] % 2].send(pair[1]), enumerate(messages)))
    records = lines(path)
    assert sorted(r["delivery_id"] for r in records) == sorted(m.delivery_id for m in messages)


def test_an_unwritable_path_is_transient(tmp_path: Path, make_message: MessageFactory) -> None:
    sink = FileSink(tmp_path, channel=ChannelName.SMS)  # a directory, not a file
    with pytest.raises(TransientChannelError, match="cannot append"):
        sink.send(make_message())
