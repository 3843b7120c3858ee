"""Feedback analysis over tickets and free-text survey answers in a period: counts by
channel and category, TF-IDF topics with example ids, and sentiment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import resources

from sqlalchemy import Connection

from tidings.feedback import repository
from tidings.feedback.exceptions import InvalidPeriod
from tidings.feedback.language import SentimentModel, topics, words
from tidings.feedback.schemas import AnalysisOut, SentimentCounts, TopicOut
from tidings.feedback.types import Sentiment


def labelled_examples() -> list[tuple[str, Sentiment, str]]:
    """The shipped labelled set: (text, label, language), one per line of
    `data/sentiment.tsv`."""
    text = resources.files("tidings.feedback").joinpath("data/sentiment.tsv").read_text("utf-8")
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, language, sentence = line.split("\t", 2)
        rows.append((sentence, Sentiment(label), language))
    return rows


def is_held_out(index: int) -> bool:
    """Every fifth example is kept out of training and used to measure accuracy."""
    return index % 5 == 4


@cache
def sentiment_model() -> SentimentModel:
    """Naive Bayes trained on the shipped set without its held-out fifth."""
    examples = labelled_examples()
    return SentimentModel.train(
        (text, label) for i, (text, label, _) in enumerate(examples) if not is_held_out(i)
    )


def held_out_accuracy() -> tuple[float, int]:
    """Accuracy on the held-out fifth of the shipped set, and its size."""
    model = sentiment_model()
    held = [(t, label) for i, (t, label, _) in enumerate(labelled_examples()) if is_held_out(i)]
    right = sum(1 for text, label in held if model.classify(text) is label)
    return right / len(held), len(held)


def analyse_texts(
    texts: Sequence[tuple[str, str, str | None, str | None]], *, deflected: int = 0
) -> AnalysisOut:
    """(id, text, channel, category) rows → the analysis (pure apart from the model)."""
    model = sentiment_model()
    by_channel: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    feeling: Counter[Sentiment] = Counter()
    documents = []
    for key, text, channel, category in texts:
        by_channel[channel or "survey"] += 1
        if category:
            by_category[category] += 1
        feeling[model.classify(text)] += 1
        documents.append((key, words(text)))
    return AnalysisOut(
        total=len(texts),
        by_channel=dict(by_channel),
        by_category=dict(by_category),
        sentiment=SentimentCounts(
            positive=feeling[Sentiment.POSITIVE],
            neutral=feeling[Sentiment.NEUTRAL],
            negative=feeling[Sentiment.NEGATIVE],
        ),
        topics=[
            TopicOut(term=t.term, count=t.count, examples=t.examples) for t in topics(documents)
        ],
        deflected=deflected,
    )


def analyse(conn: Connection, *, start: datetime, end: datetime) -> AnalysisOut:
    if end <= start:
        raise InvalidPeriod("`to` must be after `from`", field="to")
    texts: list[tuple[str, str, str | None, str | None]] = [
        (r.id, f"{r.subject or ''} {r.body}".strip(), r.channel, r.category)
        for r in repository.tickets_between(conn, start, end)
    ]
    texts += [(r.id, r.text, None, None) for r in repository.answer_texts_between(conn, start, end)]
    return analyse_texts(texts, deflected=repository.count_deflections(conn, start, end))
