"""Signing an operator in to the console in a real browser (shared by the browser tests and
`make screenshots`)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.e2e_notify.support import ADMIN_KEY
from tests.e2e_web.browser import Site


def console_signed_in(
    browser: Browser, site: Site, name: str = "alice", **options: Any
) -> tuple[BrowserContext, Page]:
    """A fresh browser profile, signed in to the console with the key and a name."""
    context = browser.new_context(base_url=site.base_url, **options)
    page = context.new_page()
    page.goto("/console/login")
    page.locator("#operator_name").fill(name)
    page.locator("#operator_key").fill(ADMIN_KEY)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/console/")
    return context, page


def reported_errors(page: Page) -> list[str]:
    """The errors the page writes to the browser's console from now on (a refusal of the
    Content-Security-Policy among them); the list fills as they come."""
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", watch)
    return problems
