"""Errors on pages are pages, in the visitor's language; the API keeps its problem documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Reader, browser_for
from tidings.notify import inbox


@pytest.mark.parametrize(
    ("query", "lang", "title"),
    [("", "zh-CN", "找不到页面"), ("?lang=en", "en", "Page not found")],
)
def test_an_unknown_page_is_a_404_page_in_both_languages(
    client: TestClient, query: str, lang: str, title: str
) -> None:
    page = browser_for(client).get(f"/app/no-such-page{query}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in page.text
    assert title in page.text


def test_an_unknown_api_path_is_still_a_problem(client: TestClient) -> None:
    answer = client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "title"),
    [("", "我们这边出了点问题"), ("?lang=en", "Something went wrong on our side")],
)
def test_a_failure_is_a_500_page_without_a_stack_trace(
    reader: Reader, monkeypatch: pytest.MonkeyPatch, query: str, title: str
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(inbox, "list_inbox", broken)
    with TestClient(reader.browser.app, raise_server_exceptions=False) as browser:
        browser.cookies = reader.browser.cookies
        page = browser.get(f"/app/{query}")
    assert page.status_code == 500
    assert title in page.text
    assert "secret internals" not in page.text
    assert "Traceback" not in page.text


def test_the_language_asked_for_is_remembered(client: TestClient) -> None:
    browser = browser_for(client)
    first = browser.get("/verify?lang=en")
    assert "tidings_lang=en" in first.headers["set-cookie"]
    assert '<html lang="en">' in browser.get("/verify").text
    assert '<html lang="zh-CN">' in browser.get("/verify?lang=zh-CN").text
    assert '<html lang="zh-CN">' in browser.get("/").text


def test_a_user_whose_locale_is_english_reads_english(make_reader: object) -> None:
    english = make_reader(locale="en-US")  # type: ignore[operator]
    page = english.browser.get("/app/")
    assert '<html lang="en">' in page.text
    assert "Inbox" in page.text
