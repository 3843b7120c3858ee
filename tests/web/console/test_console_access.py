"""Who may open the console: operators only. Signed out, every page goes to the sign-in form;
a user's session never opens it (404, on every page alike); every form needs its token."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Reader, browser_for
from tests.web.console.conftest import Operator
from tidings.web.security import OPERATOR_COOKIE, USER_COOKIE

SMS_TEMPLATE = "/console/templates/wallet.payment.succeeded/sms/zh-CN"
PAGES = [
    "/console/",
    "/console/notifications/ntf_01JDQZKXWHMNPRSTVABCDE8821",
    "/console/templates",
    SMS_TEMPLATE,
    "/console/users",
    "/console/users/usr_01JDQZKXWHMNPRSTVABCDE8821",
    "/console/jobs",
]
FORMS = [
    f"{SMS_TEMPLATE}/preview",
    SMS_TEMPLATE,
    f"{SMS_TEMPLATE}/versions/tpl_01JDQZKXWHMNPRSTVABCDE8821/approve",
    f"{SMS_TEMPLATE}/versions/tpl_01JDQZKXWHMNPRSTVABCDE8821/activate",
    "/console/users",
    "/console/jobs",
]


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_every_page_goes_to_the_sign_in_form(client: TestClient, path: str) -> None:
    answer = browser_for(client).get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


@pytest.mark.parametrize("path", FORMS)
def test_signed_out_every_form_goes_to_the_sign_in_form(client: TestClient, path: str) -> None:
    answer = browser_for(client).post(path, data={"body": "x", "reference": "x", "job": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


def _session_token(reader: Reader) -> str:
    token = reader.browser.cookies.get(USER_COOKIE)
    assert token
    return str(token)


@pytest.mark.parametrize("cookie", [OPERATOR_COOKIE, USER_COOKIE])
def test_a_users_session_opens_no_console_page(
    client: TestClient, reader: Reader, cookie: str
) -> None:
    """Whichever cookie carries it, a user's session finds no console: every page and every
    form is "not found", never the operator's sign-in form or a page of theirs."""
    token = _session_token(reader)
    intruder = browser_for(client)
    intruder.cookies.set(cookie, token, path="/console")
    for path in PAGES:
        answer = intruder.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.headers["content-type"]
    for path in FORMS:
        assert intruder.post(path, data={"csrf_token": "x"}).status_code == 404, path
    assert reader.browser.get("/app/").status_code == 200  # their own pages still open


def test_an_operator_session_is_not_a_users(operator: Operator) -> None:
    assert operator.browser.get("/app/").status_code == 401


@pytest.mark.parametrize(
    ("path", "form_page"),
    [
        (SMS_TEMPLATE, SMS_TEMPLATE),
        (f"{SMS_TEMPLATE}/preview", SMS_TEMPLATE),
        ("/console/users", "/console/users"),
        ("/console/jobs", "/console/jobs"),
    ],
)
def test_a_form_without_its_token_is_refused(
    client: TestClient, operator: Operator, path: str, form_page: str
) -> None:
    operator.page(form_page)
    fields: dict[str, Any] = {
        "body": "您的钱包收到{{ amount|money }}。",
        "job": "wallet.statements",
    }
    refused = operator.browser.post(path, data=fields)
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    forged = operator.browser.post(path, data={**fields, "csrf_token": "forged"})
    assert forged.status_code == 403
    versions = client.get("/v1/templates", params={"kind": "wallet.payment.succeeded"})
    assert all(item["version"] == 0 for item in versions.json()["items"])  # nothing stored


def test_signing_out_ends_the_console_and_forgets_the_name(operator: Operator) -> None:
    out = operator.browser.post("/console/logout", data={"csrf_token": operator.csrf()})
    assert out.status_code == 303
    assert "tidings_operator=" in out.headers.get("set-cookie", "")
    assert operator.browser.get("/console/").status_code == 303


def test_an_htmx_refresh_after_the_session_ended_leaves_for_the_sign_in_form(
    client: TestClient,
) -> None:
    answer = browser_for(client).get("/console/", headers={"HX-Request": "true"})
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == "/console/login"
