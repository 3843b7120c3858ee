"""Errors of the insights domain."""

from __future__ import annotations

from tidings.kit.errors import Unprocessable


class InvalidPeriod(Unprocessable, code="invalid-period", title="Invalid period"):
    """A spending view's days do not make a period (`from` after `to`, or too long)."""
