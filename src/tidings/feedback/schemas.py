"""API shapes of follow-up and feedback (see `../shared/API.md`, "Follow-up and feedback")."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from email.parser import HeaderParser
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tidings.feedback.types import Author, Category, Channel, Priority, QuestionKind, TicketStatus
from tidings.kit.schemas import IdRef, RequestBody
from tidings.kit.text import (
    MULTILINE_DISPLAY_PATTERN,
    LongText,
    ShortText,
    display_safe,
    unstorable_reason,
)

Ref = Annotated[IdRef, Field(examples=["tkt_01JD..."])]
EventTypeName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=80)
]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _message(value: str) -> str:
    """Free text a person wrote: line breaks and tabs allowed, other control characters not."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValueError("must not contain control characters")
    return display_safe(value)


MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=5000),
    AfterValidator(_message),
    Field(json_schema_extra={"pattern": MULTILINE_DISPLAY_PATTERN}),
]
"""A question, a complaint, an answer: 1-5000 characters, line breaks allowed."""


class Localized(RequestBody):
    """Text in zh-CN (required) and en."""

    model_config = ConfigDict(populate_by_name=True)

    zh_cn: MessageText = Field(alias="zh-CN")
    en: MessageText | None = None

    def pick(self, locale: str) -> str:
        return self.en if locale.startswith("en") and self.en else self.zh_cn


class ShortLocalized(Localized):
    zh_cn: LongText = Field(alias="zh-CN")
    en: LongText | None = None


# -- surveys -------------------------------------------------------------------------------


class Question(RequestBody):
    model_config = ConfigDict(
        # What `_choices_for_choice` enforces, said in the schema for clients and fuzzers.
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "choice"}}},
            "then": {"required": ["choices"], "properties": {"choices": {"type": "array"}}},
            "else": {"properties": {"choices": {"type": "null"}}},
        },
    )

    id: QuestionId
    kind: QuestionKind
    text: ShortLocalized
    choices: list[ShortLocalized] | None = Field(None, min_length=2, max_length=20)

    @model_validator(mode="after")
    def _choices_for_choice(self) -> Question:
        if self.kind is QuestionKind.CHOICE and not self.choices:
            raise ValueError("a choice question needs choices")
        if self.kind is not QuestionKind.CHOICE and self.choices:
            raise ValueError("only a choice question has choices")
        return self


class Trigger(RequestBody):
    event_type: EventTypeName


class SurveyIn(RequestBody):
    name: ShortText
    trigger: Trigger
    sample_percent: float = Field(ge=0, le=100, description="Share of users asked, sticky.")
    recontact_days: int = Field(30, ge=0, le=3650)
    expires_days: int = Field(7, ge=1, le=90, description="How long an invitation is open.")
    questions: list[Question] = Field(min_length=1, max_length=20)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, questions: list[Question]) -> list[Question]:
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return questions


class SurveyOut(BaseModel):
    id: str
    name: str
    trigger: Trigger
    sample_percent: float
    recontact_days: int
    expires_days: int
    questions: list[dict[str, Any]]
    created_at: datetime


class InvitationOut(BaseModel):
    invitation_id: str
    survey_id: str
    name: str
    questions: list[dict[str, Any]]
    expires_at: datetime


class InvitationList(BaseModel):
    items: list[InvitationOut]


AnswerValue = int | Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ResponseIn(RequestBody):
    invitation_id: Ref
    answers: dict[QuestionId, AnswerValue] = Field(
        max_length=20, json_schema_extra={"additionalProperties": False}
    )


class ResponseOut(BaseModel):
    id: str
    survey_id: str
    invitation_id: str
    created_at: datetime


class NpsOut(BaseModel):
    score: int
    promoters: int
    passives: int
    detractors: int


class CsatOut(BaseModel):
    average: float
    count: int


class TopicOut(BaseModel):
    term: str
    count: int
    examples: list[str]


class ResultsOut(BaseModel):
    invited: int
    responded: int
    response_rate: float
    nps: NpsOut | None = None
    csat: CsatOut | None = None
    choices: dict[str, dict[str, int]] | None = None
    topics: list[TopicOut]


# -- tickets -------------------------------------------------------------------------------


class TicketIn(RequestBody):
    user_id: Ref
    channel: Channel
    subject: ShortText | None = None
    body: MessageText
    category: Category | None = None


class SlaOut(BaseModel):
    first_response_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    breached: bool


class MessageOut(BaseModel):
    id: str
    author: Author
    body: str
    created_at: datetime


class TicketOut(BaseModel):
    id: str
    user_id: str
    channel: Channel
    subject: str | None
    body: str
    category: Category
    priority: Priority
    status: TicketStatus
    created_at: datetime
    sla: SlaOut
    messages: list[MessageOut] | None = None


class MessageIn(RequestBody):
    body: MessageText
    author: Author


class StatusIn(RequestBody):
    status: TicketStatus = Field(
        description="pending, resolved or closed",
        json_schema_extra={"enum": [s.value for s in TicketStatus if s is not TicketStatus.OPEN]},
    )

    @field_validator("status")
    @classmethod
    def _not_open(cls, status: TicketStatus) -> TicketStatus:
        """A ticket opens by itself: a user's message reopens it, an operator never does."""
        if status is TicketStatus.OPEN:
            raise ValueError("must be pending, resolved or closed")
        return status


class SlaPolicyIn(RequestBody):
    first_response_minutes: int = Field(ge=1, le=525_600)
    resolution_minutes: int = Field(ge=1, le=5_256_000)
    around_the_clock: bool = False


class SlaPolicyOut(SlaPolicyIn):
    priority: Priority


class InboundEmailIn(BaseModel):
    """An inbound-parse webhook's message (SendGrid/Mailgun style fields)."""

    model_config = ConfigDict(extra="allow")

    sender: Annotated[str, StringConstraints(max_length=320)] = Field(alias="from")
    subject: Annotated[str, StringConstraints(max_length=500)] = ""
    text: Annotated[str, StringConstraints(max_length=20_000)]
    message_id: Annotated[str, StringConstraints(max_length=998)] | None = Field(
        None,
        validation_alias=AliasChoices("message_id", "Message-Id"),
        description="The email's Message-ID (Mailgun posts it as `Message-Id`).",
    )
    headers: Annotated[str, StringConstraints(max_length=100_000)] | None = Field(
        None, description="The raw header block (SendGrid posts it); its Message-ID serves too."
    )

    def email_message_id(self) -> str | None:
        """The email's own id, so a webhook retried without an `Idempotency-Key` opens no
        second ticket: `message_id`, or the Message-ID in `headers`."""
        found = self.message_id
        if found is None and self.headers is not None:
            header = HeaderParser().parsestr(self.headers).get("Message-ID")
            found = None if header is None else str(header)
        if found is None:
            return None
        return found.strip() or None


# -- suggestions and the knowledge base ----------------------------------------------------


class SuggestionOut(BaseModel):
    answer: str
    source: str
    score: float


class SuggestionList(BaseModel):
    items: list[SuggestionOut]


class FaqIn(RequestBody):
    question: Localized
    answer: Localized
    tags: list[ShortText] = Field(default_factory=list, max_length=20)


class FaqOut(BaseModel):
    id: str
    question: dict[str, str]
    answer: dict[str, str]
    tags: list[str]
    created_at: datetime


# -- analysis and changes ------------------------------------------------------------------


class SentimentCounts(BaseModel):
    positive: int
    neutral: int
    negative: int


class AnalysisOut(BaseModel):
    total: int
    by_channel: dict[str, int]
    by_category: dict[str, int]
    sentiment: SentimentCounts
    topics: list[TopicOut]
    deflected: int


class ChangeIn(RequestBody):
    title: ShortLocalized
    body: Localized
    topics: list[ShortText] = Field(default_factory=list, max_length=20)
    ticket_ids: list[Ref] = Field(default_factory=list, max_length=500)


class ChangeOut(BaseModel):
    id: str
    title: dict[str, str]
    body: dict[str, str]
    topics: list[str]
    ticket_ids: list[str]
    published_at: datetime
    notified: int | None = None
