"""A PostgreSQL database of its own per test (created empty; the test runs `tidings migrate`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

PG_ADMIN_DSN = os.environ.get(
    "TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class PgDatabase:
    url: str
    """For the service: `postgresql+psycopg://…`."""
    dsn: str
    """For psycopg in the test: `postgresql://…`."""


@pytest.fixture
def pg_database() -> Iterator[PgDatabase]:
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable and CI is set: {exc}")
        pytest.skip("PostgreSQL is not reachable (set CI to make this a failure)")
    name = f"tidings_e2e_notify_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    try:
        yield PgDatabase(url=dsn.replace("postgresql://", "postgresql+psycopg://", 1), dsn=dsn)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
