"""Fixtures for the console: operators' browsers signed in with the key (and a name), and
the worker run to completion so deliveries exist to count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY
from tests.helpers import cny, create_user, deliver_everything, top_up, transfer
from tests.web.conftest import CSRF, browser_for
from tidings.app.context import AppContext

FULL_PHONE = re.compile(r"1[3-9]\d{9}")
"""A whole mainland mobile number, as it must never appear in a console page."""


@dataclass
class Operator:
    """An operator's browser, signed in to the console."""

    name: str | None
    browser: TestClient

    def page(self, path: str, expect: int = 200) -> str:
        answer = self.browser.get(path)
        assert answer.status_code == expect, answer.text
        return answer.text

    def csrf(self, path: str = "/console/users") -> str:
        found = CSRF.search(self.page(path))
        assert found is not None, "the page has no form with a CSRF token"
        return found.group(1)

    def post(self, path: str, *, form_page: str = "/console/users", **fields: str) -> Any:
        return self.browser.post(path, data={"csrf_token": self.csrf(form_page), **fields})


def console_sign_in(client: TestClient, name: str | None) -> Operator:
    browser = browser_for(client)
    found = CSRF.search(browser.get("/console/login").text)
    assert found is not None
    fields = {"operator_key": ADMIN_KEY, "csrf_token": found.group(1)}
    if name is not None:
        fields["operator_name"] = name
    signed_in = browser.post("/console/login", data=fields)
    assert signed_in.status_code == 303, signed_in.text
    browser.get("/console/?lang=en")  # English from now on: the cookie remembers it
    return Operator(name=name, browser=browser)


@pytest.fixture
def make_operator(client: TestClient) -> Iterator[Any]:
    operators: list[Operator] = []

    def make(name: str | None = "alice") -> Operator:
        operator = console_sign_in(client, name)
        operators.append(operator)
        return operator

    yield make
    for operator in operators:
        operator.browser.close()


@pytest.fixture
def operator(make_operator: Any) -> Operator:
    return make_operator()  # type: ignore[no-any-return]


def topped_up_user(client: TestClient, context: AppContext, **fields: Any) -> dict[str, Any]:
    """A new user who topped up ¥500.00, the notice of it delivered."""
    user = create_user(client, **fields)
    top_up(client, user["wallet_id"], 50_000)
    deliver_everything(context)
    return user


def pay_at_cafe(client: TestClient, context: AppContext, wallet_id: str) -> None:
    """¥128.00 at 星巴克, the notice delivered."""
    transfer(
        client,
        kind="payment",
        source=wallet_id,
        amount=cny(12_800),
        merchant={"name": "星巴克", "category": "5814"},
    )
    deliver_everything(context)
