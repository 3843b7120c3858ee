"""Golden files: every shipped (kind, channel, locale) rendered with its sample data.

A change of wording shows up here as a diff to read. After a deliberate change, regenerate
with `TIDINGS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/notify_templates/test_golden.py`, read
the files, and commit them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.delivery.digest import DIGEST_CHANNELS, DIGEST_KIND, TITLES_SHOWN
from tidings.notify.rules import RULES
from tidings.notify.templates import RenderedContent, TemplateRenderer, sample_data
from tidings.notify.types import Category, ChannelName

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TIDINGS_UPDATE_GOLDEN") == "1"
TZ = "Asia/Shanghai"
CODE = "K7Q2X9"
LOCALES = ("zh-CN", "en")
HTML_KINDS = ("wallet.payment.succeeded", "security.login.new_device", "marketing.promotion")

renderer = TemplateRenderer()


def _render(
    kind: str, channel: ChannelName, locale: str
) -> tuple[str | None, str, str | None, int | None]:
    message = renderer.render(
        kind=kind,
        channel=channel,
        locale=locale,
        data=sample_data(kind, locale),
        timezone=TZ,
        category=RULES[kind].category,
        authenticity_code=CODE,
    )
    return message.title, message.body, message.html, message.segments


def rendered_text(kind: str, locale: str) -> str:
    """All four channels of one kind in one readable file."""
    lines = [f"# {kind} ({locale}, {RULES[kind].category.value}) - sample data, {TZ}, code {CODE}"]
    for channel in (ChannelName.SMS, ChannelName.PUSH, ChannelName.INBOX, ChannelName.EMAIL):
        title, body, _, segments = _render(kind, channel, locale)
        if channel is ChannelName.SMS:
            lines += ["", f"== sms: {segments} segment(s), {len(body)} characters ==", body]
        else:
            label = "subject" if channel is ChannelName.EMAIL else "title"
            lines += ["", f"== {channel.value} ==", f"{label}: {title}", body]
    return "\n".join(lines) + "\n"


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run with TIDINGS_UPDATE_GOLDEN=1 and read it"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden file"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_kind_renders_as_its_golden_file(kind: str, locale: str) -> None:
    check_golden(GOLDEN / locale / f"{kind}.txt", rendered_text(kind, locale))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", HTML_KINDS)
def test_email_html_renders_as_its_golden_file(kind: str, locale: str) -> None:
    _, _, html, _ = _render(kind, ChannelName.EMAIL, locale)
    assert html is not None
    check_golden(GOLDEN / locale / f"{kind}.email.html", html)


def test_no_stale_golden_files() -> None:
    expected = {f"{kind}.txt" for kind in EVENT_TYPES} | {f"{k}.email.html" for k in HTML_KINDS}
    for locale in LOCALES:
        present = (
            {p.name for p in (GOLDEN / locale).glob("*")} if (GOLDEN / locale).exists() else set()
        )
        assert present <= expected, f"stale golden files in {locale}: {present - expected}"


# ---- the daily digest: the engine's own message, from engine.<locale>.toml ------------------

DIGEST_TITLES = {
    "zh-CN": ["消费提醒", "到账提醒", "预算提醒", "储蓄进度", "账单已出", "还款提醒", "问卷邀请"],
    "en": [
        "Payment made",
        "Money received",
        "Budget alert",
        "Savings progress",
        "Statement ready",
        "Repayment due",
        "Tell us how we did",
    ],
}
DIGEST_GOLDEN = GOLDEN / DIGEST_KIND


def _render_digest(channel: ChannelName, locale: str, titles: list[str]) -> RenderedContent:
    return renderer.render(
        kind=DIGEST_KIND,
        channel=channel,
        locale=locale,
        data={
            "count": len(titles),
            "titles": titles[:TITLES_SHOWN],
            "more": len(titles) > TITLES_SHOWN,
        },
        timezone=TZ,
        category=Category.INFORMATIONAL,
        authenticity_code=CODE,
    )


def digest_text(locale: str) -> str:
    """The digest on each channel it goes by, of seven notices (five shown) and of two."""
    titles = DIGEST_TITLES[locale]
    lines = [f"# {DIGEST_KIND} ({locale}) - sample titles, {TZ}, code {CODE}"]
    for shown in (titles, titles[:2]):
        for channel in DIGEST_CHANNELS:
            message = _render_digest(channel, locale, shown)
            lines += ["", f"== {channel.value}: {len(shown)} notices =="]
            if message.title is not None:
                label = "subject" if channel is ChannelName.EMAIL else "title"
                lines.append(f"{label}: {message.title}")
            lines.append(message.body)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_digest_renders_as_its_golden_file(locale: str) -> None:
    check_golden(DIGEST_GOLDEN / f"{locale}.txt", digest_text(locale))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_digest_email_html_renders_as_its_golden_file(locale: str) -> None:
    html = _render_digest(ChannelName.EMAIL, locale, DIGEST_TITLES[locale]).html
    assert html is not None
    check_golden(DIGEST_GOLDEN / f"{locale}.email.html", html)


def test_the_digest_is_no_event_kind_operators_list_or_override() -> None:
    assert DIGEST_KIND not in renderer.kinds()
    assert DIGEST_KIND not in EVENT_TYPES
