"""Failed authentication, throttled per client address across every serve process."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import NoReturn

import structlog
from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection

from tidings.kit import ratelimit
from tidings.kit.clock import Clock
from tidings.kit.db import retried_write
from tidings.kit.errors import RateLimited
from tidings.privacy.crypto import Keyring

log = structlog.get_logger(__name__)


class FailedAuthThrottle:
    """Failed authentications per client address, counted in the database's fixed windows
    (`kit.ratelimit`), so every serve process shares the count: past the limit, every
    request from that address is 429 until the window ends, a right key included (or
    guessing would go on, told apart by the status). Other addresses are not affected.

    A process remembers for a second that an address was under the limit, so requests with
    valid credentials cost no extra database read; its own failures forget that at once.
    """

    CLEAR_FOR_SECONDS = 1.0
    _MAX_REMEMBERED = 10_000

    def __init__(self, *, limit: int, window_seconds: int) -> None:
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._clear_until: dict[str, float] = {}

    def key(self, keyring: Keyring, request: HTTPConnection) -> str:
        host = request.client.host if request.client else "unknown"
        return "auth:ip:" + keyring.lookup_hash(host, context="client-ip")[:32]

    def known_clear(self, key: str) -> bool:
        return self._clear_until.get(key, 0.0) > time.monotonic()

    def retry_after(self, conn: Connection, key: str, *, at: datetime) -> int | None:
        """Seconds until the address may try again, or None (and remembered as clear)."""
        wait = ratelimit.retry_after(conn, key=key, limit=self.limit, window=self.window, at=at)
        if wait is None:
            if len(self._clear_until) >= self._MAX_REMEMBERED:
                self._clear_until.clear()
            self._clear_until[key] = time.monotonic() + self.CLEAR_FOR_SECONDS
        return wait

    def record_failure(self, engine: Engine, clock: Clock, key: str) -> None:
        """Count one failure (committed); 429 when the count is past the limit (failures
        racing in from other processes), else the caller answers 401."""
        self._clear_until.pop(key, None)

        def count(conn: Connection) -> int:
            start, _ = ratelimit.window_of(clock.now(), self.window)
            return ratelimit.count_hit(conn, key, start)

        if retried_write(engine, count) > self.limit:
            self.refuse(clock)

    def refuse(self, clock: Clock) -> NoReturn:
        _, wait = ratelimit.window_of(clock.now(), self.window)
        log.info("api.auth_throttled")
        raise RateLimited(
            f"too many failed authentications from this address; try again in {wait} s",
            retry_after_seconds=wait,
        )
