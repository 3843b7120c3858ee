"""Events in, inbox, notifications, preferences, authenticity checks and provider callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from tidings.api.errors import validation_problem
from tidings.api.reads import Read
from tidings.api.strict import validate_json_value
from tidings.api.writes import CALLBACK_ROUTE, Callback, CallbackRequest, PlainWrite, Write
from tidings.kit.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    MomentCursor,
    Page,
    decode_moment_cursor,
    encode_moment_cursor,
)
from tidings.notify import inbox, ingest, preferences, webhook_secrets
from tidings.notify.cloudevents_http import BATCH, JSON, STRUCTURED, events_from_http
from tidings.notify.delivery import authenticity, receipts
from tidings.notify.schemas import (
    CloudEventIn,
    ConsentEventOut,
    EventAccepted,
    EventBatchAccepted,
    EventBatchIn,
    InboxPage,
    MarkedRead,
    NotificationOut,
    NotificationPage,
    PreferencesIn,
    PreferencesOut,
    VerifyIn,
    VerifyOut,
    WebhookSecretOut,
)

router = APIRouter(prefix="/v1", tags=["notifications"])


async def _raw_body(request: Request) -> bytes:
    """The body as sent: its media type decides how it is read (CloudEvents content modes)."""
    return await request.body()


def _event_schema() -> dict[str, Any]:
    schema = CloudEventIn.model_json_schema()
    schema.pop("title", None)
    return schema


_EVENT_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Structured mode (the whole event), batch mode (an array of events), or "
        "binary mode: the `data` as JSON with the attributes in `ce-*` headers "
        "(`ce-specversion`, `ce-id`, `ce-source`, `ce-type`, `ce-subject`, `ce-time`).",
        "content": {
            STRUCTURED: {"schema": _event_schema()},
            JSON: {"schema": _event_schema()},
            BATCH: {"schema": {"type": "array", "items": _event_schema()}},
        },
    }
}


def _validated_event(document: Any, *, loc: tuple[str | int, ...]) -> CloudEventIn:
    try:
        return validate_json_value(CloudEventIn, document)
    except ValidationError as exc:
        errors = [{**error, "loc": (*loc, *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from exc


@router.post(
    "/events",
    status_code=202,
    response_model=EventAccepted | EventBatchAccepted,
    openapi_extra=_EVENT_BODY_DOC,
)
def post_event(write: Write, raw_body: Annotated[bytes, Depends(_raw_body)]) -> Response:
    """Operator: CloudEvents 1.0 from a banking core, in structured, binary or batch mode.
    The same `source` + `id` again answers 202 with `duplicate: true` and changes nothing;
    a batch answers with a result per event."""
    write.principal.require_operator()
    keyring = write.context.keyring
    received = events_from_http(write.request.headers, raw_body)
    if not received.batch:
        event = _validated_event(received.events[0], loc=("body",))
        return write.run(
            lambda conn: ingest.accept_event(conn, keyring, event, at=write.now),
            body=event,
            status_code=202,
        )
    checked: list[CloudEventIn | dict[str, Any]] = []
    for index, document in enumerate(received.events):
        try:
            checked.append(_validated_event(document, loc=(index,)))
        except RequestValidationError as exc:
            checked.append(validation_problem(list(exc.errors())))
    return write.run(
        lambda conn: EventBatchAccepted(
            items=ingest.accept_batch_items(conn, keyring, checked, at=write.now)
        ),
        body=EventBatchIn(events=received.events),
        status_code=202,
    )


@router.get("/users/{user_id}/inbox", response_model=InboxPage)
def list_inbox(
    user_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    unread: bool = False,
) -> InboxPage:
    """The user's in-app notices, newest first, with the unread count."""
    read.principal.require_self(user_id)
    return read.run(
        lambda conn: inbox.list_inbox(
            conn, read.context.keyring, user_id, limit=limit, cursor=cursor, unread_only=unread
        )
    )


@router.get("/users/{user_id}/notifications", response_model=NotificationPage)
def list_notifications(
    user_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> NotificationPage:
    """Every notice of the user, newest first, with each channel's delivery status and the
    reason it was held back or stopped (no consent, outside the window, …)."""
    read.principal.require_self(user_id)
    return read.run(
        lambda conn: inbox.list_notifications(conn, user_id, limit=limit, cursor=cursor)
    )


@router.post("/users/{user_id}/inbox/read-all", response_model=MarkedRead)
def mark_all_read(user_id: str, write: PlainWrite) -> Response:
    write.principal.require_self(user_id)
    return write.run(lambda conn: inbox.mark_all_read(conn, user_id, at=write.now))


@router.post("/notifications/{notification_id}/read", response_model=MarkedRead)
def mark_read(notification_id: str, write: PlainWrite) -> Response:
    return write.run(lambda conn: inbox.mark_read(conn, notification_id, **write.acting))


@router.get("/notifications/{notification_id}", response_model=NotificationOut)
def get_notification(notification_id: str, read: Read) -> NotificationOut:
    """One notice with every channel's deliveries and attempts."""
    return read.run(
        lambda conn: inbox.get_notification(
            conn, notification_id, acting_user_id=read.acting_user_id
        )
    )


@router.get("/users/{user_id}/preferences", response_model=PreferencesOut)
def get_preferences(user_id: str, read: Read) -> PreferencesOut:
    read.principal.require_self(user_id)
    return read.run(lambda conn: preferences.get_preferences(conn, read.context.keyring, user_id))


@router.put("/users/{user_id}/preferences", response_model=PreferencesOut)
def put_preferences(user_id: str, body: PreferencesIn, write: PlainWrite) -> Response:
    """Channels per category, quiet hours, digest, marketing consent per channel (recorded in
    the consent ledger), push tokens and a webhook URL."""
    write.principal.require_self(user_id)
    keyring, settings, actor = write.context.keyring, write.context.settings, write.principal.key
    return write.run(
        lambda conn: preferences.update_preferences(
            conn,
            keyring,
            user_id,
            body,
            actor=actor,
            at=write.now,
            allow_private_webhooks=settings.webhook_allow_private,
            report_status=settings.status_webhook_url is not None,
        )
    )


@router.post("/users/{user_id}/webhook-secret/rotate", response_model=WebhookSecretOut)
def rotate_webhook_secret(user_id: str, write: PlainWrite) -> Response:
    """A new signing secret for the user's webhook, shown once; the replaced one keeps
    signing for 24 hours (both signatures on every request meanwhile). 409 `no-webhook`
    without a webhook URL. Not replayed by `Idempotency-Key` (the answer holds a secret, which
    is never stored in clear): a retry rotates again, and the earlier secrets still sign."""
    write.principal.require_self(user_id)
    keyring = write.context.keyring
    return write.run(lambda conn: webhook_secrets.rotate(conn, keyring, user_id, at=write.now))


@router.get("/users/{user_id}/consents", response_model=Page[ConsentEventOut])
def consent_history(
    user_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: MomentCursor = None,
) -> Page[ConsentEventOut]:
    """The consent ledger: every grant and withdrawal, newest first, with how and by whom."""
    read.principal.require_self(user_id)
    before = decode_moment_cursor(cursor)
    items = read.run(
        lambda conn: preferences.consent_history(conn, user_id, before=before, limit=limit + 1)
    )
    last = items[limit - 1] if len(items) > limit else None
    return Page[ConsentEventOut](
        items=items[:limit],
        next_cursor=encode_moment_cursor(last.at, last.id) if last else None,
    )


@router.post("/messages/verify", response_model=VerifyOut)
def verify_message(body: VerifyIn, read: Read) -> VerifyOut:
    """Is this text (or code) one we really sent? A changed figure makes it not genuine."""
    return read.run(lambda conn: authenticity.verify(conn, text=body.text, code=body.code))


_ALIYUN_OK = {"code": 0, "msg": "成功"}


class _AppliesBatch(Protocol):
    def __call__(self, conn: Connection, /, *, at: datetime, report_status: bool) -> object: ...


def _apply_aliyun_callback(
    callback: CallbackRequest,
    body: Sequence[BaseModel],
    apply: _AppliesBatch,
    *,
    message_id: str | None = None,
) -> Response:
    """Every Aliyun push: apply the batch in one transaction and answer OK (a push retried
    under its `Idempotency-Key`, or with the same `message_id` and body, is answered again,
    not applied again).

    `apply` gets the connection, the time and whether status webhooks are configured."""
    report_status = callback.context.settings.status_webhook_url is not None

    def operation(conn: Connection) -> dict[str, Any]:
        apply(conn, at=callback.now, report_status=report_status)
        return _ALIYUN_OK

    return callback.run(operation, body=body, message_id=message_id)


@router.post("/providers/aliyun/sms-report", **CALLBACK_ROUTE)
def aliyun_sms_report(body: list[receipts.AliyunSmsReport], callback: Callback) -> Response:
    """Aliyun SmsReport push: delivery reports keyed by our delivery id (`out_id`)."""
    return _apply_aliyun_callback(callback, body, partial(receipts.apply_sms_reports, reports=body))


@router.post("/providers/aliyun/sms-up", **CALLBACK_ROUTE)
def aliyun_sms_up(body: list[receipts.AliyunSmsUp], callback: Callback) -> Response:
    """Aliyun SmsUp push: replies; `T`, `TD` or `退订` withdraw SMS marketing consent. A push
    retried with the same replies (their `sequence_id`s) records them once."""
    keyring = callback.context.keyring
    return _apply_aliyun_callback(
        callback,
        body,
        partial(receipts.apply_sms_replies, keyring=keyring, replies=body),
        message_id=receipts.sequence_ids(body),
    )
