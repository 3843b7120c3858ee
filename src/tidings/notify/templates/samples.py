"""Sample event data for every kind: what previews, template checks and golden tests render.

The figures are those of the reference messages (a 128.00元 coffee at 11月24日15:30, a
CNY 500.00 transfer from Li** at 09:12, a 2,000.00元 loan due 11月27日…), so a preview
reads like a real message. Free text (merchant, reasons) comes in the locale's language.
Every sample is valid for its kind's data model (tests check it).
"""

from __future__ import annotations

import copy
from typing import Any

from tidings.notify.templates.exceptions import UnknownKind
from tidings.notify.templates.filters import is_chinese

WALLET_ID = "wal_01JDQZKXWHMNPRSTVABCDE8821"
"""Its digits end in 8821, so `wallet_id|tail` gives the reference `尾号8821`."""
SUB_WALLET_ID = "wal_01JDR2M4N6P8QASTVWXYZB3306"


def cny(value: int) -> dict[str, Any]:
    return {"value": value, "currency": "CNY"}


_COMMON: dict[str, dict[str, Any]] = {
    "wallet.payment.succeeded": {
        "wallet_id": WALLET_ID,
        "transfer_id": "trf_01JDQZM0000000000000000001",
        "amount": cny(12800),
        "balance_after": cny(345678),
        "occurred_at": "2024-11-24T07:30:00Z",
    },
    "wallet.payment.failed": {
        "wallet_id": WALLET_ID,
        "amount": cny(12800),
        "occurred_at": "2024-11-24T07:30:00Z",
    },
    "wallet.transfer.received": {
        "wallet_id": WALLET_ID,
        "transfer_id": "trf_01JDQZM0000000000000000002",
        "amount": cny(50000),
        "balance_after": cny(395678),
        "occurred_at": "2024-11-24T01:12:00Z",
    },
    "wallet.transfer.sent": {
        "wallet_id": WALLET_ID,
        "transfer_id": "trf_01JDQZM0000000000000000003",
        "amount": cny(20000),
        "balance_after": cny(325678),
        "occurred_at": "2024-11-24T10:05:00Z",
    },
    "wallet.top_up.succeeded": {
        "wallet_id": WALLET_ID,
        "amount": cny(100000),
        "balance_after": cny(445678),
        "occurred_at": "2024-11-24T02:00:00Z",
    },
    "wallet.refund.succeeded": {
        "wallet_id": WALLET_ID,
        "amount": cny(12800),
        "balance_after": cny(358478),
        "occurred_at": "2024-11-25T03:20:00Z",
    },
    "wallet.withdrawal.succeeded": {
        "wallet_id": WALLET_ID,
        "amount": cny(300000),
        "balance_after": cny(45678),
        "occurred_at": "2024-11-25T06:45:00Z",
    },
    "wallet.allocation.succeeded": {
        "amount": cny(50000),
        "source_wallet_id": WALLET_ID,
        "destination_wallet_id": SUB_WALLET_ID,
        "occurred_at": "2024-11-25T06:50:00Z",
    },
    "wallet.balance.low": {
        "wallet_id": WALLET_ID,
        "balance": cny(4560),
        "threshold": cny(10000),
        "occurred_at": "2024-11-26T12:00:00Z",
    },
    "wallet.statement.ready": {
        "wallet_id": WALLET_ID,
        "period_start": "2024-11-01",
        "period_end": "2024-11-30",
        "opening_balance": cny(169128),
        "total_in": cny(850000),
        "total_out": cny(623450),
        "moved_to_sub_wallets": cny(100000),
        "moved_from_sub_wallets": cny(50000),
        "closing_balance": cny(345678),
    },
    "wallet.budget.threshold_reached": {
        "wallet_id": SUB_WALLET_ID,
        "used_percent": 82,
        "spent": cny(164000),
        "limit": cny(200000),
        "period": "month",
    },
    "wallet.budget.exceeded": {
        "wallet_id": SUB_WALLET_ID,
        "spent": cny(203500),
        "limit": cny(200000),
        "period": "month",
    },
    "wallet.goal.progress": {
        "wallet_id": SUB_WALLET_ID,
        "progress_percent": 60,
        "saved": cny(600000),
        "target": cny(1000000),
    },
    "wallet.goal.reached": {
        "wallet_id": SUB_WALLET_ID,
        "target": cny(1000000),
    },
    "wallet.sub_wallet.closed": {
        "wallet_id": SUB_WALLET_ID,
        "moved": cny(32000),
        "occurred_at": "2024-11-28T04:00:00Z",
    },
    "security.login.new_device": {"occurred_at": "2024-11-24T13:41:00Z"},
    "security.login.new_location": {"occurred_at": "2024-11-24T13:41:00Z"},
    "security.password.changed": {"occurred_at": "2024-11-24T13:45:00Z"},
    "security.phone.changed": {"occurred_at": "2024-11-24T13:45:00Z"},
    "security.email.changed": {"occurred_at": "2024-11-24T13:45:00Z"},
    "security.payee.added": {"occurred_at": "2024-11-24T13:47:00Z"},
    "security.transaction.suspicious": {
        "amount": cny(880000),
        "transfer_id": "trf_01JDQZM0000000000000000004",
        "occurred_at": "2024-11-24T14:02:00Z",
    },
    "security.verification.code": {
        "code": "482913",
        "purpose": "transfer",
        "expires_in_minutes": 15,
        "amount": cny(880000),
    },
    "security.contact_change.code": {
        "code": "482913",
        "change": "phone",
        "expires_in_minutes": 15,
    },
    "security.wallet.frozen": {
        "wallet_id": WALLET_ID,
        "occurred_at": "2024-11-24T14:10:00Z",
    },
    "security.wallet.unfrozen": {
        "wallet_id": WALLET_ID,
        "occurred_at": "2024-11-25T10:30:00Z",
    },
    "security.login.impossible_travel": {"occurred_at": "2024-11-24T13:41:00Z"},
    "security.verification.failed": {
        "amount": cny(880000),
        "transfer_id": "trf_01JDQZM0000000000000000004",
        "occurred_at": "2024-11-24T14:08:00Z",
    },
    "security.verification.expired": {
        "amount": cny(880000),
        "transfer_id": "trf_01JDQZM0000000000000000004",
        "occurred_at": "2024-11-24T14:17:00Z",
    },
    "credit.application.received": {"application_id": "cap_01JDQZM0000000000000000005"},
    "credit.application.under_review": {"application_id": "cap_01JDQZM0000000000000000005"},
    "credit.application.approved": {
        "application_id": "cap_01JDQZM0000000000000000005",
        "limit": cny(2000000),
    },
    "credit.application.rejected": {"application_id": "cap_01JDQZM0000000000000000005"},
    "credit.limit.raised": {
        "old_limit": cny(2000000),
        "new_limit": cny(3000000),
        "reason_code": "repaid_on_time",
    },
    "credit.limit.lowered": {
        "old_limit": cny(3000000),
        "new_limit": cny(1500000),
        "reason_code": "overdue",
    },
    "credit.loan.disbursed": {
        "drawdown_id": "drw_01JDQZM0000000000000000006",
        "amount": cny(200000),
        "term_months": 3,
        "first_due_date": "2024-12-27",
    },
    "credit.repayment.due": {
        "drawdown_id": "drw_01JDQZM0000000000000000006",
        "principal": cny(200000),
        "amount_due": cny(201650),
        "due_date": "2024-11-27",
        "days_before": 3,
    },
    "credit.repayment.received": {
        "drawdown_id": "drw_01JDQZM0000000000000000006",
        "amount": cny(201650),
        "remaining": cny(135000),
    },
    "credit.overdue": {
        "drawdown_id": "drw_01JDQZM0000000000000000006",
        "amount_due": cny(201650),
        "due_date": "2024-11-27",
        "days_overdue": 3,
        "penalty": cny(302),
    },
    "marketing.promotion": {
        "campaign_id": "cmp_01JDQZM0000000000000000007",
        "valid_until": "2024-11-30",
    },
    "marketing.sub_wallet.suggestion": {"purpose": "travel"},
    "followup.survey.invitation": {
        "survey_id": "srv_01JDQZM0000000000000000008",
        "invitation_id": "inv_01JDQZM0000000000000000010",
        "survey_url": "https://wallet.example.com/app/surveys/srv_01JDQZM0000000000000000008",
    },
    "followup.ticket.answered": {"ticket_id": "tkt_01JDQZM0000000000000000009"},
    "followup.change.published": {
        "change_id": "chg_01JDQZM0000000000000000011",
        "url": "https://wallet.example.com/changes#chg_01JDQZM0000000000000000011",
    },
}

_WORDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # kind: (zh words, en words)
    "wallet.payment.succeeded": (
        {"merchant": {"name": "星巴克", "category": "5814"}},
        {"merchant": {"name": "Starbucks", "category": "5814"}},
    ),
    "wallet.payment.failed": (
        {"merchant": {"name": "星巴克"}, "reason": "insufficient_funds"},
        {"merchant": {"name": "Starbucks"}, "reason": "insufficient_funds"},
    ),
    "wallet.transfer.received": ({"counterparty": "李*"}, {"counterparty": "Li**"}),
    "wallet.transfer.sent": ({"counterparty": "张*丰"}, {"counterparty": "Zh**"}),
    "wallet.refund.succeeded": (
        {"merchant": {"name": "星巴克"}},
        {"merchant": {"name": "Starbucks"}},
    ),
    "wallet.budget.threshold_reached": ({"wallet_name": "旅行"}, {"wallet_name": "Travel"}),
    "wallet.budget.exceeded": ({"wallet_name": "旅行"}, {"wallet_name": "Travel"}),
    "wallet.goal.progress": ({"wallet_name": "旅行基金"}, {"wallet_name": "Travel fund"}),
    "wallet.goal.reached": (
        {"wallet_name": "旅行基金", "reward": "10元话费券"},
        {"wallet_name": "Travel fund", "reward": "a CNY 10 phone credit voucher"},
    ),
    "wallet.sub_wallet.closed": ({"name": "旅行"}, {"name": "Travel"}),
    "security.login.new_device": (
        {"device": "iPhone 15 (张三的手机)", "city": "深圳"},
        {"device": "iPhone 15 (Zhang's phone)", "city": "Shenzhen"},
    ),
    "security.login.new_location": (
        {"city": "深圳", "country": "中国", "platform": "Android"},
        {"city": "Shenzhen", "country": "China", "platform": "Android"},
    ),
    "security.transaction.suspicious": (
        {"reason": "收款方为新账户"},
        {"reason": "the payee is a new account"},
    ),
    "security.login.impossible_travel": (
        {"city": "伦敦", "previous_city": "深圳", "device": "iPhone 15"},
        {"city": "London", "previous_city": "Shenzhen", "device": "iPhone 15"},
    ),
    "security.wallet.frozen": (
        {"reason": "您在App中报告了非本人操作"},
        {"reason": "you reported activity that was not yours"},
    ),
    "credit.application.rejected": (
        {"reason": "综合评分未达到要求"},
        {"reason": "the overall score did not meet our criteria"},
    ),
    "marketing.promotion": (
        {"title": "双11专享", "body": "话费充值满50减5"},
        {"title": "Singles' Day offer", "body": "CNY 5 off mobile top-ups of CNY 50 or more"},
    ),
    "marketing.sub_wallet.suggestion": (
        {"reason": "最近常出行"},
        {"reason": "you have travelled often lately"},
    ),
    "followup.survey.invitation": ({"topic": "借款申请"}, {"topic": "loan application"}),
    "followup.ticket.answered": (
        {"summary": "您11月24日的重复扣款已核实，12.80元已退回原钱包"},
        {"summary": "we checked the double charge of 24 Nov and returned CNY 12.80 to your wallet"},
    ),
    "followup.change.published": (
        {"title": "转账到账时间缩短到2小时以内"},
        {"title": "transfers now arrive within 2 hours"},
    ),
}


def sample_kinds() -> set[str]:
    return set(_COMMON)


def sample_data(kind: str, locale: str = "zh-CN") -> dict[str, Any]:
    """Realistic data for `kind` (a fresh copy), with free text in the locale's language."""
    if kind not in _COMMON:
        raise UnknownKind(f"no sample data for kind {kind!r}", field="kind")
    zh_words, en_words = _WORDS.get(kind, ({}, {}))
    words = zh_words if is_chinese(locale) else en_words
    return copy.deepcopy({**_COMMON[kind], **words})
