"""The console in a real browser against a real server: an operator signs in, watches the
delivery-health page count a payment's notice (htmx refreshes it in place, under the pages'
Content-Security-Policy), and edits an SMS template with its live preview and segment count."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e_notify.support import cny, inbox_items, ok, wait_until
from tests.e2e_web.browser import Site
from tests.e2e_web.conftest import NOTICE_TIMEOUT, Payer
from tests.e2e_web.console import console_signed_in, reported_errors

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

REFRESH_WAIT_MS = 40_000
"""The page refreshes its figures every 15 s; a loaded machine may take one more round."""


@pytest.fixture
def page(browser: Browser, site: Site, payer: Payer) -> Iterator[Page]:
    context, opened = console_signed_in(browser, site)
    problems = reported_errors(opened)
    yield opened
    context.close()
    assert not problems, f"the browser reported errors: {problems}"


def test_the_health_page_counts_a_payments_notice_as_it_is_delivered(
    page: Page, site: Site, payer: Payer
) -> None:
    expect(page.locator("h1")).to_have_text("投递健康")
    expect(page.locator(".operator")).to_have_text("当前运营人员：alice")
    sent = page.locator("#sent-hour-inbox-inbox")
    before = int(sent.inner_text().replace(",", ""))
    notices = len(inbox_items(site.operator, payer.id))

    ok(
        site.operator.post(
            "/v1/transfers",
            json={
                "kind": "payment",
                "source": payer.wallet_id,
                "amount": cny(4_500),
                "merchant": {"name": "全家", "category": "5411"},
            },
        ),
        201,
    )
    wait_until(
        lambda: len(inbox_items(site.operator, payer.id)) > notices,
        timeout=NOTICE_TIMEOUT,
        what="the new payment's notice in the inbox",
    )
    # No reload: htmx asks for the figures again and swaps them in.
    expect(page.locator("#sent-hour-inbox-inbox")).to_have_text(
        str(before + 1), timeout=REFRESH_WAIT_MS
    )


def test_an_sms_template_is_edited_with_a_live_preview_and_saved_as_a_draft(
    page: Page,
) -> None:
    page.get_by_role("link", name="消息模板").click()
    page.get_by_label("通知类型").select_option("wallet.payment.succeeded")
    page.get_by_label("语言").select_option("zh-CN")
    page.get_by_role("button", name="显示").click()
    page.get_by_role("link", name="wallet.payment.succeeded").click()
    expect(page.locator("h1")).to_contain_text("wallet.payment.succeeded")
    body = page.get_by_label("文本", exact=True)
    body.fill("您的钱包支付{{ amount|money }}给{{ merchant.name }}。")
    preview = page.locator("#preview-body")
    expect(preview).to_have_text("【Tidings钱包】您的钱包支付128.00元给星巴克。防伪码K7Q2X9")
    expect(page.locator("#preview-segments")).to_contain_text("1 条短信计费条数")

    body.fill("您的钱包支付{{ amount|money }}给{{ merchant.name }}。" * 7)
    page.get_by_role("button", name="预览").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#preview-segments")).to_contain_text("3 条短信计费条数")

    page.get_by_role("button", name="保存为草稿").click()
    page.wait_for_url("**?done=saved")
    expect(page.get_by_role("status")).to_have_text("已保存为草稿，需由另一位运营人员批准。")
    expect(page.locator("#version-1")).to_contain_text("草稿")
