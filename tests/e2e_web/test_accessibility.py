"""axe-core finds no serious or critical violation on any page, in either language: every
page of the user's, the public ones, every page of the console, and the error, refused link
and signed-out pages, including forms showing an error or a result."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e_notify.support import ADMIN_KEY, ok
from tests.e2e_web.browser import Site, serious_violations, signed_in
from tests.e2e_web.conftest import Payer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

LANGUAGES = {"zh-CN": "zh-CN", "en": "en"}


def _check(page: Page, name: str, found: dict[str, list[str]]) -> None:
    violations = serious_violations(page)
    if violations:
        found[name] = violations


SMS_TEMPLATE = "/console/templates/wallet.payment.succeeded/sms/zh-CN"


def _follow_up(site: Site, payer: Payer) -> tuple[str, str]:
    """A resolved ticket of the payer's (answered by an agent) and a survey it invited them
    to; the same ones on every call."""
    surveys = ok(site.operator.get("/v1/surveys"))
    if surveys:
        survey_id = surveys[0]["id"]
        ticket_id = ok(site.operator.get(f"/v1/users/{payer.id}/tickets"))["items"][0]["id"]
        return ticket_id, survey_id
    survey = {
        "name": "客服回访",
        "trigger": {"event_type": "followup.ticket.resolved"},
        "sample_percent": 100,
        "questions": [
            {
                "id": "nps",
                "kind": "nps",
                "text": {
                    "zh-CN": "您有多大可能推荐我们？",
                    "en": "How likely are you to recommend us?",
                },
            },
            {
                "id": "say",
                "kind": "text",
                "text": {"zh-CN": "还有什么想说的？", "en": "Anything else?"},
            },
        ],
    }
    survey_id = ok(site.operator.post("/v1/surveys", json=survey), 201)["id"]
    ticket = {"user_id": payer.id, "channel": "web", "body": "转账没到账，请帮忙查一下"}
    ticket_id = ok(site.operator.post("/v1/tickets", json=ticket), 201)["id"]
    answer = {"author": "agent", "body": "已为您核实，款项今天到账。"}
    ok(site.operator.post(f"/v1/tickets/{ticket_id}/messages", json=answer), 201)
    ok(site.operator.post(f"/v1/tickets/{ticket_id}/status", json={"status": "resolved"}))
    ok(site.operator.post("/v1/jobs/followup.invitations/runs", json={}), 202)
    change = {
        "title": {"zh-CN": "到账更快了", "en": "Transfers arrive faster"},
        "body": {"zh-CN": "转账2小时内到账。"},
    }
    ok(site.operator.post("/v1/changes", json=change), 201)
    return ticket_id, survey_id


def _check_console(page: Page, site: Site, payer: Payer, found: dict[str, list[str]]) -> None:
    """Every console page, and its forms with a result and with an error."""
    notices = ok(site.operator.get(f"/v1/users/{payer.id}/notifications"))["items"]
    ticket_id, _ = _follow_up(site, payer)
    for name, path in [
        ("console tickets", "/console/tickets"),
        ("console ticket", f"/console/tickets/{ticket_id}?draft=0"),
        ("console feedback", "/console/feedback"),
        ("console without refreshing", "/console/?live=false"),
        ("console notification", f"/console/notifications/{notices[0]['id']}"),
        ("console templates", "/console/templates"),
        ("console template", SMS_TEMPLATE),
        ("console users", "/console/users"),
        ("console user", f"/console/users/{payer.id}"),
        ("console jobs", "/console/jobs"),
    ]:
        page.goto(path)
        _check(page, name, found)

    page.goto(SMS_TEMPLATE)
    page.locator("#template-body").fill("您的钱包支付{{ amount|money }")
    page.locator("#template-form button[type=submit]:not([formaction])").click()
    page.locator("#body-error").wait_for()
    _check(page, "console template with an error", found)

    page.goto("/console/users")
    page.locator("#reference").fill("13912345678")
    page.locator("main form button[type=submit]").click()
    page.locator("#results-heading").wait_for()
    _check(page, "console users found", found)

    page.goto("/console/jobs")
    page.locator("#job").select_option("wallet.statements")
    page.locator("main form button[type=submit]").click()
    page.locator("#job-result").wait_for()
    _check(page, "console job run", found)
    page.locator("#as_of").fill("2099-01-01T00:00")
    page.locator("main form button[type=submit]").click()
    page.locator("#as-of-error").wait_for()
    _check(page, "console job with an error", found)


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_no_serious_violation_on_any_page(
    browser: Browser, site: Site, payer: Payer, lang: str
) -> None:
    found: dict[str, list[str]] = {}
    # axe is injected as a script: only this audit's profile lets it past the pages' CSP.
    context, page = signed_in(browser, site, payer.id, bypass_csp=True)
    page.goto(f"/app/?lang={lang}")
    assert page.locator("html").get_attribute("lang") == LANGUAGES[lang]
    ticket_id, survey_id = _follow_up(site, payer)
    for name, path in [
        ("tickets", "/app/tickets"),
        ("ticket", f"/app/tickets/{ticket_id}"),
        ("survey", f"/app/surveys/{survey_id}"),
        ("changes", "/changes"),
        ("inbox", "/app/"),
        ("wallet", f"/app/wallets/{payer.wallet_id}"),
        ("sub-wallet", f"/app/wallets/{payer.sub_wallet_id}"),
        ("preferences", "/app/preferences"),
        ("your data", "/app/privacy"),
        ("front page", "/"),
        ("verify", "/verify"),
        ("not found", "/app/no-such-page"),
        ("refused link", "/app/login?token=twl_not-ours"),
        ("console sign-in", "/console/login"),
    ]:
        page.goto(path)
        _check(page, name, found)

    page.goto("/app/preferences")
    page.locator("#quiet_start").fill("22:00")
    page.locator("#quiet_end").fill("")
    page.locator("#pref-quiet_hours button[type=submit]").click()
    page.locator("#quiet_end-error").wait_for()
    _check(page, "preferences with an error", found)

    page.goto("/verify")
    page.locator("#message").fill("【Tidings】您的账户异常，请点击链接验证。防伪码ABCDEF")
    page.locator("main form button[type=submit]").click()
    page.locator(".result").wait_for()
    _check(page, "verify with a result", found)

    page.goto("/console/login")
    page.locator("#operator_key").fill("not the key")
    page.locator("main form button[type=submit]").click()
    page.locator("#operator-key-error").wait_for()
    _check(page, "console sign-in with an error", found)
    page.locator("#operator_name").fill("alice")
    page.locator("#operator_key").fill(ADMIN_KEY)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/console/")
    _check(page, "console", found)
    _check_console(page, site, payer, found)

    page.goto("/app/")
    page.locator(".sign-out button").click()
    page.wait_for_url("**/app/logout")
    _check(page, "signed out", found)
    context.close()
    assert not found, found


def test_the_skip_link_is_the_first_stop_of_the_keyboard(
    browser: Browser, site: Site, payer: Payer
) -> None:
    context, page = signed_in(browser, site, payer.id)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()
