"""What every page answers with: a strict Content-Security-Policy, framing only as configured,
no referrer, and forms that are refused without the CSRF token of the page they came from."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Reader, browser_for
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)


@pytest.mark.parametrize("path", ["/", "/verify", "/console/login", "/app/", "/app/nowhere"])
def test_every_page_has_a_strict_policy_and_sends_no_referrer(path: str, reader: Reader) -> None:
    page = reader.browser.get(path)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == STRICT
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text
    assert "style=" not in page.text


def test_the_company_app_may_frame_the_pages_when_configured(
    context: AppContext, settings: Settings
) -> None:
    framed = settings.model_copy(update={"web_frame_ancestors": "'self' https://app.example.com"})
    app = create_app(AppContext(settings=framed, engine=context.engine, keyring=context.keyring))
    page = TestClient(app).get("/verify")
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://app.example.com"
    )
    assert "X-Frame-Options" not in page.headers  # it cannot name another site


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    reader: Reader,
) -> None:
    before = reader.browser.get("/app/")
    for attempt in ({}, {"csrf_token": "forged"}):
        refused = reader.browser.post("/app/logout", data=attempt)
        assert refused.status_code == 403
        assert "表单已失效" in refused.text
    assert reader.browser.get("/app/").status_code == before.status_code == 200


def test_a_token_from_another_session_is_refused(make_reader: object) -> None:
    alice, bob = make_reader(), make_reader()  # type: ignore[operator]
    refused = bob.browser.post("/app/logout", data={"csrf_token": alice.csrf()})
    assert refused.status_code == 403


def test_htmx_sends_the_token_in_a_header(reader: Reader) -> None:
    token = reader.csrf()
    accepted = reader.browser.post(
        "/app/inbox/read-all", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert accepted.status_code == 200
    assert 'id="inbox"' in accepted.text
    assert "<html" not in accepted.text  # a partial, swapped in place


def test_a_public_form_needs_the_token_of_its_form_cookie(client: TestClient) -> None:
    browser = browser_for(client)
    page = browser.get("/verify")
    assert "tidings_csrf" in page.headers["set-cookie"]
    refused = browser_for(client).post("/verify", data={"message": "hi", "csrf_token": "x"})
    assert refused.status_code == 403


def test_static_files_are_cached_for_a_year_under_a_versioned_url(client: TestClient) -> None:
    page = browser_for(client).get("/verify").text
    start = page.index("/static/tidings.css?v=")
    url = page[start : page.index('"', start)]
    sheet = client.get(url)
    assert sheet.status_code == 200
    assert sheet.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert sheet.headers["content-type"].startswith("text/css")
    script = client.get("/static/vendor/htmx.min.js")
    assert script.headers["Cache-Control"] == "public, max-age=3600"
