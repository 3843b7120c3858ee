"""One way to run a state-changing request: one transaction, retried when the database asks,
honouring `Idempotency-Key`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header
from pydantic import BaseModel
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tidings.api.auth import (
    CALLBACK_REFUSED,
    CallbackToken,
    CurrentPrincipal,
    Principal,
    check_callback_token,
)
from tidings.api.caller import CallerRequest
from tidings.api.context import ApiContext, get_context
from tidings.api.errors import PROBLEM_JSON
from tidings.api.responses import FastJSONResponse
from tidings.idempotency import service as idempotency
from tidings.kit.db import free_writer, retried_write
from tidings.kit.errors import AppError

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Same key and body: the first result again; same key, other body: 409.",
    ),
]


Presenter = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a successful answer as stored for `Idempotency-Key` into the answer sent."""

StatusFor = Callable[[dict[str, Any]], int]
"""The status of a successful answer, read from the answer itself (a held transfer: 202)."""


def _as_stored(answer: dict[str, Any]) -> dict[str, Any]:
    return answer


Body = BaseModel | Sequence[BaseModel] | None
"""A request's parsed body: one model, a list of them (a provider's batch), or none."""


def request_fingerprint(request: Request, body: Body) -> str:
    """Same method, path and (parsed, canonical) body give the same fingerprint."""
    if body is None:
        canonical = ""
    elif isinstance(body, BaseModel):
        canonical = body.model_dump_json()
    else:
        canonical = "[" + ",".join(item.model_dump_json() for item in body) + "]"
    return _digest(f"{request.method} {request.url.path}\n{canonical}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request under an `Idempotency-Key`: the key, in its caller's scope, and what was asked."""

    scope: str
    """Whose keys these are: a principal's (`Principal.key`), or `provider` for callbacks."""
    key: str
    fingerprint: str

    def claim(self, conn: Connection, *, at: datetime) -> idempotency.StoredResponse | None:
        """None when this request owns the key now; the first answer when it was used before."""
        return idempotency.claim(
            conn, principal=self.scope, key=self.key, request_hash=self.fingerprint, at=at
        )

    def answered(self, conn: Connection) -> idempotency.StoredResponse | None:
        """The first answer under the key, without claiming it (None: no answer yet)."""
        return idempotency.answered(
            conn, principal=self.scope, key=self.key, request_hash=self.fingerprint
        )

    def complete(self, conn: Connection, *, status: int, body: dict[str, Any]) -> None:
        """Store the answer, for the same request again."""
        idempotency.complete(conn, principal=self.scope, key=self.key, status=status, body=body)

    @classmethod
    def of(cls, scope: str, key: str | None, request: Request, body: Body) -> KeyedRequest | None:
        """The request's key in `scope`, or None when it came without one."""
        if key is None:
            return None
        return cls(scope, key, request_fingerprint(request, body))


def replayed(stored: idempotency.StoredResponse, shown: Presenter = _as_stored) -> Response:
    """The first answer given under an `Idempotency-Key`, again."""
    return FastJSONResponse(
        stored.body if stored.status >= 400 else shown(stored.body),
        status_code=stored.status,
        headers={"Idempotent-Replayed": "true"},
        media_type=PROBLEM_JSON if stored.status >= 400 else None,
    )


Operation = Callable[[Connection], BaseModel | dict[str, Any] | AppError]


def write_once(
    context: ApiContext,
    keyed: KeyedRequest | None,
    operation: Operation,
    *,
    status_code: int = 200,
    present: Presenter | None = None,
    status_for: StatusFor | None = None,
) -> Response:
    """Run `operation` in one write transaction, retried when the database asks, and answer
    with its JSON; under a key, the key is claimed and answered in the same transaction.

    An operation may return (not raise) an `AppError`: a refusal whose side effects must be
    committed (a wrong one-time code spends an attempt). It is answered as the problem.
    `present` turns a success as stored into the answer sent, first time and on replays, so
    an answer that carries a secret is stored without it (the secret re-derived each time).
    `status_for` picks a success's status from its answer, stored with it for replays.
    """
    shown = present or _as_stored

    def respond(conn: Connection) -> Response | AppError:
        if keyed is not None:
            stored = keyed.claim(conn, at=context.clock.now())
            if stored is not None:
                return replayed(stored, shown)
        result = operation(conn)
        if isinstance(result, AppError):
            status, answer = result.status, result.problem()
        else:
            answer = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            status = status_for(answer) if status_for is not None else status_code
        if keyed is not None:
            keyed.complete(conn, status=status, body=answer)
        if isinstance(result, AppError):
            return result
        return FastJSONResponse(shown(answer), status)

    outcome = retried_write(context.engine, respond)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


@dataclass(frozen=True, slots=True)
class WriteRequest(CallerRequest):
    """Everything an idempotent write needs, gathered once per request by FastAPI.

    A route then reads as: parse, call the service inside `run`, answer —
    `return write.run(lambda conn: service.op(conn, ..., **write.acting), body=body)`.
    """

    request: Request
    idempotency_key: str | None

    def run(
        self,
        operation: Operation,
        *,
        body: BaseModel | None = None,
        status_code: int = 200,
        present: Presenter | None = None,
        status_for: StatusFor | None = None,
    ) -> Response:
        """Run `operation` in one write transaction, honouring `Idempotency-Key`
        (`write_once`)."""
        keyed = KeyedRequest.of(self.principal.key, self.idempotency_key, self.request, body)
        return write_once(
            self.context,
            keyed,
            operation,
            status_code=status_code,
            present=present,
            status_for=status_for,
        )

    async def run_hot(self, handle: Callable[[], Response]) -> Response:
        """Run a hot route's whole `handle` (which calls `run`) from an `async def` route.

        On SQLite, when this process's one writer is free, it runs right here on the event
        loop: SQLite writes one transaction at a time anyway, so a thread would only add a
        hand-off and a fight for the writer. Otherwise (PostgreSQL, where requests do run
        side by side, or a worker holding SQLite's writer) on a worker thread, as FastAPI
        runs a plain `def` route."""
        with free_writer(self.context.engine) as free:
            if free:
                return handle()
        return await run_in_threadpool(handle)


def _gather(
    request: Request, context: ApiContext, principal: Principal, idempotency_key: str | None
) -> WriteRequest:
    return WriteRequest(
        context=context,
        principal=principal,
        request=request,
        idempotency_key=idempotency_key,
        now=context.clock.now(),
    )


async def _write_request(
    request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> WriteRequest:
    """Async on purpose (it does no I/O): FastAPI runs a sync dependency on a thread, a hop on
    every write. The context is read, not declared: each dependency solved costs a request.
    The caller is authenticated before the key is checked (401 before 422), as a dependency."""
    return _gather(request, await get_context(request), principal, idempotency_key)


async def _write_without_key(request: Request, principal: CurrentPrincipal) -> WriteRequest:
    return _gather(request, await get_context(request), principal, None)


CALLBACK_SCOPE = "provider"
"""The scope of providers' idempotency keys (a user id or `operator` never equals it)."""


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A provider's push (delivery reports, replies, inbound mail), authenticated by its
    `?token=`. A push retried under the same `Idempotency-Key`, or with the same message ids
    and body, is answered as the first time and changes nothing again."""

    context: ApiContext
    request: Request
    idempotency_key: str | None
    now: datetime

    def run(self, operation: Operation, *, body: Body, message_id: str | None = None) -> Response:
        """Run `operation` in one write transaction (`write_once`), keys in `provider` scope.

        Providers seldom send an `Idempotency-Key`, but their messages carry ids of their own
        (an email's Message-ID, SmsUp's sequence ids). Without the header, the push is keyed
        by `message_id` and its body together: the same push retried is answered again and
        applied once; another body under the same id (a provider reusing ids) is applied as
        the new message it is, not refused with a 409 the provider would retry forever."""
        fingerprint = request_fingerprint(self.request, body)
        key = self.idempotency_key
        if key is None and message_id is not None:
            key = "message:" + _digest(f"{message_id}\n{fingerprint}")
        keyed = None if key is None else KeyedRequest(CALLBACK_SCOPE, key, fingerprint)
        return write_once(self.context, keyed, operation)


async def _checked_callback(request: Request, token: CallbackToken = None) -> ApiContext:
    context = await get_context(request)
    check_callback_token(context, token)
    return context


async def _callback_request(
    request: Request,
    context: Annotated[ApiContext, Depends(_checked_callback)],
    idempotency_key: IdempotencyKey = None,
) -> CallbackRequest:
    """The token is checked before the key (401 before 422), as `Write` authenticates first."""
    return CallbackRequest(
        context=context, request=request, idempotency_key=idempotency_key, now=context.clock.now()
    )


Callback = Annotated[CallbackRequest, Depends(_callback_request)]
"""Declare `callback: Callback` on a provider's callback route."""

CALLBACK_ROUTE: dict[str, Any] = {
    "tags": ["providers"],
    "response_model": dict[str, Any],
    "responses": CALLBACK_REFUSED,
}
"""`@router.post(path, **CALLBACK_ROUTE)`: a provider's callback, in the providers group, with
the 401 only a wrong `?token=` gets."""

Write = Annotated[WriteRequest, Depends(_write_request)]
"""Declare `write: Write` on a state-changing route instead of its five parameters."""

PlainWrite = Annotated[WriteRequest, Depends(_write_without_key)]
"""A `Write` that takes no `Idempotency-Key`: one idempotent by nature (a PUT, marking read) or
whose answer must never be replayed (a secret or a token shown once)."""
