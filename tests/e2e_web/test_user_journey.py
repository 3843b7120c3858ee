"""A user's pages in a real browser against a real server: sign in with the operator's
link, read a payment's notice and mark it read, change a setting (the API agrees), download
one's data, check a genuine and a forged message; a reused or expired link is refused. The
pages run under their own Content-Security-Policy, and nothing on them breaks it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.e2e_notify.support import inbox_items, ok
from tests.e2e_web.browser import Site, signed_in
from tests.e2e_web.conftest import Payer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]


@pytest.fixture
def page(browser: Browser, site: Site, payer: Payer) -> Iterator[Page]:
    context, opened = signed_in(browser, site, payer.id)
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    opened.on("console", watch)
    yield opened
    context.close()
    assert not problems, f"the browser reported errors: {problems}"


def test_the_payment_notice_is_in_the_inbox_and_is_marked_read(
    page: Page, site: Site, payer: Payer
) -> None:
    unread = page.locator("section[aria-labelledby=unread-heading]")
    notice = unread.locator("article", has_text="消费128.00元（星巴克）")
    expect(notice).to_be_visible()
    expect(notice.locator(".code strong")).to_have_text(
        next(
            item["body"][-6:]
            for item in inbox_items(site.operator, payer.id)
            if "128.00" in item["body"]
        )
    )
    notice.get_by_role("button", name="标为已读").focus()
    page.keyboard.press("Enter")  # htmx swaps the list in place
    expect(page.get_by_role("status")).to_have_text("已标为已读。")
    read = page.locator("section[aria-labelledby=read-heading]")
    expect(read.locator("article", has_text="消费128.00元（星巴克）")).to_be_visible()
    payment = next(i for i in inbox_items(site.operator, payer.id) if "128.00" in i["body"])
    assert payment["read"] is True


def test_a_preference_change_is_saved_and_the_api_agrees(
    page: Page, site: Site, payer: Payer
) -> None:
    page.get_by_role("link", name="消息通知设置").click()
    page.get_by_label("开始时间").fill("22:30")
    page.get_by_label("结束时间").fill("07:15")
    page.get_by_role("button", name="保存免打扰时段").click()
    quiet = page.locator("#pref-quiet_hours")
    expect(quiet.get_by_role("status")).to_have_text("✓ 已保存。")
    expect(page.get_by_label("开始时间")).to_have_value("22:30")
    marketing = page.locator("#pref-marketing")
    marketing.get_by_label("短信").check()
    marketing.get_by_role("button", name="保存优惠设置").click()
    expect(marketing.get_by_role("status")).to_have_text("✓ 已保存。")

    stored = ok(site.operator.get(f"/v1/users/{payer.id}/preferences"))
    assert stored["quiet_hours"] == {"start": "22:30", "end": "07:15"}
    assert stored["marketing_consent"]["sms"] is True


def test_your_data_page_downloads_the_users_own_data_in_clear(
    page: Page, site: Site, payer: Payer
) -> None:
    """PIPL art. 45 from the pages: the file is the signed-in user's, readable, and audited."""
    page.get_by_role("link", name="我的数据").click()
    expect(page.get_by_role("heading", name="我的数据", level=1)).to_be_visible()
    with page.expect_download() as downloading:
        page.get_by_role("link", name="下载我的数据").click()
    download = downloading.value
    assert download.suggested_filename == f"tidings-{payer.id}.json"
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert document["user_id"] == payer.id
    profile = document["profile"]
    assert (profile["name"], profile["phone"]) == ("王小明", "+8613912345678")
    paid = [t for t in document["transactions"] if t["kind"] == "payment"]
    assert [t["amount"]["value"] for t in paid] == [-12_800]  # money out of the wallet
    exported = {"user_id": payer.id, "action": "privacy.exported"}
    audits = ok(site.operator.get("/v1/audit", params=exported))
    assert [a["actor"] for a in audits["items"]] == [f"user:{payer.id}"]


def test_a_genuine_and_a_forged_message_on_verify(page: Page, site: Site, payer: Payer) -> None:
    body = next(i["body"] for i in inbox_items(site.operator, payer.id) if "128.00" in i["body"])
    page.get_by_role("link", name="核对消息真伪").first.click()
    page.get_by_label("完整消息内容").fill(body)
    page.get_by_role("button", name="核对").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("✓ 真实：这条消息是我们发出的")

    page.get_by_label("完整消息内容").fill(body.replace("128.00", "1128.00"))
    page.get_by_role("button", name="核对").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("✗ 不真实：这条消息不是我们发出的")


def test_a_reused_or_expired_link_is_refused(browser: Browser, site: Site, payer: Payer) -> None:
    link = site.link(payer.id)
    first = browser.new_context()
    first.new_page().goto(link)
    first.close()
    again = browser.new_context()
    reused = again.new_page()
    response = reused.goto(link)
    assert response is not None
    assert response.status == 410
    expect(reused.get_by_role("heading", level=1)).to_have_text("此链接已不能使用")
    expect(reused.locator("main")).to_contain_text("这个链接已经用过了")

    late = site.link(payer.id)
    site.expire_links(payer.id)
    expired = reused.goto(late)
    assert expired is not None
    assert expired.status == 410
    expect(reused.locator("main")).to_contain_text("这个链接已经过期")
    again.close()
