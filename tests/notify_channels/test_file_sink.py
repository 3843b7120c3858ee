"""The embedded default sink: one masked JSON line per message, safe from many threads."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
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


def test_a_delivery_the_file_already_holds_is_not_written_again(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    """A worker killed after writing, before recording the send: its retry (in a new
    process, whose sink has never seen the file) must not add a second line."""
    path = tmp_path / "messages.jsonl"
    message = make_message()
    earlier = {"delivery_id": message.delivery_id, "channel": "sms", "body": message.body}
    torn = '{"delivery_id": "dlv_torn_by_the_crash", "bo'
    path.write_text(json.dumps(earlier) + "\n" + torn, encoding="utf-8")

    sink = FileSink(path, channel=ChannelName.SMS)
    first = sink.send(message)
    again = FileSink(path, channel=ChannelName.SMS).send(message)

    assert first == again == SendResult(provider="file", provider_message_id=message.delivery_id)
    assert path.read_text(encoding="utf-8").count(message.delivery_id) == 1


def test_two_processes_sending_the_same_deliveries_write_each_once(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    path = tmp_path / "messages.jsonl"
    messages = [make_message() for _ in range(50)]
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from tidings.notify.channels.file_sink import FileSink\n"
        "from tidings.notify.types import Category, ChannelName, OutgoingMessage\n"
        "sink = FileSink(Path(sys.argv[1]), channel=ChannelName.SMS)\n"
        "for fields in json.load(sys.stdin):\n"
        "    fields['channel'] = ChannelName(fields['channel'])\n"
        "    fields['category'] = Category(fields['category'])\n"
        "    sink.send(OutgoingMessage(**fields))\n"
    )
    payload = json.dumps([dataclasses.asdict(m) for m in messages], default=str)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(payload)
        worker.stdin.close()
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    written = [record["delivery_id"] for record in lines(path)]
    assert sorted(written) == sorted(m.delivery_id for m in messages)


def test_one_push_delivery_is_written_once_per_device(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    path = tmp_path / "messages.jsonl"
    sink = FileSink(path, channel=ChannelName.PUSH)
    message = make_message(ChannelName.PUSH, to="fcm-token-phone-0001")
    phone = dataclasses.replace(message, device="phone")
    tablet = dataclasses.replace(message, to="fcm-token-tablet-0002", device="tablet")
    for sent in (phone, tablet, phone, tablet):
        sink.send(sent)
    assert [(r["delivery_id"], r["device"]) for r in lines(path)] == [
        (message.delivery_id, "phone"),
        (message.delivery_id, "tablet"),
    ]
