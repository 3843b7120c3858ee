"""A log line reaches stderr in one write, newline included: processes that share one pipe
(`tidings serve --processes N`) write whole lines, never one line run into another."""

from __future__ import annotations

import json

import pytest
import structlog

from tidings.kit.logging import configure_logging


class _Writes:
    """Stands in for stderr and keeps every `write` call apart."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_every_json_log_line_is_written_whole_in_one_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = _Writes()
    monkeypatch.setattr("sys.stderr", writes)
    configure_logging(level="INFO", json=True)
    try:
        log = structlog.get_logger("tidings.test")
        log.info("worker.started", loops=["relay", "dispatch"])
        log.warning("db.busy", waited_s=30)
    finally:
        configure_logging(level="INFO", json=True)  # as tests/conftest.py left it

    assert len(writes.calls) == 2
    for call in writes.calls:
        assert call.endswith("\n")
        assert call.count("\n") == 1
    assert [json.loads(call)["event"] for call in writes.calls] == ["worker.started", "db.busy"]
