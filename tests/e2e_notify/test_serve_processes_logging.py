"""Each process of `tidings serve --processes N` logs as the settings say (JSON lines with
`TIDINGS_LOG_JSON=true`, at `TIDINGS_LOG_LEVEL`), as a single `tidings serve` does: uvicorn
starts them afresh, and the CLI had set up logging in its own process only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from . import support
from .conftest import PgDatabase
from .support import Process

pytestmark = pytest.mark.e2e

SETTLE_TIMEOUT = 30.0
REQUESTS = 6


def _lines_naming(process: Process, *names: str) -> list[str]:
    pattern = re.compile("|".join(rf"(?<![\w.]){re.escape(name)}(?![\w.])" for name in names))
    return [line for line in process.log_text().splitlines() if pattern.search(line)]


def _check_every_process_logs_json(tmp_path: Path, env: dict[str, str]) -> None:
    with support.cluster(tmp_path, env) as running:
        server = running.serve(processes=2)
        support.wait_until(
            lambda: len(_lines_naming(server, "worker.started", "worker.standby")) == 2,
            timeout=SETTLE_TIMEOUT,
            what="both processes to start their worker loops or stand by",
        )
        client = support.operator(str(server.base_url))
        for _ in range(REQUESTS):
            support.ok(client.get("/v1/kinds"))
        client.close()
        support.wait_until(
            lambda: len(_lines_naming(server, "http.request")) >= REQUESTS,
            timeout=SETTLE_TIMEOUT,
            what="the requests' log lines",
        )

        for line in _lines_naming(server, "worker.started", "worker.standby", "http.request"):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"a process of `serve --processes 2` logged a line not JSON: {line}")
            assert event["level"] == "info"
            assert "timestamp" in event
        requests = [e for e in server.log_events() if e["event"] == "http.request"]
        assert {e["route"] for e in requests} >= {"/v1/kinds"}


def test_serve_processes_2_on_sqlite_logs_json_lines_in_every_process(tmp_path: Path) -> None:
    env = support.environment(
        f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var", TIDINGS_LOG_JSON="true"
    )
    _check_every_process_logs_json(tmp_path, env)


@pytest.mark.postgres
def test_serve_processes_2_on_postgresql_logs_json_lines_in_every_process(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    env = support.environment(pg_database.url, tmp_path / "var", TIDINGS_LOG_JSON="true")
    _check_every_process_logs_json(tmp_path, env)


def test_serve_processes_2_logs_nothing_below_the_log_level_in_any_process(
    tmp_path: Path,
) -> None:
    env = support.environment(
        f"sqlite:///{tmp_path / 'tidings.db'}",
        tmp_path / "var",
        TIDINGS_LOG_JSON="true",
        TIDINGS_LOG_LEVEL="WARNING",
    )
    with support.cluster(tmp_path, env) as running:
        server = running.serve(processes=2)
        client = support.operator(str(server.base_url))
        for _ in range(REQUESTS):
            support.ok(client.get("/v1/kinds"))
        client.close()
        running.stop_all()

        assert _lines_naming(server, "http.request", "worker.started", "worker.standby") == []
