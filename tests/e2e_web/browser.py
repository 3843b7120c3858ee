"""Debian's chromium driven by Playwright against a real `tidings serve`: the site (server,
operator client, a user who paid at a café), sign-in through the operator's link, and
axe-core for accessibility. Shared by the browser tests and `make screenshots`.

Never `playwright install`: the browser is `/usr/bin/chromium` (`.ci/run` installs it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e_notify.support import ok

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
BLOCKING = {"serious", "critical"}


@contextmanager
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Site:
    """A running server and the operator's client of it."""

    base_url: str
    operator: httpx.Client
    database: Path

    def link(self, user_id: str) -> str:
        """A fresh one-time sign-in link, on this server's address."""
        url = ok(self.operator.post(f"/v1/users/{user_id}/web-links"), 201)["url"]
        return self.base_url + url[url.index("/app/login") :]

    def expire_links(self, user_id: str) -> None:
        """As if ten minutes had passed: the server's clock is the wall clock."""
        with sqlite3.connect(self.database) as conn:
            conn.execute(
                "UPDATE web_links SET expires_at = '2000-01-01 00:00:00.000000' WHERE user_id = ?",
                (user_id,),
            )


def signed_in(
    browser: Browser, site: Site, user_id: str, **options: Any
) -> tuple[BrowserContext, Page]:
    """A fresh browser profile, signed in as the user through a one-time link."""
    context = browser.new_context(base_url=site.base_url, **options)
    page = context.new_page()
    page.goto(site.link(user_id))
    assert page.url == f"{site.base_url}/app/", page.url
    return context, page


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
