"""The console signs in with the operator key on a form, throttled like bearer keys."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY
from tests.web.conftest import CSRF, browser_for
from tidings.app.context import AppContext


def _login_token(browser: TestClient) -> str:
    found = CSRF.search(browser.get("/console/login").text)
    assert found is not None
    return found.group(1)


def test_without_a_session_the_console_asks_to_sign_in(client: TestClient) -> None:
    answer = browser_for(client).get("/console/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


def test_the_operator_key_opens_the_console(client: TestClient) -> None:
    browser = browser_for(client)
    signed_in = browser.post(
        "/console/login", data={"operator_key": ADMIN_KEY, "csrf_token": _login_token(browser)}
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/console/"
    jar: SimpleCookie = SimpleCookie()
    jar.load(signed_in.headers["set-cookie"])
    cookie = jar["tidings_console"]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/console"
    home = browser.get("/console/")
    assert home.status_code == 200
    assert "运营控制台" in home.text
    assert browser.get("/app/").status_code == 401  # an operator session is not a user's

    token = CSRF.search(home.text)
    assert token is not None
    out = browser.post("/console/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303
    assert browser.get("/console/").status_code == 303


def test_a_wrong_key_is_said_next_to_the_field_and_not_kept(client: TestClient) -> None:
    browser = browser_for(client)
    wrong = browser.post(
        "/console/login", data={"operator_key": "guess-123", "csrf_token": _login_token(browser)}
    )
    assert wrong.status_code == 401
    assert "运营密钥不正确" in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert "guess-123" not in wrong.text


def test_wrong_keys_are_throttled_per_address(client: TestClient, context: AppContext) -> None:
    browser = browser_for(client)
    token = _login_token(browser)
    statuses = [
        browser.post(
            "/console/login", data={"operator_key": "nope", "csrf_token": token}
        ).status_code
        for _ in range(context.settings.auth_failure_limit + 1)
    ]
    assert statuses[:-1] == [401] * context.settings.auth_failure_limit
    assert statuses[-1] == 429
    right = browser.post("/console/login", data={"operator_key": ADMIN_KEY, "csrf_token": token})
    assert right.status_code == 429  # the right key too, until the window ends
    assert re.search(r"Retry-After", str(right.headers), re.IGNORECASE)
    assert "尝试次数过多" in right.text
