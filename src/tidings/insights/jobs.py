"""The `insights.suggestions` job (daily): sub-wallet suggestions sent as marketing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tidings.insights.service.suggestions import send_suggestions
from tidings.kit.db import retried_write


def run_suggestions(engine: Engine, *, as_of: datetime) -> dict[str, Any]:
    """One transaction: every due suggestion is recorded with its 'sent' mark, or none is."""
    return retried_write(engine, lambda conn: send_suggestions(conn, as_of=as_of))
