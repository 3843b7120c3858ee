"""`make screenshots`: every page over the demo data, at 360 px and 1280 px wide, into
docs/screenshots/ (the README shows them). The same browser and server as the tests."""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, FloatRect, Page

from tests.e2e_notify.support import (
    ADMIN_KEY,
    TIDINGS,
    cluster,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
)
from tests.e2e_web.browser import Site, chromium, signed_in

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = (360, 1280)
HEIGHT = 800
TALLEST = 3200
"""A long page (a full inbox) is cut here: the top of it shows what it looks like."""


def _demo_user(database: Path) -> tuple[str, str, str]:
    """The first demo user, their main wallet and their first sub-wallet."""
    with sqlite3.connect(database) as conn:
        user_id, main = conn.execute(
            "SELECT id, main_wallet_id FROM users ORDER BY id LIMIT 1"
        ).fetchone()
        (sub,) = conn.execute(
            "SELECT id FROM wallets WHERE user_id = ? AND kind = 'sub' ORDER BY id LIMIT 1",
            (user_id,),
        ).fetchone()
    return str(user_id), str(main), str(sub)


def _shoot_console(page: Page, site: Site, user_id: str, shot: Callable[[str], None]) -> None:
    """The console's pages after the delivery-health page (`console`)."""
    notice = ok(site.operator.get(f"/v1/users/{user_id}/notifications"))["items"][0]
    for name, path in [
        ("console-notification", f"/console/notifications/{notice['id']}"),
        ("console-templates", "/console/templates"),
        ("console-template", "/console/templates/wallet.payment.succeeded/sms/zh-CN"),
        ("console-user", f"/console/users/{user_id}"),
    ]:
        page.goto(path)
        shot(name)
    page.goto("/console/users")
    page.locator("#reference").fill(user_id)
    page.locator("main form button[type=submit]").click()
    page.locator("#results-heading").wait_for()
    shot("console-users")
    page.goto("/console/jobs")
    page.locator("#job").select_option("notify.digests")
    page.locator("main form button[type=submit]").click()
    page.locator("#job-result").wait_for()
    shot("console-jobs")


def _shoot(browser: Browser, site: Site, user_id: str, main: str, sub: str) -> list[Path]:
    body = inbox_items(site.operator, user_id)[0]["body"]
    written: list[Path] = []
    for width in WIDTHS:
        context, page = signed_in(
            browser, site, user_id, viewport={"width": width, "height": HEIGHT}
        )

        def shot(name: str, page: Page = page, width: int = width) -> None:
            path = OUT / f"{name}-{width}.png"
            height = min(TALLEST, int(page.evaluate("document.body.scrollHeight")))
            clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": height}
            page.screenshot(path=str(path), full_page=True, clip=clip)
            written.append(path)

        for name, path in [
            ("inbox", "/app/"),
            ("wallet", f"/app/wallets/{main}"),
            ("sub-wallet", f"/app/wallets/{sub}"),
            ("preferences", "/app/preferences"),
            ("your-data", "/app/privacy"),
            ("front-page", "/"),
            ("not-found", "/app/no-such-page"),
        ]:
            page.goto(path)
            shot(name)
        page.goto("/verify")
        page.locator("#message").fill(body)
        page.locator("main form button[type=submit]").click()
        page.locator(".result").wait_for()
        shot("verify")
        page.goto("/console/login")
        shot("console-login")
        page.locator("#operator_name").fill("alice")
        page.locator("#operator_key").fill(ADMIN_KEY)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/console/")
        shot("console")
        _shoot_console(page, site, user_id, shot)
        context.close()
    return written


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "tidings.db"
        env = environment(f"sqlite:///{database}", workdir / "var")
        with cluster(workdir, env) as running:
            demo = subprocess.run(
                [str(TIDINGS), "demo", "--users", "3", "--days", "30"],
                env=env,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert demo.returncode == 0, demo.stdout + demo.stderr
            server = running.serve()
            assert server.base_url is not None
            user_id, main_wallet, sub_wallet = _demo_user(database)
            with operator(server.base_url) as client, chromium() as browser:
                site = Site(base_url=server.base_url, operator=client, database=database)
                wait_until(
                    lambda: len(inbox_items(client, user_id)) >= 10,
                    timeout=120,
                    what="the demo's notices in the inbox",
                )
                written = _shoot(browser, site, user_id, main_wallet, sub_wallet)
    for path in written:
        print(path.relative_to(OUT.parents[1]))


if __name__ == "__main__":
    main()
