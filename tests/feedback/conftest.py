"""The pages' fixtures (a signed-in user's browser, an operator's console) for follow-up."""

from __future__ import annotations

from tests.web.conftest import make_reader, reader
from tests.web.console.conftest import make_operator, operator

__all__ = ["make_operator", "make_reader", "operator", "reader"]
