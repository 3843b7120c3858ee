"""Plumbing every benchmark shares: throw-away databases, fixed keys, timed loops, progress.

A benchmark must never touch a real database, so each run creates its own (a file in a
temporary directory, or a fresh PostgreSQL database) and removes it at the end.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from tidings.app.context import AppContext
from tidings.users.schemas import UserCreate, UserOut
from tidings.wallets import service as wallets

DatabaseKind = Literal["sqlite", "postgresql"]

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_ENV = "TIDINGS_BENCH_POSTGRES"

# Fixed, public keys: benchmark data is synthetic and thrown away, and fixed keys let the
# in-process phases and the HTTP server read each other's rows.
BENCH_DATA_KEY = "k1:" + base64.b64encode(b"\x07" * 32).decode()
BENCH_LOOKUP_KEY = base64.b64encode(b"\x08" * 32).decode()


class BenchmarkError(Exception):
    """The benchmark cannot run here (a missing tool, an unreachable database, a dead server).

    The CLI shows its message without a traceback: it is the user's to fix, not a bug.
    """


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    """A database that lives only for one benchmark run."""

    kind: DatabaseKind
    url: str
    """`sqlite:///…` or `postgresql://…`; both SQLAlchemy (via `make_engine`) and, for
    PostgreSQL, psycopg accept it."""
    sqlite_path: Path | None = None


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def bench_database(kind: DatabaseKind, workdir: Path) -> Iterator[BenchDatabase]:
    """Create an empty database of `kind`; drop it (PostgreSQL) when the block ends."""
    if kind == "sqlite":
        path = workdir / "bench.db"
        yield BenchDatabase(kind="sqlite", url=f"sqlite:///{path}", sqlite_path=path)
        return
    admin_dsn = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)
    name = f"tidings_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchmarkError(
            f"PostgreSQL at {_masked(admin_dsn)} is not reachable ({exc}); "
            f"start it or point {POSTGRES_ENV} at a server where we may create databases"
        ) from exc
    url = make_url(admin_dsn).set(database=name).render_as_string(hide_password=False)
    try:
        yield BenchDatabase(kind="postgresql", url=url)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(slots=True)
class Timings:
    """Per-operation latencies of one timed phase."""

    elapsed_s: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies_ns)

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile (q in 0–100) in milliseconds."""
        if not self.latencies_ns:
            return 0.0
        ordered = sorted(self.latencies_ns)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] / 1e6


def make_progress(console: Console) -> Progress:
    """The one progress display of a run: a line per step, timed phases with a bar."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def step(progress: Progress, description: str) -> Iterator[TaskID]:
    """Show an untimed step (create a database, migrate…) until the block ends."""
    task = progress.add_task(description, total=None, detail="")
    yield task
    progress.update(task, total=1, completed=1)


def run_timed(
    operation: Callable[[], None],
    *,
    seconds: float,
    progress: Progress,
    description: str,
    unit: str,
) -> Timings:
    """Call `operation` back to back for `seconds`, recording each call's latency."""
    task = progress.add_task(description, total=seconds, detail="")
    timings = Timings()
    latencies = timings.latencies_ns
    clock = time.perf_counter_ns
    started = clock()
    deadline = started + int(seconds * 1e9)
    next_refresh = started
    now = started
    while now < deadline:
        before = clock()
        operation()
        now = clock()
        latencies.append(now - before)
        if now >= next_refresh:
            elapsed = (now - started) / 1e9
            rate = len(latencies) / elapsed if elapsed else 0.0
            progress.update(task, completed=min(elapsed, seconds), detail=f"{rate:,.0f} {unit}/s")
            next_refresh = now + 100_000_000
    timings.elapsed_s = (now - started) / 1e9
    progress.update(task, completed=seconds, detail=f"{timings.per_second:,.0f} {unit}/s")
    return timings


def create_bench_user(
    conn: Connection,
    context: AppContext,
    *,
    external_id: str,
    name: str,
    phone: str,
    at: datetime,
    email: str | None = None,
) -> UserOut:
    """A zh-CN user in Asia/Shanghai with a main wallet, made through the service layer as
    an integrator's would be."""
    return wallets.create_user_with_wallet(
        conn,
        context.keyring,
        UserCreate(
            external_id=external_id,
            name=name,
            phone=phone,
            email=email,
            locale="zh-CN",
            timezone="Asia/Shanghai",
        ),
        at=at,
        **context.user_defaults(),
    )
