"""Fixtures for the pages: a browser-like client (cookies, no operator key) and a moving
clock; users are made and signed in through the public API, as the app would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_user
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock

START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(START)
    context.clock = fixed
    return fixed


@dataclass
class Reader:
    """A user's browser: their cookies, and the pages they see."""

    user: dict[str, Any]
    browser: TestClient

    def csrf(self, path: str = "/app/") -> str:
        page = self.browser.get(path)
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found is not None, "the page has no form with a CSRF token"
        return found.group(1)


def web_link(client: TestClient, user_id: str, **headers: str) -> str:
    """The path and query of a new sign-in link (the host is TIDINGS_PUBLIC_URL's)."""
    response = client.post(f"/v1/users/{user_id}/web-links", headers=headers)
    assert response.status_code == 201, response.text
    url = str(response.json()["url"])
    return url[url.index("/app/login") :]


def browser_for(client: TestClient) -> TestClient:
    """A second client of the same app with no Authorization header: a web browser."""
    return TestClient(client.app, follow_redirects=False)


def sign_in(client: TestClient, browser: TestClient, user_id: str) -> None:
    opened = browser.get(web_link(client, user_id))
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "/app/"


@pytest.fixture
def make_reader(client: TestClient) -> Iterator[Any]:
    browsers: list[TestClient] = []

    def make(**user_fields: Any) -> Reader:
        user = create_user(client, **user_fields)
        browser = browser_for(client)
        browsers.append(browser)
        sign_in(client, browser, user["id"])
        return Reader(user=user, browser=browser)

    yield make
    for browser in browsers:
        browser.close()


@pytest.fixture
def reader(make_reader: Any) -> Reader:
    return make_reader()  # type: ignore[no-any-return]
