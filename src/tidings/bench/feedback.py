"""`tidings bench feedback`: suggested answers, feedback analysis and sentiment accuracy.

No database: the search index and the analysis are pure code, timed on their own.
- Suggestions: a knowledge base of 5,000 entries and 50,000 past resolved tickets,
  generated from a wallet vocabulary (Chinese and English) with a fixed seed; each query is
  a new question from the same generator (another seed), segmented and searched with BM25.
  `suggest_p50_ms`/`suggest_p99_ms` time one query end to end (segmentation included);
  building the index is reported apart (`index_build_s`).
- Analysis: 100,000 texts (tickets and free-text answers) through `analyse_texts`:
  segmentation, TF-IDF topics, sentiment and counts (`analysis_s`, target < 30 s).
- Sentiment: accuracy of the shipped model on the held-out fifth of the labelled set.
"""

from __future__ import annotations

import random
import time
from typing import Final

from rich.console import Console

from tidings.bench.support import Timings, make_progress, step
from tidings.feedback.service.analysis import analyse_texts, held_out_accuracy
from tidings.feedback.service.knowledge import AnsweredTicket, FaqDoc, KnowledgeIndex

FAQ_ENTRIES: Final = 5_000
PAST_TICKETS: Final = 50_000
QUERIES: Final = 2_000
ANALYSED_TEXTS: Final = 100_000

_ZH_THINGS = (
    "转账",
    "退款",
    "提现",
    "充值",
    "借款",
    "还款",
    "额度",
    "密码",
    "手机号",
    "子钱包",
    "预算",
    "通知",
    "账单",
    "优惠券",
    "验证码",
    "银行卡",
    "积分",
    "储蓄目标",
    "扣款",
    "利息",
    "罚息",
    "收款码",
    "红包",
    "余额",
    "自动还款",
    "登录",
    "短信",
    "发票",
    "年费",
    "限额",
)
_ZH_TROUBLES = (
    "没到账",
    "一直失败",
    "太慢了",
    "怎么修改",
    "在哪里查看",
    "被扣了两次",
    "收不到",
    "显示异常",
    "不能使用",
    "怎么关闭",
    "多久到账",
    "算错了",
    "找不到入口",
    "提示错误",
    "怎么开通",
)
_ZH_WHEN = ("昨天", "今天上午", "刚才", "上周", "这个月", "周末", "晚上", "早上")
_EN_THINGS = (
    "transfer",
    "refund",
    "withdrawal",
    "top-up",
    "loan",
    "repayment",
    "limit",
    "password",
    "phone number",
    "sub-wallet",
    "budget",
    "notification",
    "statement",
    "coupon",
    "code",
    "bank card",
    "points",
    "savings goal",
    "charge",
    "interest",
    "late fee",
    "balance",
)
_EN_TROUBLES = (
    "has not arrived",
    "keeps failing",
    "is too slow",
    "how do I change it",
    "where can I see it",
    "was charged twice",
    "never comes",
    "looks wrong",
    "does not work",
    "how do I turn it off",
    "how long does it take",
    "was calculated wrong",
    "cannot find it",
)
_EN_WHEN = ("yesterday", "this morning", "just now", "last week", "this month", "tonight")
_FEELINGS = ("", "很着急", "谢谢", "非常失望", "请尽快处理", "太方便了")


def _question(rng: random.Random) -> tuple[str, str]:
    """A user's question in Chinese or English (about 3 in 4 Chinese), and its locale."""
    if rng.random() < 0.75:
        text = f"{rng.choice(_ZH_WHEN)}{rng.choice(_ZH_THINGS)}{rng.choice(_ZH_TROUBLES)}"
        return text + rng.choice(_FEELINGS), "zh-CN"
    text = f"My {rng.choice(_EN_THINGS)} {rng.choice(_EN_TROUBLES)} {rng.choice(_EN_WHEN)}"
    return text, "en"


def _answer(rng: random.Random, question: str) -> str:
    thing, hours = rng.choice(_ZH_THINGS), rng.randint(1, 48)
    return f"您好，关于“{question[:20]}”：已为您核实，{thing}将在{hours}小时内处理完毕。"


def knowledge(seed: int, *, faq_entries: int, past_tickets: int) -> KnowledgeIndex:
    rng = random.Random(seed)
    faq = []
    for n in range(faq_entries):
        question, _ = _question(rng)
        faq.append(FaqDoc(f"faq_{n}", {"zh-CN": question}, {"zh-CN": _answer(rng, question)}))
    answered = []
    for n in range(past_tickets):
        question, locale = _question(rng)
        answered.append(AnsweredTicket(f"tkt_{n}", question, locale, _answer(rng, question)))
    return KnowledgeIndex.build(faq, answered)


def run(
    *,
    console: Console,
    seed: int = 2026,
    faq_entries: int = FAQ_ENTRIES,
    past_tickets: int = PAST_TICKETS,
    queries: int = QUERIES,
    texts: int = ANALYSED_TEXTS,
) -> dict[str, float]:
    """The figures (units in their names); the sizes default to the issue's."""
    figures: dict[str, float] = {"faq_entries": faq_entries, "past_tickets": past_tickets}
    with make_progress(console) as progress:
        with step(progress, f"building the index ({faq_entries} FAQ, {past_tickets} tickets)"):
            started = time.perf_counter()
            index = knowledge(seed, faq_entries=faq_entries, past_tickets=past_tickets)
            figures["index_build_s"] = round(time.perf_counter() - started, 2)
        with step(progress, f"{queries} suggestion queries"):
            rng = random.Random(seed + 1)
            timings = Timings()
            started = time.perf_counter()
            for _ in range(queries):
                question, locale = _question(rng)
                began = time.perf_counter_ns()
                index.suggest(question, locale=locale, limit=3)
                timings.latencies_ns.append(time.perf_counter_ns() - began)
            timings.elapsed_s = time.perf_counter() - started
            figures["suggest_p50_ms"] = round(timings.percentile_ms(50), 2)
            figures["suggest_p99_ms"] = round(timings.percentile_ms(99), 2)
            figures["suggest_per_s"] = round(timings.per_second, 1)
        with step(progress, f"analysing {texts} texts"):
            rng = random.Random(seed + 2)
            channels = ("app", "web", "sms", "email", "phone", None)
            corpus = [
                (f"t{n}", _question(rng)[0], rng.choice(channels), "payment") for n in range(texts)
            ]
            started = time.perf_counter()
            analysed = analyse_texts(corpus)
            figures["analysis_s"] = round(time.perf_counter() - started, 2)
            figures["analysis_texts"] = analysed.total
        accuracy, held_out = held_out_accuracy()
        figures["sentiment_accuracy"] = round(accuracy, 3)
        figures["sentiment_held_out"] = held_out
    return figures
