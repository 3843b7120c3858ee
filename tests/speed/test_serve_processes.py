"""`tidings serve --processes N` is for PostgreSQL: on SQLite it refuses, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app
from tidings.config import get_settings


def test_serve_refuses_several_processes_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_DATABASE_URL", f"sqlite:///{tmp_path / 'tidings.db'}")
    monkeypatch.setenv("TIDINGS_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--processes", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "--processes needs PostgreSQL" in result.output
