"""Suggestions, topics and sentiment over Chinese and English feedback (pure)."""

from __future__ import annotations

import pytest

from tidings.feedback.language import Bm25Index, topics, words
from tidings.feedback.service.analysis import held_out_accuracy, labelled_examples
from tidings.feedback.service.knowledge import FaqDoc, KnowledgeIndex, starter_faq


def _index() -> tuple[KnowledgeIndex, list[str]]:
    entries = starter_faq()
    docs = [
        FaqDoc(
            id=f"faq_{n}",
            question=e.question.model_dump(by_alias=True, exclude_none=True),
            answer=e.answer.model_dump(by_alias=True, exclude_none=True),
        )
        for n, e in enumerate(entries)
    ]
    return KnowledgeIndex.build(docs, []), [e.question.zh_cn for e in entries]


PARAPHRASES = [
    ("我转的钱对方一直没收到", "转账显示成功但对方没收到怎么办？"),
    ("钱包转账要多久才能到", "转账后多久到账？"),
    ("换手机号了怎么改", "如何修改绑定的手机号？"),
    ("密码想不起来了", "忘记登录密码怎么办？"),
    ("同一笔订单扣了我两次钱", "被重复扣款了怎么办？"),
    ("my refund has not come back", "退款多久能到账？"),
    ("how do I stop promotional texts", "如何关闭营销短信？"),
    ("I paid late, what now", "逾期会产生什么影响？"),
    ("cash out to bank how long", "提现需要多长时间？"),
    ("提现到账要几天", "提现需要多长时间？"),
    ("有一笔消费不是我付的", "发现不是本人操作的交易怎么办？"),
    ("a payment I never made is on my account", "发现不是本人操作的交易怎么办？"),
    ("想提前把借款还清", "可以提前还款吗？有手续费吗？"),
    ("子钱包在哪开", "怎么开通子钱包？"),
    ("transfer to a friend still not there", "转账显示成功但对方没收到怎么办？"),
]
"""A paraphrased question → the FAQ question whose answer is right (also run over HTTP on
both databases in tests/feedback/test_knowledge_api.py)."""


@pytest.mark.parametrize(("question", "expected"), PARAPHRASES)
def test_suggestions_rank_the_right_faq_first_for_a_paraphrase(
    question: str, expected: str
) -> None:
    index, questions = _index()
    [best, *_] = index.suggest(question, locale="zh-CN")
    number = int(best.source.removeprefix("faq:faq_"))
    assert questions[number] == expected
    assert best.score > 0


def test_suggestions_answer_in_the_tickets_language() -> None:
    index, _ = _index()
    [best, *_] = index.suggest("How long does a refund take", locale="en")
    assert best.answer.startswith("Once the merchant refunds")


def test_chinese_is_segmented_into_words_and_stopwords_are_dropped() -> None:
    assert words("转账没到账怎么办") == ["转账", "没到", "账"]
    assert words("The transfer did NOT arrive") == ["transfer", "arrive"]


def test_bm25_prefers_the_document_with_the_rarer_word() -> None:
    index = Bm25Index.build([("a", ["钱包", "转账"]), ("b", ["钱包", "退款"]), ("c", ["钱包"])])
    assert index.search(["钱包", "退款"], limit=2)[0].key == "b"
    assert index.search(["没有的词"]) == []


def test_topics_name_the_key_terms_with_example_ids() -> None:
    texts = [
        ("t1", words("转账三天了还没到账")),
        ("t2", words("转账一直没到账，很着急")),
        ("t3", words("退款太慢")),
        ("t4", words("退款还没收到")),
        ("t5", words("转账到账慢")),
    ]
    found = {t.term: t for t in topics(texts)}
    assert "转账" in found
    assert set(found["转账"].examples) <= {"t1", "t2", "t5"}
    assert found["退款"].count == 2


def test_sentiment_accuracy_on_the_held_out_fifth_is_at_least_080() -> None:
    examples = labelled_examples()
    assert len(examples) >= 300
    assert {language for _, _, language in examples} == {"zh-CN", "en"}
    accuracy, size = held_out_accuracy()
    assert size >= 60
    assert accuracy >= 0.80


def test_an_index_of_empty_documents_finds_nothing_instead_of_failing() -> None:
    assert Bm25Index.build([("a", []), ("b", [])]).search(["钱包"]) == []
    assert Bm25Index.build([]).search(["钱包"]) == []
