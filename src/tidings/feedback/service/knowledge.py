"""Suggested answers: the knowledge base and past resolved tickets' agent answers, searched
with BM25 over segmented Chinese and English words. An agent always sends; the user pages
offer the top FAQ answers before a ticket is opened (deflection, counted)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from tidings.feedback import repository
from tidings.feedback.exceptions import FaqNotFound
from tidings.feedback.language import Bm25Index, search_terms
from tidings.feedback.schemas import FaqIn, FaqOut, SuggestionList, SuggestionOut
from tidings.feedback.service.tickets import visible_ticket
from tidings.kit.clock import as_utc
from tidings.kit.db import read_transaction
from tidings.kit.ids import is_id, new_id
from tidings.kit.tables import AnyRow

log = structlog.get_logger(__name__)


def _faq_out(row: AnyRow) -> FaqOut:
    return FaqOut(
        id=row.id,
        question=dict(row.question),
        answer=dict(row.answer),
        tags=list(row.tags),
        created_at=as_utc(row.created_at),
    )


def faq_values(body: FaqIn, *, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id("faq"),
        "question": body.question.model_dump(by_alias=True, exclude_none=True),
        "answer": body.answer.model_dump(by_alias=True, exclude_none=True),
        "tags": list(body.tags),
        "created_at": at,
    }


def add_faq(conn: Connection, body: FaqIn, *, at: datetime) -> FaqOut:
    values = faq_values(body, at=at)
    repository.insert_faq(conn, values)
    row = repository.get_faq(conn, values["id"])
    assert row is not None
    return _faq_out(row)


def list_faq(conn: Connection, *, limit: int, after_id: str | None) -> list[FaqOut]:
    return [_faq_out(r) for r in repository.faq_all(conn, limit=limit, after_id=after_id)]


@dataclass(frozen=True, slots=True)
class Answer:
    """A searchable answer: its text per language and where it came from."""

    source: str
    text: dict[str, str]


@dataclass(frozen=True, slots=True)
class FaqDoc:
    """A knowledge-base entry as the index reads it."""

    id: str
    question: dict[str, str]
    answer: dict[str, str]


@dataclass(frozen=True, slots=True)
class AnsweredTicket:
    """A resolved ticket as the index reads it: what was asked, and what agents answered."""

    id: str
    asked: str
    locale: str
    answer: str


def answered_tickets(rows: list[AnyRow]) -> list[AnsweredTicket]:
    """`repository.resolved_answers` rows (one per agent message) → one per ticket."""
    by_ticket: dict[str, list[AnyRow]] = {}
    for row in rows:
        by_ticket.setdefault(row.id, []).append(row)
    return [
        AnsweredTicket(
            id=ticket_id,
            asked=f"{found[0].subject or ''} {found[0].body}",
            locale=found[0].locale,
            answer="\n".join(r.answer for r in found),
        )
        for ticket_id, found in by_ticket.items()
    ]


@dataclass(slots=True)
class KnowledgeIndex:
    """BM25 over FAQ questions+answers and resolved tickets' questions+agent answers (a
    question counts twice: it is what a new question resembles most)."""

    index: Bm25Index
    answers: dict[str, Answer]

    @classmethod
    def build(cls, faq: Sequence[FaqDoc], answered: Sequence[AnsweredTicket]) -> KnowledgeIndex:
        answers: dict[str, Answer] = {}
        documents: list[tuple[str, list[str]]] = []
        for entry in faq:
            key = f"faq:{entry.id}"
            answers[key] = Answer(key, entry.answer)
            questions = list(entry.question.values())
            text = " ".join([*questions, *questions, *entry.answer.values()])
            documents.append((key, search_terms(text)))
        for ticket in answered:
            key = f"ticket:{ticket.id}"
            answers[key] = Answer(key, {ticket.locale: ticket.answer})
            documents.append((key, search_terms(f"{ticket.asked} {ticket.asked} {ticket.answer}")))
        return cls(Bm25Index.build(documents), answers)

    def suggest(
        self, text: str, *, locale: str, limit: int = 3, faq_only: bool = False
    ) -> list[SuggestionOut]:
        hits = self.index.search(search_terms(text), limit=limit * 4 if faq_only else limit)
        found = []
        for hit in hits:
            answer = self.answers[hit.key]
            if faq_only and not hit.key.startswith("faq:"):
                continue
            text_in = answer.text.get("en") if locale.startswith("en") else None
            chosen = text_in or answer.text.get("zh-CN") or next(iter(answer.text.values()))
            found.append(SuggestionOut(answer=chosen, source=answer.source, score=hit.score))
        return found[:limit]


REFRESH_SECONDS = 2.0
"""How often a process asks whether the knowledge changed: the question is a count over the
resolved tickets (about 20 ms at 50,000 on PostgreSQL), too dear to ask on every request."""


@dataclass(slots=True)
class _Cached:
    version: tuple[Any, ...]
    index: KnowledgeIndex
    checked_at: float
    building: bool = False


_cache: dict[str, _Cached] = {}
_lock = threading.Lock()


def _build(conn: Connection) -> KnowledgeIndex:
    faq = [FaqDoc(r.id, dict(r.question), dict(r.answer)) for r in repository.faq_all(conn)]
    return KnowledgeIndex.build(faq, answered_tickets(repository.resolved_answers(conn)))


def knowledge_index(conn: Connection) -> KnowledgeIndex:
    """The index of this database. The first request builds it; later ones use it and, every
    `REFRESH_SECONDS`, ask whether an FAQ entry was added or a ticket resolved. Then a thread
    builds the new index while the previous one keeps answering: a build takes seconds (12 s
    at 55,000 answers), and no request waits for it."""
    key = str(conn.engine.url)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached.checked_at < REFRESH_SECONDS:
        return cached.index
    version = repository.knowledge_version(conn)
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            cached = _cache[key] = _Cached(version, _build(conn), now)
            return cached.index
        cached.checked_at = now
        if version == cached.version or cached.building:
            return cached.index
        cached.building = True
    threading.Thread(
        target=_rebuild, args=(conn.engine, key), name="knowledge-index", daemon=True
    ).start()
    return cached.index


def _rebuild(engine: Engine, key: str) -> None:
    try:
        with read_transaction(engine) as conn:
            version = repository.knowledge_version(conn)
            index = _build(conn)
    except Exception:  # a thread has nobody to raise to
        log.exception("feedback.knowledge_index.rebuild_failed")
        # Never keep answering from an index known to be out of date (it may hold what an
        # erased user wrote): the next request builds it, or fails where it can be seen.
        _cache.pop(key, None)
        return
    _cache[key] = _Cached(version, index, time.monotonic())


def suggestions_for_ticket(
    conn: Connection, ticket_id: str, *, acting_user_id: str | None, limit: int = 3
) -> SuggestionList:
    ticket = visible_ticket(conn, ticket_id, acting_user_id)
    query = f"{ticket.subject or ''} {ticket.body}"
    items = knowledge_index(conn).suggest(query, locale=ticket.locale, limit=limit + 1)
    own = f"ticket:{ticket_id}"
    return SuggestionList(items=[s for s in items if s.source != own][:limit])


def faq_answers(conn: Connection, text: str, *, locale: str, limit: int = 3) -> SuggestionList:
    """The top FAQ answers for what a user is typing (before a ticket is opened)."""
    return SuggestionList(
        items=knowledge_index(conn).suggest(text, locale=locale, limit=limit, faq_only=True)
    )


def record_deflection(conn: Connection, *, user_id: str, faq_id: str, at: datetime) -> None:
    """The user read this FAQ answer and did not open a ticket (counted)."""
    if not is_id(faq_id, "faq") or repository.get_faq(conn, faq_id) is None:
        raise FaqNotFound(f"faq entry {faq_id} not found", field="faq_id")
    repository.insert_deflection(
        conn, {"id": new_id("dfl"), "user_id": user_id, "faq_id": faq_id, "created_at": at}
    )


def starter_faq() -> list[FaqIn]:
    """A starter knowledge base (`data/faq.json`): common wallet questions in zh-CN and en."""
    text = resources.files("tidings.feedback").joinpath("data/faq.json").read_text("utf-8")
    return [FaqIn.model_validate(entry) for entry in json.loads(text)]
