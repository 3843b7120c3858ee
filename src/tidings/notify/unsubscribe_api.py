"""`/u/{token}`: the unsubscribe page of a marketing message, no sign-in needed.

GET only shows the page (mail scanners and link previews fetch links; they must not
unsubscribe anyone); its form POSTs to the same path. A POST withdraws marketing consent on
the token's channel, whatever the body: the token in the URL is the proof, so RFC 8058
one-click (`List-Unsubscribe=One-Click`, form-encoded, from a mail provider) needs no CSRF
token. A token we did not make is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from sqlalchemy import Connection

from tidings.api.auth import Context
from tidings.kit.db import read_transaction, retried_write
from tidings.notify import unsubscribe
from tidings.notify.templates.filters import is_chinese
from tidings.notify.types import ChannelName

router = APIRouter(tags=["campaigns"])

ONE_CLICK = b"List-Unsubscribe=One-Click"

_CHANNELS = {
    "zh": {
        ChannelName.INBOX: "App消息中心",
        ChannelName.PUSH: "App推送",
        ChannelName.EMAIL: "电子邮件",
        ChannelName.SMS: "短信",
        ChannelName.WEBHOOK: "Webhook",
    },
    "en": {
        ChannelName.INBOX: "the app inbox",
        ChannelName.PUSH: "app notifications",
        ChannelName.EMAIL: "email",
        ChannelName.SMS: "text message",
        ChannelName.WEBHOOK: "webhook",
    },
}

_WORDING = {
    "zh": {
        "ask_title": "退订营销消息",
        "ask": "确认后，您将不再通过{channel}收到{brand}的营销消息。"
        "交易、安全和账单等服务通知不受影响。",
        "button": "确认退订",
        "done_title": "已退订",
        "done": "您已不会再通过{channel}收到{brand}的营销消息。"
        "如需恢复，可在App“设置-消息通知”中重新开启。",
        "missing_title": "链接无效",
        "missing": "这个退订链接无效。请使用消息中的完整链接，"
        "或在App“设置-消息通知”中关闭营销消息。",
    },
    "en": {
        "ask_title": "Unsubscribe from marketing",
        "ask": "Once you confirm, {brand} will no longer send you marketing by {channel}. "
        "Service notices (payments, security, bills) are not affected.",
        "button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done": "{brand} will no longer send you marketing by {channel}. To turn it back on, "
        "go to Settings > Notifications in the app.",
        "missing_title": "Link not valid",
        "missing": "This unsubscribe link is not valid. Use the whole link from the message, "
        "or turn marketing off in the app under Settings > Notifications.",
    },
}

_PAGE = Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }} - {{ brand }}</title>
<style>
body{margin:0;background:#f2f2f2;color:#1a1a1a;font-family:-apple-system,"PingFang SC",
"Microsoft YaHei","Helvetica Neue",Arial,sans-serif;font-size:1.125rem;line-height:1.7}
main{max-width:40rem;margin:0 auto;padding:1.5rem 1.25rem;background:#fff}
h1{font-size:1.6rem;line-height:1.35;margin:0 0 1.5rem}
.brand{font-weight:bold;color:#0b4f8a;margin:0 0 .75rem}
button{font:inherit;font-weight:bold;color:#fff;background:#0b4f8a;border:2px solid #0b4f8a;
border-radius:.375rem;padding:.6rem 1.5rem;cursor:pointer}
button:focus-visible{outline:3px solid #f0a500;outline-offset:3px}
</style>
</head>
<body>
<main>
<p class="brand">{{ brand }}</p>
<h1>{{ title }}</h1>
<p>{{ text }}</p>
{% if form %}
<form method="post" action="{{ action }}">
<button type="submit">{{ button }}</button>
</form>
{% endif %}
</main>
</body>
</html>
"""
)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _language(lang: str | None, locale: str | None) -> str:
    if lang is not None:
        return "zh" if is_chinese(lang) else "en"
    return "en" if locale is not None and not is_chinese(locale) else "zh"


def _page(
    context_brand: tuple[str, str],
    *,
    language: str,
    state: str,
    channel: ChannelName | None,
    action: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    wording = _WORDING[language]
    brand = context_brand[0] if language == "zh" else context_brand[1]
    label = _CHANNELS[language][channel] if channel is not None else ""
    html = _PAGE.render(
        lang="zh-CN" if language == "zh" else "en",
        brand=brand,
        title=wording[f"{state}_title"],
        text=wording[state].format(channel=label, brand=brand),
        form=state == "ask",
        button=wording["button"],
        action=action,
    )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


Lang = Annotated[str | None, Query(max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]+)*$")]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page (HTML)"},
    404: {"content": {"text/html": {}}, "description": "Not a token we made (HTML page)"},
}


@router.get("/u/{token}", response_class=HTMLResponse, responses=_RESPONSES)
def unsubscribe_page(
    token: str, request: Request, context: Context, lang: Lang = None
) -> HTMLResponse:
    """The unsubscribe page: what confirming does, and the button that confirms."""
    brands = (context.settings.brand, context.settings.brand_en)
    target = unsubscribe.read_token(context.keyring, token)
    locale = None
    if target is not None:
        with read_transaction(context.engine) as conn:
            locale = unsubscribe.locale_of(conn, target)
    language = _language(lang, locale)
    if target is None or locale is None:
        return _page(brands, language=language, state="missing", channel=None, status_code=404)
    action = request.url.path + (f"?lang={lang}" if lang else "")
    return _page(brands, language=language, state="ask", channel=target.channel, action=action)


@router.post("/u/{token}", response_class=HTMLResponse, responses=_RESPONSES)
def confirm_unsubscribe(
    token: str,
    request: Request,
    context: Context,
    raw_body: Annotated[bytes, Depends(_raw_body)],
    lang: Lang = None,
) -> HTMLResponse:
    """Withdraw marketing consent on the token's channel (the page's form, or RFC 8058
    one-click with `List-Unsubscribe=One-Click`); answers the confirmation page."""
    brands = (context.settings.brand, context.settings.brand_en)
    target = unsubscribe.read_token(context.keyring, token)
    if target is None:
        return _page(
            brands, language=_language(lang, None), state="missing", channel=None, status_code=404
        )
    one_click = ONE_CLICK in raw_body
    how = "RFC 8058 one-click POST" if one_click else "confirmed on the unsubscribe page"
    agent = request.headers.get("user-agent", "")[:120]
    evidence = f"POST /u/… ({how}); User-Agent: {agent or '-'}"
    found = target
    at = context.clock.now()

    def withdraw(conn: Connection) -> str | None:
        locale = unsubscribe.locale_of(conn, found)
        if locale is not None:
            unsubscribe.withdraw(
                conn,
                found,
                evidence=evidence,
                at=at,
                report_status=context.settings.status_webhook_url is not None,
            )
        return locale

    locale = retried_write(context.engine, withdraw)
    language = _language(lang, locale)
    if locale is None:
        return _page(brands, language=language, state="missing", channel=None, status_code=404)
    return _page(brands, language=language, state="done", channel=target.channel)
