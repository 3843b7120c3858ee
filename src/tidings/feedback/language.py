"""Reading Chinese and English feedback (pure): words, BM25 search, TF-IDF topics and a
naive Bayes sentiment model.

Chinese is segmented with `rjieba` (jieba-rs; `jieba` itself is unmaintained and breaks on
current setuptools); English is lower-cased words. BM25, TF-IDF and naive Bayes are a few
lines each over an inverted index (BM25 adds up its postings with numpy), so nothing is
downloaded: a query touches only the documents that share a word with it.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tidings.feedback.types import Sentiment

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+(?:'[a-z]+)?")


def _segment(chinese: str) -> list[str]:
    """Chinese words. `rjieba` is imported on first use: its dictionary is ~30 MB that a
    server process which never reads feedback need not hold."""
    import rjieba

    return list(rjieba.cut(chinese))


STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "在",
        "和",
        "与",
        "也",
        "就",
        "都",
        "而",
        "及",
        "或",
        "一个",
        "这",
        "那",
        "有",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "还",
        "把",
        "被",
        "让",
        "给",
        "对",
        "从",
        "到",
        "为",
        "上",
        "下",
        "不",
        "没",
        "很",
        "太",
        "又",
        "再",
        "请",
        "您",
        "我们",
        "你们",
        "怎么",
        "什么",
        "怎么办",
        "为什么",
        "如何",
        "一下",
        "可以",
        "能",
        "会",
        "要",
        "想",
        "个",
        "次",
        "里",
        "中",
        "后",
        "前",
        "时",
        "时候",
        "已经",
        "但是",
        "但",
        "因为",
        "所以",
        "如果",
        "还是",
        "就是",
        "这个",
        "那个",
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "me",
        "my",
        "you",
        "your",
        "we",
        "our",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "do",
        "does",
        "did",
        "not",
        "no",
        "so",
        "too",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "just",
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "there",
        "here",
        "have",
        "has",
        "had",
    ]
)
"""Words that say nothing about a topic (kept out of search and topics)."""

NEGATIONS = frozenset(
    {"不", "没", "没有", "别", "未", "不是", "not", "no", "never", "don't", "didn't"}
)


def words(text: str) -> list[str]:
    """The text's words: Chinese segmented, English lower-cased, stop words left out."""
    found: list[str] = []
    for piece in _WORD.findall(text.lower()):
        if _HAN.fullmatch(piece):
            found.extend(w for w in _segment(piece) if w not in STOPWORDS)
        elif piece not in STOPWORDS:
            found.append(piece)
    return found


CONCEPTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("how-long", ("多久", "多长时间", "多少时间", "几天", "how long", "how many days")),
    ("withdraw", ("提现", "withdraw", "cash out")),
    ("transfer", ("转账", "转的钱", "转钱", "transfer", "send money", "sent money")),
    ("refund", ("退款", "退钱", "refund")),
    (
        "not-received",
        ("没收到", "没到账", "未到账", "收不到", "not received", "not arrived", "not there"),
    ),
    ("not-me", ("不是本人", "非本人", "不是我", "not me", "did not make", "never made")),
    ("marketing", ("营销", "推广", "广告", "marketing", "promotion", "advert")),
    ("repay", ("还款", "还清", "还钱", "repay", "pay back", "pay off")),
    ("late", ("逾期", "晚还", "迟还", "late", "overdue")),
    ("password", ("密码", "password")),
    ("phone-number", ("手机号", "phone number", "mobile number")),
    ("charged-twice", ("重复扣款", "扣了两次", "两次", "twice", "double charge")),
    ("sub-wallet", ("子钱包", "sub-wallet", "sub wallet")),
)
"""Wallet support's synonyms across wording and language (同义词表): a text that says any
form of a concept is also indexed under the concept, so "提现到账要几天" finds "提现需要多长
时间？" and "cash out" finds the withdrawal answer."""


def search_terms(text: str) -> list[str]:
    """What BM25 indexes: the words, plus each Chinese character of a longer word (`借款`
    also matches `借`: a paraphrase rarely segments the same way), plus English words
    without a plural `s`, plus the `CONCEPTS` the text names."""
    terms = words(text)
    extra = [c for w in terms if len(w) > 1 and _HAN.fullmatch(w) for c in w if c not in STOPWORDS]
    extra += [w[:-1] for w in terms if len(w) > 3 and w.endswith("s") and w.isascii()]
    lowered = text.lower()
    extra += [f"~{name}" for name, forms in CONCEPTS if any(f in lowered for f in forms)]
    return terms + extra


# -- BM25 ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    score: float


@dataclass(slots=True)
class Bm25Index:
    """Okapi BM25 (k1 = 1.5, b = 0.75) with each posting's score precomputed ("impact"):
    a query adds up the impacts of its words' postings (numpy `bincount`) and keeps the best,
    so it costs the postings it touches, not one Python step each."""

    keys: list[str]
    postings: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]]

    @classmethod
    def build(
        cls, documents: Iterable[tuple[str, Sequence[str]]], *, k1: float = 1.5, b: float = 0.75
    ) -> Bm25Index:
        """An index of (key, words) documents."""
        keys: list[str] = []
        lengths: list[int] = []
        raw: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for key, tokens in documents:
            position = len(keys)
            keys.append(key)
            lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                raw[term].append((position, count))
        n = len(keys)
        average = sum(lengths) / n if any(lengths) else 1.0  # no document, or all empty
        norm = np.array([k1 * (1 - b + b * length / average) for length in lengths])
        postings = {}
        for term, found in raw.items():
            idf = math.log(1 + (n - len(found) + 0.5) / (len(found) + 0.5))
            docs = np.fromiter((p for p, _ in found), dtype=np.int32, count=len(found))
            tf = np.fromiter((c for _, c in found), dtype=np.float64, count=len(found))
            impact = idf * tf * (k1 + 1) / (tf + norm[docs])
            postings[term] = (docs, impact.astype(np.float32))
        return cls(keys=keys, postings=postings)

    def search(self, query: Sequence[str], limit: int = 5) -> list[Hit]:
        """The best `limit` documents for the query's words, best first."""
        found = [self.postings[t] for t in set(query) if t in self.postings]
        if not found:
            return []
        docs = np.concatenate([d for d, _ in found])
        scores = np.bincount(docs, weights=np.concatenate([w for _, w in found]))
        touched = np.flatnonzero(scores)
        if len(touched) > limit:
            touched = touched[np.argpartition(-scores[touched], limit - 1)[:limit]]
        best = sorted(touched.tolist(), key=lambda p: (-scores[p], p))
        return [Hit(self.keys[p], round(float(scores[p]), 4)) for p in best]


# -- TF-IDF topics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    term: str
    count: int
    examples: list[str]


def topics(
    documents: Sequence[tuple[str, Sequence[str]]], *, limit: int = 10, examples: int = 3
) -> list[Topic]:
    """Key terms of a set of texts: each term's TF-IDF weight summed over the texts (terms
    of two characters or more; a term in every text says nothing), with the ids of the texts
    where it weighs most."""
    n = len(documents)
    if n == 0:
        return []
    frequency: Counter[str] = Counter()
    for _, tokens in documents:
        frequency.update({t for t in tokens if len(t) >= 2})
    idf = {term: math.log((1 + n) / (1 + df)) + 1 for term, df in frequency.items() if df >= 2}
    weight: dict[str, float] = defaultdict(float)
    best: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for key, tokens in documents:
        counts = Counter(t for t in tokens if t in idf)
        total = sum(counts.values())
        for term, count in counts.items():
            score = count / total * idf[term]
            weight[term] += score
            best[term].append((score, key))
    ranked = sorted(weight.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        Topic(
            term=term,
            count=frequency[term],
            examples=[key for _, key in sorted(best[term], key=lambda s: (-s[0], s[1]))[:examples]],
        )
        for term, _ in ranked
    ]


# -- sentiment -----------------------------------------------------------------------------


POSITIVE_CUES = (
    "好",
    "快",
    "方便",
    "满意",
    "感谢",
    "谢谢",
    "赞",
    "贴心",
    "及时",
    "专业",
    "耐心",
    "放心",
    "清楚",
    "喜欢",
    "推荐",
    "省心",
    "稳定",
    "实用",
    "安心",
    "流畅",
    "good",
    "great",
    "fast",
    "quick",
    "love",
    "thank",
    "happy",
    "easy",
    "excellent",
    "helpful",
    "clear",
    "safe",
    "recommend",
    "pleased",
    "awesome",
    "smooth",
    "reliable",
    "convenient",
    "efficient",
    "impressive",
    "glad",
    "kind",
    "friendly",
)
NEGATIVE_CUES = (
    "差",
    "慢",
    "没到账",
    "失望",
    "烦",
    "盗",
    "骗",
    "乱",
    "错",
    "失败",
    "闪退",
    "不了",
    "太高",
    "太低",
    "太多",
    "太小",
    "糟糕",
    "气愤",
    "麻烦",
    "投诉",
    "拖",
    "排队",
    "扣",
    "挂",
    "找不到",
    "不满",
    "无故",
    "着急",
    "受不了",
    "not ",
    "never",
    "no one",
    "nobody",
    "too ",
    "worse",
    "awful",
    "terrible",
    "bad",
    "rude",
    "slow",
    "fail",
    "crash",
    "wrong",
    "annoying",
    "late",
    "stuck",
    "hidden",
    "charged",
    "hacked",
    "ignored",
    "impossible",
    "unacceptable",
    "furious",
    "frustrat",
    "disappoint",
    "outrageous",
    "waste",
    "cannot",
    "can't",
    "still",
    "stress",
)
QUESTION_OPENERS = (
    "请问",
    "怎么",
    "如何",
    "我想",
    "想了解",
    "想咨询",
    "想知道",
    "问一下",
    "how ",
    "what ",
    "where ",
    "when ",
    "which ",
    "can i ",
    "do i ",
    "does ",
    "is there",
    "please ",
    "i want",
    "i would like",
    "i need",
)
QUESTION_MARKS = ("?", "？", "吗", "请问", "怎么", "如何", "哪里", "多久")


def cue_features(text: str) -> list[str]:
    """A small hand-written lexicon (documented in docs/feedback.md): praise, trouble and
    question cues, one feature each time a cue appears."""
    lowered = f" {text.lower()} "
    found = ["+cue" for cue in POSITIVE_CUES if cue in lowered]
    found += ["-cue" for cue in NEGATIVE_CUES if cue in lowered]
    opening = lowered.lstrip()
    found += ["?cue" for cue in QUESTION_OPENERS if opening.startswith(cue)]
    found += ["?cue" for cue in QUESTION_MARKS if cue in lowered]
    return found


def sentiment_features(text: str) -> list[str]:
    """Words plus negated words (`不|好`: "not good" is not "good"), character pairs of
    Chinese text (short feedback is often segmented oddly) and lexicon cues."""
    found: list[str] = cue_features(text)
    tokens = [w for piece in _WORD.findall(text.lower()) for w in _cut(piece)]
    negate = False
    for token in tokens:
        if token in NEGATIONS:
            negate = True
            found.append(token)
            continue
        found.append(f"不|{token}" if negate else token)
        negate = False
    for run in _HAN.findall(text):
        found.extend(run[i : i + 2] for i in range(len(run) - 1))
    return found


def _cut(piece: str) -> list[str]:
    return _segment(piece) if _HAN.fullmatch(piece) else [piece]


@dataclass(slots=True)
class SentimentModel:
    """Multinomial naive Bayes with add-one smoothing over `sentiment_features`."""

    priors: dict[Sentiment, float] = field(default_factory=dict)
    likelihoods: dict[Sentiment, dict[str, float]] = field(default_factory=dict)
    unseen: dict[Sentiment, float] = field(default_factory=dict)
    vocabulary: frozenset[str] = frozenset()

    @classmethod
    def train(cls, examples: Iterable[tuple[str, Sentiment]]) -> SentimentModel:
        counts: dict[Sentiment, Counter[str]] = {label: Counter() for label in Sentiment}
        documents: Counter[Sentiment] = Counter()
        for text, label in examples:
            counts[label].update(sentiment_features(text))
            documents[label] += 1
        vocabulary = set().union(*counts.values())
        total = sum(documents.values())
        model = cls(vocabulary=frozenset(vocabulary))
        for label in Sentiment:
            size = sum(counts[label].values()) + len(vocabulary)
            model.priors[label] = math.log((documents[label] + 1) / (total + len(Sentiment)))
            model.likelihoods[label] = {
                word: math.log((count + 1) / size) for word, count in counts[label].items()
            }
            model.unseen[label] = math.log(1 / size)
        return model

    def classify(self, text: str) -> Sentiment:
        features = [f for f in sentiment_features(text) if f in self.vocabulary]

        def score(label: Sentiment) -> float:
            table, unseen = self.likelihoods[label], self.unseen[label]
            return self.priors[label] + sum(table.get(f, unseen) for f in features)

        return max(Sentiment, key=score)
