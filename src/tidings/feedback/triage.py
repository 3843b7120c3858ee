"""Which category and priority a new ticket gets (pure): a security complaint is urgent."""

from __future__ import annotations

from tidings.feedback.types import Category, Priority

_KEYWORDS: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (
        Category.SECURITY,
        (
            "盗刷",
            "被盗",
            "盗用",
            "诈骗",
            "骗子",
            "被骗",
            "非本人",
            "不是我本人",
            "不是我操作",
            "陌生设备",
            "异地登录",
            "账号被",
            "冒用",
            "fraud",
            "scam",
            "stolen",
            "hacked",
            "unauthori",
            "not me",
            "didn't make",
            "did not make",
            "phishing",
        ),
    ),
    (
        Category.CREDIT,
        (
            "借款",
            "还款",
            "额度",
            "利息",
            "逾期",
            "罚息",
            "借呗",
            "loan",
            "repay",
            "credit",
            "interest",
        ),
    ),
    (
        Category.PAYMENT,
        (
            "转账",
            "到账",
            "付款",
            "支付",
            "扣款",
            "扣费",
            "退款",
            "充值",
            "提现",
            "transfer",
            "payment",
            "refund",
            "charged",
            "top-up",
            "top up",
            "withdraw",
        ),
    ),
    (
        Category.COMPLAINT,
        ("投诉", "态度", "太差", "不满", "complain", "rude", "terrible", "awful"),
    ),
    (Category.SUGGESTION, ("建议", "希望增加", "能不能", "suggest", "would be nice", "feature")),
    (
        Category.ACCOUNT,
        ("登录", "密码", "手机号", "通知", "短信", "账户", "login", "password", "account", "notif"),
    ),
)

_PRIORITY: dict[Category, Priority] = {
    Category.SECURITY: Priority.URGENT,
    Category.COMPLAINT: Priority.HIGH,
    Category.PAYMENT: Priority.HIGH,
    Category.SUGGESTION: Priority.LOW,
}


def categorise(text: str) -> Category:
    """The first category whose words the text contains (security first); else other."""
    lowered = text.lower()
    for category, words in _KEYWORDS:
        if any(word in lowered for word in words):
            return category
    return Category.OTHER


def triage(
    *, subject: str | None, body: str, category: Category | None
) -> tuple[Category, Priority]:
    """The ticket's category (the one given, else read from the text) and its priority.

    Whatever category was given, a text that reads as a security complaint is urgent: a user
    who picks "payment" for "someone stole my money" must not wait until Monday.
    """
    text = f"{subject or ''}\n{body}"
    read = categorise(text)
    chosen = category or read
    if read is Category.SECURITY:
        return chosen, Priority.URGENT
    return chosen, _PRIORITY.get(chosen, Priority.NORMAL)
