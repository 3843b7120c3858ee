"""The embedded default: messages for a channel with no provider go to a JSON-lines file.

So a fresh install "sends" without any account, and an operator (or a test) can read what
would have gone out. Recipients and one-time codes are masked: the file is a log, and logs
never hold personal data or codes in clear.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from tidings.notify.channels._http import WallClock, utc_now
from tidings.notify.channels.base import ChannelInfo, describe
from tidings.notify.types import ChannelName, OutgoingMessage, SendResult, TransientChannelError
from tidings.privacy.codes import redact
from tidings.privacy.masking import mask_email, mask_phone

DEFAULT_FILE_NAME = "messages.jsonl"

_locks_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}


def _lock_for(path: Path) -> threading.Lock:
    """One lock per file, shared by every sink writing to it in this process."""
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


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
    """Appends one JSON line per message; thread-safe, and safe across processes for lines
    shorter than the OS's atomic append size (each line is one `write` on an O_APPEND file).
    Fails only on OSError (disk full, permissions), which is transient."""

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
        self._lock = _lock_for(path.resolve())
        self._info = ChannelInfo(name=name, channel=channel, body_limit=None, rate_per_s=None)

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def record(self, message: OutgoingMessage, *, at: datetime) -> dict[str, str | None]:
        return {
            "at": at.isoformat(),
            "delivery_id": message.delivery_id,
            "channel": str(message.channel),
            "kind": message.kind,
            "to": mask_recipient(message.channel, message.to),
            "title": redact(message.title, message.confidential) if message.title else None,
            "body": redact(message.body, message.confidential),
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        line = json.dumps(self.record(message, at=self._clock()), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        except OSError as exc:
            raise TransientChannelError(
                f"cannot append to {self.path}: {exc.strerror}", provider=self._info.name
            ) from exc
        return SendResult(provider=self._info.name, provider_message_id=message.delivery_id)

    def __repr__(self) -> str:
        return describe(
            "FileSink", name=self._info.name, channel=str(self._info.channel), path=str(self.path)
        )
