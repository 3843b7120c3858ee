"""The renderer: reference messages, the rules every message keeps, the sandbox, filters."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.rules import RULES
from tidings.notify.templates import TemplateRenderer, TemplateSource, sample_data
from tidings.notify.templates.exceptions import (
    ChannelHasNoTemplate,
    SmsTooLong,
    TemplateProblem,
    TemplateRenderFailed,
    TemplateSyntaxProblem,
    UnknownKind,
    UnsafeTemplate,
)
from tidings.notify.templates.render import locale_candidates
from tidings.notify.templates.service import check_template
from tidings.notify.templates.sms import is_gsm7
from tidings.notify.templates.source import parse_locale_file
from tidings.notify.types import Category, ChannelName

TZ = "Asia/Shanghai"
TEXT_CHANNELS = (ChannelName.SMS, ChannelName.PUSH, ChannelName.INBOX, ChannelName.EMAIL)
SECURITY_KINDS = sorted(k for k, rule in RULES.items() if rule.category is Category.CRITICAL)
MARKETING_KINDS = sorted(k for k, rule in RULES.items() if rule.category is Category.MARKETING)

renderer = TemplateRenderer()


def render(
    kind: str,
    channel: ChannelName = ChannelName.SMS,
    locale: str = "zh-CN",
    data: dict[str, Any] | None = None,
    *,
    code: str | None = None,
    using: TemplateRenderer = renderer,
) -> Any:
    return using.render(
        kind=kind,
        channel=channel,
        locale=locale,
        data=sample_data(kind, locale) if data is None else data,
        timezone=TZ,
        category=RULES[kind].category,
        authenticity_code=code,
    )


# ---- the reference messages ----------------------------------------------------------------


def test_zh_payment_sms_matches_the_reference_message() -> None:
    sms = render("wallet.payment.succeeded")
    assert sms.body == (
        "【Tidings钱包】您尾号8821的钱包于11月24日15:30消费128.00元（星巴克），"
        "余额3,456.78元。如非本人操作请致电客服。"
    )
    assert sms.title is None
    assert sms.html is None
    assert len(sms.body) == 72
    assert sms.segments == 2


def test_en_transfer_received_sms_matches_the_reference_message() -> None:
    sms = render("wallet.transfer.received", locale="en")
    assert sms.body == (
        "[Tidings Wallet] Your wallet ending 8821 received CNY 500.00 from Li** at 09:12. "
        "Balance CNY 3,956.78."
    )


def test_zh_repayment_due_matches_the_reference_message() -> None:
    sms = render("credit.repayment.due")
    assert sms.body == (
        "【Tidings钱包】您的借款2,000.00元将于11月27日到期，应还2,016.50元，请确保余额充足。"
    )


def test_zh_repayment_due_today_says_today() -> None:
    data = {**sample_data("credit.repayment.due"), "days_before": 0}
    assert "今天（11月27日）到期" in render("credit.repayment.due", data=data).body


def test_zh_budget_matches_the_reference_message() -> None:
    sms = render("wallet.budget.threshold_reached")
    assert sms.body == "【Tidings钱包】旅行子钱包本月预算已用82%（1,640.00/2,000.00元）。"


def test_zh_promotion_matches_the_reference_message() -> None:
    sms = render("marketing.promotion")
    assert sms.body == "【Tidings钱包】双11专享：话费充值满50减5，11月30日前有效。回T退订"


def test_collection_notice_is_plain_figures_and_one_action() -> None:
    sms = render("credit.overdue").body
    assert sms == (
        "【Tidings钱包】您11月27日到期的借款应还2,016.50元，已逾期3天，产生罚息3.02元。"
        "请尽快在App中还款。"
    )
    en = render("credit.overdue", locale="en").body
    assert "3 days overdue" in en
    assert "CNY 3.02" in en
    one_day = {**sample_data("credit.overdue", "en"), "days_overdue": 1}
    assert "1 day overdue" in render("credit.overdue", locale="en", data=one_day).body


# ---- rules every message keeps ---------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_sms_starts_with_the_sender_signature(kind: str) -> None:
    assert render(kind).body.startswith("【Tidings钱包】")
    assert render(kind, locale="en").body.startswith("[Tidings Wallet] ")


def test_the_brand_in_the_signature_is_configurable() -> None:
    branded = TemplateRenderer(brand="拉卡拉", brand_en="Lakala")
    assert render("wallet.payment.succeeded", using=branded).body.startswith("【拉卡拉】")
    assert render("wallet.payment.succeeded", "sms", "en", using=branded).body.startswith(
        "[Lakala] "
    )


@pytest.mark.parametrize("kind", MARKETING_KINDS)
@pytest.mark.parametrize("code", [None, "K7Q2X9"])
def test_marketing_sms_always_ends_with_the_unsubscribe_instruction(
    kind: str, code: str | None
) -> None:
    assert render(kind, code=code).body.endswith("回T退订")
    assert render(kind, locale="en", code=code).body.endswith("Reply T to unsubscribe")


def test_unsubscribe_comes_from_the_renderer_even_for_an_operator_template() -> None:
    operator = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(None, "{{ title }}！")
    )
    assert render("marketing.promotion", using=operator).body == "【Tidings钱包】双11专享！回T退订"


def test_an_operator_sms_that_already_has_signature_and_unsubscribe_does_not_repeat_them() -> None:
    operator = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(
            None, "【Tidings钱包】{{ title }}。回T退订"
        )
    )
    assert render("marketing.promotion", using=operator).body == "【Tidings钱包】双11专享。回T退订"


@pytest.mark.parametrize("kind", sorted(k for k in EVENT_TYPES if k not in MARKETING_KINDS))
def test_non_marketing_sms_has_no_unsubscribe(kind: str) -> None:
    assert "回T退订" not in render(kind).body


@pytest.mark.parametrize("channel", TEXT_CHANNELS)
def test_authenticity_code_is_appended_to_every_channel_body(channel: ChannelName) -> None:
    zh = render("wallet.payment.succeeded", channel, code="K7Q2X9")
    en = render("wallet.payment.succeeded", channel, "en", code="K7Q2X9")
    assert "防伪码K7Q2X9" in zh.body
    assert "Code K7Q2X9" in en.body
    assert "K7Q2X9" not in (zh.title or "")
    if channel is ChannelName.SMS:
        assert zh.body.endswith("如非本人操作请致电客服。防伪码K7Q2X9")
        assert en.body.endswith("call customer service. Code K7Q2X9")
    if channel is ChannelName.EMAIL:
        assert zh.html is not None
        assert "防伪码K7Q2X9" in zh.html


def test_marketing_sms_puts_the_code_before_the_unsubscribe_instruction() -> None:
    assert render("marketing.promotion", code="K7Q2X9").body == (
        "【Tidings钱包】双11专享：话费充值满50减5，11月30日前有效。防伪码K7Q2X9。回T退订"
    )
    assert render("marketing.promotion", locale="en", code="K7Q2X9").body.endswith(
        "Valid until 30 Nov. Code K7Q2X9. Reply T to unsubscribe"
    )


@pytest.mark.parametrize("kind", SECURITY_KINDS)
@pytest.mark.parametrize("channel", TEXT_CHANNELS)
def test_security_notices_say_what_we_never_ask_for(kind: str, channel: ChannelName) -> None:
    assert "我们不会索要您的密码或验证码" in render(kind, channel).body
    assert "We will never ask for your password or codes" in render(kind, channel, "en").body


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_english_sms_stay_in_gsm7(kind: str) -> None:
    assert is_gsm7(render(kind, locale="en", code="K7Q2X9").body)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_shipped_sms_fit_two_segments_with_the_code(kind: str, locale: str) -> None:
    sms = render(kind, locale=locale, code="K7Q2X9")
    assert sms.segments is not None
    assert sms.segments <= 2, sms.body


def test_push_and_inbox_have_title_and_body_and_no_signature() -> None:
    for channel in (ChannelName.PUSH, ChannelName.INBOX):
        message = render("wallet.payment.succeeded", channel)
        assert message.title == "消费提醒"
        assert message.body.startswith("您尾号8821的钱包")
        assert message.html is None
        assert message.segments is None


def test_email_has_subject_text_and_an_accessible_html_layout() -> None:
    email = render("wallet.payment.succeeded", ChannelName.EMAIL, code="K7Q2X9")
    assert email.title == "消费提醒"
    assert email.body.startswith("您尾号8821的钱包于11月24日15:30消费128.00元")
    assert "本邮件由Tidings钱包发送" in email.body
    assert email.html is not None
    assert '<html lang="zh-CN">' in email.html
    assert "<title>消费提醒</title>" in email.html
    assert 'name="viewport"' in email.html
    assert "font-size:18px" in email.html
    assert "<h1" in email.html


def test_marketing_email_tells_how_to_unsubscribe() -> None:
    assert "关闭" in render("marketing.promotion", ChannelName.EMAIL).body
    assert "Turn them off" in render("marketing.promotion", ChannelName.EMAIL, "en").body
    assert "营销邮件" not in render("wallet.payment.succeeded", ChannelName.EMAIL).body


def test_webhook_has_no_template() -> None:
    with pytest.raises(ChannelHasNoTemplate, match="event's JSON"):
        render("wallet.payment.succeeded", ChannelName.WEBHOOK)


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(UnknownKind):
        renderer.render(
            kind="wallet.nope",
            channel=ChannelName.SMS,
            locale="zh-CN",
            data={},
            timezone=TZ,
            category=Category.TRANSACTIONAL,
        )


def test_missing_required_data_names_the_field() -> None:
    data = sample_data("wallet.payment.succeeded")
    del data["merchant"]
    with pytest.raises(TemplateRenderFailed, match="merchant"):
        render("wallet.payment.succeeded", data=data)


def test_optional_fields_may_be_left_out() -> None:
    data = sample_data("wallet.transfer.received")
    for optional in ("wallet_id", "occurred_at", "balance_after"):
        del data[optional]
    assert render("wallet.transfer.received", data=data).body == (
        "【Tidings钱包】您的钱包收到李*转账500.00元。"
    )


# ---- locales -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh-CN", ["zh-CN", "zh"]),
        ("zh-Hans-CN", ["zh-Hans-CN", "zh-CN", "zh"]),
        ("en-US", ["en-US", "en", "zh-CN"]),
        ("en_gb", ["en-GB", "en", "zh-CN"]),
        ("zh-TW", ["zh-TW", "zh", "zh-CN"]),
        ("", ["zh-CN"]),
    ],
)
def test_locale_candidates_go_exact_then_language_then_default(
    locale: str, expected: list[str]
) -> None:
    assert locale_candidates(locale) == expected


@pytest.mark.parametrize(
    ("locale", "start"),
    [
        ("en-US", "[Tidings Wallet] "),
        ("en", "[Tidings Wallet] "),
        ("zh-HK", "【Tidings钱包】"),
        ("zh-Hans-CN", "【Tidings钱包】"),
        ("fr-FR", "【Tidings钱包】"),
    ],
)
def test_locale_falls_back_to_language_then_zh_cn(locale: str, start: str) -> None:
    data = sample_data("wallet.payment.succeeded", locale)
    assert render("wallet.payment.succeeded", locale=locale, data=data).body.startswith(start)


def test_an_operator_version_for_the_language_beats_the_shipped_exact_fallback() -> None:
    seen: list[tuple[str, str, str]] = []

    def overrides(kind: str, channel: str, locale: str) -> TemplateSource | None:
        seen.append((kind, channel, locale))
        return TemplateSource(None, "Paid {{ amount|money }}.") if locale == "en" else None

    operator = TemplateRenderer(overrides=overrides)
    message = render("wallet.payment.succeeded", locale="en-US", using=operator)
    assert message.body == "[Tidings Wallet] Paid CNY 128.00."
    assert seen == [
        ("wallet.payment.succeeded", "sms", "en-US"),
        ("wallet.payment.succeeded", "sms", "en"),
    ]


# ---- segment limit --------------------------------------------------------------------------


def test_shipped_sms_beyond_the_segment_limit_is_refused() -> None:
    strict = TemplateRenderer(max_sms_segments=1)
    with pytest.raises(SmsTooLong, match="2 segments") as caught:
        render("security.login.new_device", using=strict)
    assert caught.value.field == "body"
    assert caught.value.extra == {"segments": 2, "max_segments": 1}


def test_operator_sms_beyond_the_default_three_segments_is_refused() -> None:
    long = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(None, "您好" * 100)
    )
    with pytest.raises(SmsTooLong, match="at most 3"):
        render("wallet.payment.succeeded", using=long)


def test_a_long_promotion_body_is_shortened_in_the_sms_but_not_in_the_inbox() -> None:
    data = {**sample_data("marketing.promotion"), "body": "满减" * 200}
    sms = render("marketing.promotion", data=data)
    assert sms.segments is not None
    assert sms.segments <= 3
    assert "…" in sms.body
    inbox = render("marketing.promotion", ChannelName.INBOX, data=data)
    assert "满减" * 200 in inbox.body


# ---- sandbox and injection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ amount.__class__ }}",
        "{{ amount['__class__'] }}",
        "{% if false %}{{ ''.__class__ }}{% endif %}",
        "{{ (''|attr('__cl' ~ 'ass__')) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% include 'x' %}",
        "{% import 'x' as y %}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 9999999 }}",
    ],
)
def test_the_sandbox_refuses_internals_and_runaway_templates(source: str) -> None:
    hostile = TemplateRenderer(overrides=lambda kind, channel, locale: TemplateSource(None, source))
    with pytest.raises((UnsafeTemplate, TemplateRenderFailed)) as caught:
        render("wallet.payment.succeeded", using=hostile)
    assert caught.value.field == "body"


def test_syntax_errors_name_the_field_and_line() -> None:
    broken = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource("{{ title", "ok\n{% if %}")
    )
    with pytest.raises(TemplateSyntaxProblem, match="body, line 2"):
        render("wallet.payment.succeeded", ChannelName.PUSH, using=broken)


@pytest.mark.parametrize(
    "source",
    ["{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "{{ 1" + "+1" * 5000 + " }}"],
)
def test_templates_nested_beyond_the_parser_are_a_syntax_problem(source: str) -> None:
    deep = TemplateRenderer(overrides=lambda kind, channel, locale: TemplateSource(None, source))
    with pytest.raises(TemplateSyntaxProblem, match="nested too deeply"):
        render("wallet.payment.succeeded", using=deep)


def test_undefined_names_fail_loudly() -> None:
    typo = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(None, "{{ amout|money }}")
    )
    with pytest.raises(TemplateRenderFailed, match="'amout' is undefined"):
        render("wallet.payment.succeeded", using=typo)


@pytest.mark.parametrize("channel", TEXT_CHANNELS)
def test_data_that_looks_like_a_template_renders_literally(channel: ChannelName) -> None:
    data = sample_data("wallet.payment.succeeded")
    data["merchant"] = {"name": "{{ 7*7 }}{% raw %}"}
    message = render("wallet.payment.succeeded", channel, data=data)
    assert "（{{ 7*7 }}{% raw %}）" in message.body
    assert "49" not in message.body


def test_html_in_data_is_escaped_in_the_email_html_and_kept_in_the_text() -> None:
    data = sample_data("wallet.payment.succeeded")
    data["merchant"] = {"name": '<script>alert("x")</script><b>'}
    email = render("wallet.payment.succeeded", ChannelName.EMAIL, data=data)
    assert '<script>alert("x")</script><b>' in email.body
    assert email.html is not None
    assert "<script>" not in email.html
    assert "<b>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;" in email.html


def test_event_data_cannot_replace_the_brand_or_locale() -> None:
    data = {**sample_data("marketing.promotion"), "brand": "Evil", "locale": "en"}
    operator = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(None, "{{ brand }}{{ locale }}")
    )
    assert render("marketing.promotion", data=data, using=operator).body.startswith(
        "【Tidings钱包】Tidings钱包zh-CN"
    )


# ---- filters ---------------------------------------------------------------------------------


def filtered(source: str, data: dict[str, Any], locale: str = "zh-CN") -> str:
    probe = TemplateRenderer(overrides=lambda kind, channel, loc: TemplateSource("t", source))
    message = probe.render(
        kind="wallet.payment.succeeded",
        channel=ChannelName.INBOX,
        locale=locale,
        data=data,
        timezone=TZ,
        category=Category.TRANSACTIONAL,
    )
    return str(message.body)


@pytest.mark.parametrize(
    ("amount", "zh", "en"),
    [
        ({"value": 12800, "currency": "CNY"}, "128.00元", "CNY 128.00"),
        ({"value": 345678, "currency": "CNY"}, "3,456.78元", "CNY 3,456.78"),
        ({"value": 123456789, "currency": "CNY"}, "1,234,567.89元", "CNY 1,234,567.89"),
        ({"value": 5, "currency": "CNY"}, "0.05元", "CNY 0.05"),
        ({"value": -12800, "currency": "CNY"}, "-128.00元", "CNY -128.00"),
        ({"value": 1200, "currency": "USD"}, "12.00美元", "USD 12.00"),
        ({"value": 1200, "currency": "JPY"}, "1,200日元", "JPY 1,200"),
    ],
)
def test_money_uses_the_currency_digits_and_locale(
    amount: dict[str, Any], zh: str, en: str
) -> None:
    assert filtered("{{ a|money }}", {"a": amount}) == zh
    assert filtered("{{ a|money }}", {"a": amount}, "en") == en


def test_money_refuses_floats() -> None:
    with pytest.raises(TemplateRenderFailed, match="integer 'value' in minor units"):
        filtered("{{ a|money }}", {"a": {"value": 128.0, "currency": "CNY"}})


def test_money_bare_gives_the_number_alone() -> None:
    assert filtered("{{ a|money(bare=true) }}", {"a": {"value": 164000, "currency": "CNY"}}) == (
        "1,640.00"
    )


@pytest.mark.parametrize(
    ("moment", "zh", "en"),
    [
        ("2024-11-24T07:30:00Z", "11月24日15:30", "24 Nov 15:30"),
        ("2024-11-24T07:30:00+00:00", "11月24日15:30", "24 Nov 15:30"),
        ("2024-11-24T07:30:00", "11月24日15:30", "24 Nov 15:30"),
        ("2024-12-31T16:05:00Z", "1月1日00:05", "1 Jan 00:05"),
    ],
)
def test_local_time_is_in_the_users_time_zone(moment: str, zh: str, en: str) -> None:
    assert filtered("{{ t|local_time }}", {"t": moment}) == zh
    assert filtered("{{ t|local_time }}", {"t": moment}, "en") == en


def test_local_time_style_time_gives_the_clock_only() -> None:
    assert filtered("{{ t|local_time('time') }}", {"t": "2024-11-24T01:12:00Z"}) == "09:12"


def test_local_date_keeps_the_calendar_day() -> None:
    assert filtered("{{ d|local_date }}", {"d": "2024-11-27"}) == "11月27日"
    assert filtered("{{ d|local_date }}", {"d": "2024-11-27"}, "en") == "27 Nov"


def test_tail_mask_name_percent_and_purpose() -> None:
    data = {"w": "wal_01JDQZKXWHMNPRSTVABCDE8821", "n": "张三丰", "e": "Li Na", "p": 82}
    assert filtered("{{ w|tail }} {{ n|mask_name }} {{ e|mask_name }} {{ p|percent }}", data) == (
        "8821 张*丰 Li** 82%"
    )
    assert filtered("{{ 'travel'|wallet_purpose }}", {}) == "旅行"
    assert filtered("{{ 'travel'|wallet_purpose }}", {}, "en") == "Travel"


def test_masking_an_already_masked_name_changes_nothing() -> None:
    for masked in ("张*丰", "李*", "Li**", "欧**锐"):
        assert filtered("{{ n|mask_name }}", {"n": masked}) == masked


# ---- catalogue coverage -----------------------------------------------------------------------


def test_every_event_type_has_shipped_templates_and_sample_data() -> None:
    assert renderer.kinds() == set(EVENT_TYPES)
    for kind in EVENT_TYPES:
        for locale in ("zh-CN", "en"):
            for channel in TEXT_CHANNELS:
                assert renderer.shipped(kind, channel, locale) is not None


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_sample_data_is_valid_for_its_kind(kind: str, locale: str) -> None:
    EVENT_TYPES[kind].data.model_validate(sample_data(kind, locale))


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("channel", TEXT_CHANNELS)
def test_shipped_templates_pass_the_operator_checks(
    kind: str, locale: str, channel: ChannelName
) -> None:
    """Every shipped template renders with full data and with only the required fields."""
    source = renderer.shipped(kind, channel, locale)
    assert source is not None
    try:
        check_template(renderer, source, kind=kind, channel=channel, locale=locale)
    except TemplateProblem as exc:
        pytest.fail(f"{kind} {channel} {locale}: {exc.detail}")


def test_a_shipped_file_with_a_misspelt_key_or_a_missing_sms_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        parse_locale_file('["k"]\nsms = "x"\ninbox_title = "t"\npush_tittle = "y"\n', "en")
    with pytest.raises(ValueError, match="missing"):
        parse_locale_file('["k"]\ninbox_title = "t"\n', "en")
    parsed = parse_locale_file('["k"]\nsms = "s"\ninbox_title = "t"\n', "en")
    assert parsed[("k", ChannelName.EMAIL, "en")] == TemplateSource("t", "s")
