"""The embedded default: messages for a channel with no provider go to a JSON-lines file.

So a fresh install "sends" without any account, and an operator (or a test) can read what
would have gone out. Recipients and one-time codes are masked: the file is a log, and logs
never hold personal data or codes in clear. Like a provider honouring an idempotency key, the
sink writes a delivery id once: a worker killed after writing but before recording the send
retries it, and the sink, which knows every id in its file (all processes take turns on an
advisory file lock), skips it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from tidings.notify.channels._http import WallClock, utc_now
from tidings.notify.channels.base import ChannelInfo, describe
from tidings.notify.types import ChannelName, OutgoingMessage, SendResult, TransientChannelError
from tidings.privacy.codes import redact
from tidings.privacy.masking import mask_email, mask_phone

DEFAULT_FILE_NAME = "messages.jsonl"


@dataclass
class _FileIndex:
    """The delivery ids already in one file, and how far this process has read it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    delivery_ids: set[str] = field(default_factory=set)
    read_up_to: int = 0

    def catch_up(self, fd: int) -> None:
        """Read what was appended since we last looked (by any process)."""
        end = os.fstat(fd).st_size
        if end < self.read_up_to:  # the file was truncated or replaced
            self.delivery_ids.clear()
            self.read_up_to = 0
        chunk = os.pread(fd, end - self.read_up_to, self.read_up_to)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        for line in complete.splitlines():
            try:
                record = json.loads(line)
                self.delivery_ids.add(_key(str(record["delivery_id"]), record.get("device")))
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash, or not ours
        self.read_up_to += len(complete)


def _key(delivery_id: str, device: str | None) -> str:
    """What the sink writes once: a delivery, or a push delivery to one of its devices."""
    return f"{delivery_id}/{device}" if device else delivery_id


_indexes_guard = threading.Lock()
_indexes: dict[Path, _FileIndex] = {}


def _index_for(path: Path) -> _FileIndex:
    """One index per file, shared by every sink writing to it in this process."""
    with _indexes_guard:
        return _indexes.setdefault(path, _FileIndex())


def mask_recipient(channel: ChannelName, to: str) -> str:
    """The recipient as it may appear in a log: phone 138****8000, z***@example.com, …"""
    if channel is ChannelName.SMS:
        return mask_phone(to)
    if channel is ChannelName.EMAIL:
        return mask_email(to)
    if channel is ChannelName.WEBHOOK:
        parts = urlsplit(to)
        return f"{parts.scheme}://{parts.hostname or ''}/…"
    return f"{to[:6]}…" if len(to) > 10 else "…"


class FileSink:
    """Appends one JSON line per delivery id; thread-safe and safe across processes (an
    exclusive `flock` around reading the new tail and appending). Fails only on OSError
    (disk full, permissions), which is transient."""

    def __init__(
        self,
        path: Path,
        *,
        channel: ChannelName,
        name: str = "file",
        clock: WallClock = utc_now,
    ) -> None:
        self.path = path
        self._clock = clock
        self._index = _index_for(path.resolve())
        self._info = ChannelInfo(name=name, channel=channel, body_limit=None, rate_per_s=None)

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def record(self, message: OutgoingMessage, *, at: datetime) -> dict[str, str | None]:
        line: dict[str, str | None] = {
            "at": at.isoformat(),
            "delivery_id": message.delivery_id,
            "channel": str(message.channel),
            "kind": message.kind,
            "to": mask_recipient(message.channel, message.to),
            "title": redact(message.title, message.confidential) if message.title else None,
            "body": redact(message.body, message.confidential),
        }
        if message.device is not None:
            line["device"] = message.device
        return line

    def send(self, message: OutgoingMessage) -> SendResult:
        line = json.dumps(self.record(message, at=self._clock()), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        index = self._index
        try:
            with index.lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    index.catch_up(fd)
                    if _key(message.delivery_id, message.device) not in index.delivery_ids:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view) :]
                        index.catch_up(fd)
                finally:
                    os.close(fd)  # closing releases the flock
        except OSError as exc:
            raise TransientChannelError(
                f"cannot append to {self.path}: {exc.strerror}", provider=self._info.name
            ) from exc
        return SendResult(provider=self._info.name, provider_message_id=message.delivery_id)

    def __repr__(self) -> str:
        return describe(
            "FileSink", name=self._info.name, channel=str(self._info.channel), path=str(self.path)
        )
