"""Each bus test gets a NATS server of its own (see support.py); `bus_context` is the test's
AppContext with `TIDINGS_NATS_URL` pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_notify.conftest import pg_database
from tidings.app.context import AppContext

from .support import NatsServer, nats_server

__all__ = ["pg_database"]  # a PostgreSQL database of a test's own, for real processes


@pytest.fixture
def bus_nats(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path) as server:
        yield server


@pytest.fixture
def bus_context(context: AppContext, bus_nats: NatsServer) -> AppContext:
    context.settings.nats_url = bus_nats.url
    context.settings.worker_idle_ms = 10
    return context
