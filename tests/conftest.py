"""Fixtures: a migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL tests run whenever a server answers; with `CI` set, an unreachable PostgreSQL is
a failure, never a skip.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.kit.db import make_engine
from tidings.kit.logging import configure_logging
from tidings.kit.migrate import upgrade
from tidings.privacy.crypto import Keyring

PG_ADMIN_DSN = os.environ.get(
    "TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ADMIN_KEY = "test-admin-key-0123456789abcdefghijklmnop"
DATA_KEY = "k1:" + base64.b64encode(b"\x01" * 32).decode()
LOOKUP_KEY = base64.b64encode(b"\x02" * 32).decode()


def pytest_configure(config: pytest.Config) -> None:
    """Log as production does (JSON lines), so tests can read what would be logged."""
    configure_logging(level="INFO", json=True)


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[str]:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable and CI is set: PostgreSQL tests must run")
        pytest.skip("PostgreSQL is not reachable (set CI to make this a failure)")
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    name = f"tidings_tpl_{worker}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of its own for each test."""
    if request.param == "sqlite":
        path = tmp_path / "tidings.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"tidings_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=SecretStr(ADMIN_KEY),
        data_key=SecretStr(DATA_KEY),
        lookup_key=SecretStr(LOOKUP_KEY),
    )


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def context(settings: Settings, engine: Engine, keyring: Keyring) -> AppContext:
    return AppContext(settings=settings, engine=engine, keyring=keyring)


@pytest.fixture
def client(context: AppContext) -> Iterator[TestClient]:
    """An HTTP client of the real app, authenticated as an operator."""
    with TestClient(
        create_app(context), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as test_client:
        yield test_client
