"""Tidings: a digital wallet core with a financial notification engine at its heart."""

__version__ = "0.1.0"
