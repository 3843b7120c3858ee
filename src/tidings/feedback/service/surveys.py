"""Surveys: who is invited after which event, one answer per invitation, and the results."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tidings.feedback import events, repository
from tidings.feedback.exceptions import (
    AlreadyAnswered,
    InvalidAnswer,
    InvitationExpired,
    InvitationNotFound,
    SurveyNotFound,
)
from tidings.feedback.language import topics, words
from tidings.feedback.sampling import BASIS_POINTS, in_sample, may_contact
from tidings.feedback.schemas import (
    CsatOut,
    InvitationList,
    InvitationOut,
    NpsOut,
    ResponseIn,
    ResponseOut,
    ResultsOut,
    SurveyIn,
    SurveyOut,
    TopicOut,
    Trigger,
)
from tidings.feedback.service import notices, outbox_reader
from tidings.feedback.types import QuestionKind
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise

INVITE_JOB = "followup.invitations"


def _survey_out(row: AnyRow) -> SurveyOut:
    return SurveyOut(
        id=row.id,
        name=row.name,
        trigger=Trigger(event_type=row.trigger_event_type),
        sample_percent=row.sample_bp / 100,
        recontact_days=row.recontact_days,
        expires_days=row.expires_days,
        questions=list(row.questions),
        created_at=as_utc(row.created_at),
    )


def create_survey(conn: Connection, body: SurveyIn, *, at: datetime) -> SurveyOut:
    survey_id = new_id("srv")
    repository.insert_survey(
        conn,
        {
            "id": survey_id,
            "name": body.name,
            "trigger_event_type": body.trigger.event_type,
            "sample_bp": round(body.sample_percent * BASIS_POINTS / 100),
            "recontact_days": body.recontact_days,
            "expires_days": body.expires_days,
            "questions": [
                q.model_dump(mode="json", by_alias=True, exclude_none=True) for q in body.questions
            ],
            "created_at": at,
        },
    )
    return get_survey(conn, survey_id)


def get_survey(conn: Connection, survey_id: str) -> SurveyOut:
    row = repository.get_survey(conn, survey_id) if is_id(survey_id, "srv") else None
    if row is None:
        raise SurveyNotFound(f"survey {survey_id} not found", field="survey_id")
    return _survey_out(row)


def list_surveys(conn: Connection) -> list[SurveyOut]:
    return [_survey_out(r) for r in repository.list_surveys(conn)]


def open_invitations(conn: Connection, user_id: str, *, at: datetime) -> InvitationList:
    return InvitationList(
        items=[
            InvitationOut(
                invitation_id=r.id,
                survey_id=r.survey_id,
                name=r.name,
                questions=list(r.questions),
                expires_at=as_utc(r.expires_at),
            )
            for r in repository.open_invitations(conn, user_id, at)
        ]
    )


def _check_answer(question: dict[str, Any], value: int | str) -> str | None:
    """Why `value` does not answer the question, or None."""
    kind = QuestionKind(question["kind"])
    if kind is QuestionKind.NPS:
        ok = isinstance(value, int) and 0 <= value <= 10
        return None if ok else "must be a whole number from 0 to 10"
    if kind is QuestionKind.CSAT:
        ok = isinstance(value, int) and 1 <= value <= 5
        return None if ok else "must be a whole number from 1 to 5"
    if kind is QuestionKind.CHOICE:
        count = len(question.get("choices") or [])
        ok = isinstance(value, int) and 0 <= value < count
        return None if ok else f"must be the index of a choice (0 to {count - 1})"
    return None if isinstance(value, str) else "must be text"


def answer(
    conn: Connection,
    survey_id: str,
    body: ResponseIn,
    *,
    acting_user_id: str | None,
    at: datetime,
) -> ResponseOut:
    """Record the answer to an invitation: once (a second answer is 409), before it expires."""
    survey = repository.get_survey(conn, survey_id) if is_id(survey_id, "srv") else None
    if survey is None:
        raise SurveyNotFound(f"survey {survey_id} not found", field="survey_id")
    row = repository.get_invitation(conn, body.invitation_id, lock=True)
    not_found = InvitationNotFound(
        f"invitation {body.invitation_id} not found", field="invitation_id"
    )
    invitation = visible_or_raise(row, acting_user_id, not_found)
    if invitation.survey_id != survey_id:
        raise not_found
    if invitation.answered_at is not None:
        raise AlreadyAnswered("this invitation has been answered already", field="invitation_id")
    if as_utc(invitation.expires_at) <= at:
        raise InvitationExpired("this invitation has expired", field="invitation_id")
    questions = {q["id"]: q for q in survey.questions}
    for question_id, value in body.answers.items():
        if question_id not in questions:
            raise InvalidAnswer(f"no question {question_id!r}", field=f"answers.{question_id}")
        reason = _check_answer(questions[question_id], value)
        if reason is not None:
            raise InvalidAnswer(reason, field=f"answers.{question_id}")
    if not repository.mark_answered(conn, invitation.id, at):
        raise AlreadyAnswered("this invitation has been answered already", field="invitation_id")
    text = "\n".join(
        str(v)
        for k, v in body.answers.items()
        if questions[k]["kind"] == QuestionKind.TEXT.value and str(v).strip()
    )
    response_id = new_id("srp")
    repository.insert_response(
        conn,
        {
            "id": response_id,
            "invitation_id": invitation.id,
            "survey_id": survey_id,
            "user_id": invitation.user_id,
            "answers": dict(body.answers),
            "text": text,
            "created_at": at,
        },
    )
    return ResponseOut(
        id=response_id, survey_id=survey_id, invitation_id=invitation.id, created_at=at
    )


def results(conn: Connection, survey_id: str) -> ResultsOut:
    """Response rate, NPS (promoters − detractors, in points), CSAT average, choice counts
    and the key terms of the free-text answers."""
    survey = get_survey(conn, survey_id)
    invited = repository.count_invited(conn, survey_id)
    responses = repository.responses_of(conn, survey_id)
    nps_scores: list[int] = []
    csat_scores: list[int] = []
    choices: dict[str, Counter[str]] = {}
    texts: list[tuple[str, list[str]]] = []
    for question in survey.questions:
        kind = question["kind"]
        values = [r.answers[question["id"]] for r in responses if question["id"] in r.answers]
        if kind == QuestionKind.NPS.value:
            nps_scores += [int(v) for v in values]
        elif kind == QuestionKind.CSAT.value:
            csat_scores += [int(v) for v in values]
        elif kind == QuestionKind.CHOICE.value:
            labels = [c["zh-CN"] for c in question["choices"]]
            counts: Counter[str] = Counter(dict.fromkeys(labels, 0))
            counts.update(labels[int(v)] for v in values)
            choices[question["id"]] = counts
    texts = [(r.id, words(r.text)) for r in responses if r.text]
    nps = None
    if nps_scores:
        promoters = sum(1 for s in nps_scores if s >= 9)
        detractors = sum(1 for s in nps_scores if s <= 6)
        nps = NpsOut(
            score=round(100 * (promoters - detractors) / len(nps_scores)),
            promoters=promoters,
            passives=len(nps_scores) - promoters - detractors,
            detractors=detractors,
        )
    csat = (
        CsatOut(average=round(sum(csat_scores) / len(csat_scores), 2), count=len(csat_scores))
        if csat_scores
        else None
    )
    return ResultsOut(
        invited=invited,
        responded=len(responses),
        response_rate=round(len(responses) / invited, 4) if invited else 0.0,
        nps=nps,
        csat=csat,
        choices={k: dict(v) for k, v in choices.items()} or None,
        topics=[TopicOut(term=t.term, count=t.count, examples=t.examples) for t in topics(texts)],
    )


def invite(conn: Connection, *, now: datetime, survey_url: str, topic_of: dict[str, str]) -> int:
    """Read the outbox after the stored cursor for events that trigger a survey and invite
    the users the survey samples, unless they were invited by any survey within its
    `recontact_days`, or the event is an auto-closed ticket. Idempotent: an event is handled
    once per job (its id kept), and one survey invites once per event."""
    active = repository.list_surveys(conn, active_only=True)
    if not active:
        return 0
    rows = outbox_reader.unread(conn, INVITE_JOB, {s.trigger_event_type for s in active}, now=now)
    if not rows:
        return 0
    by_type: dict[str, list[AnyRow]] = {}
    for survey in active:
        by_type.setdefault(survey.trigger_event_type, []).append(survey)
    user_ids = sorted({r.user_id for r in rows if r.user_id})
    known = repository.existing_users(conn, user_ids)
    last = {u: as_utc(t) for u, t in repository.last_invited(conn, user_ids).items()}
    invitations: list[dict[str, Any]] = []
    for row in rows:
        data = row.data or {}
        if row.user_id not in known or data.get("auto_closed") is True:
            continue
        for survey in by_type.get(row.type, []):
            if as_utc(row.time) < as_utc(survey.created_at) - outbox_reader.LATE_COMMIT:
                continue
            if not in_sample(row.user_id, survey.id, survey.sample_bp):
                continue
            if not may_contact(last.get(row.user_id), now, survey.recontact_days):
                continue
            invitation_id = new_id("inv")
            last[row.user_id] = now
            invitations.append(
                {
                    "id": invitation_id,
                    "survey_id": survey.id,
                    "user_id": row.user_id,
                    "event_id": row.id,
                    "created_at": now,
                    "expires_at": now + timedelta(days=survey.expires_days),
                }
            )
            notices.record(
                conn,
                events.SURVEY_INVITATION,
                events.SurveyInvitation(
                    survey_id=survey.id,
                    invitation_id=invitation_id,
                    survey_url=f"{survey_url.rstrip('/')}/{survey.id}",
                    topic=topic_of.get(row.type, survey.name)[:100],
                ),
                user_id=row.user_id,
                at=now,
            )
    repository.insert_invitations(conn, invitations)
    outbox_reader.handled(conn, INVITE_JOB, rows)
    return len(invitations)
