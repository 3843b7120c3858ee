"""The credit line over HTTP (shapes in `../shared/API.md`, "Credit line resources")."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from tidings.api.reads import Read
from tidings.api.writes import Write
from tidings.credit.schemas import (
    ApplicationCreate,
    ApplicationOut,
    AutoDebitIn,
    DecisionIn,
    DrawdownCreate,
    DrawdownOut,
    LimitIn,
    LineOut,
    ProductIn,
    ProductOut,
    QuoteIn,
    QuoteOut,
    RepaymentCreate,
    RepaymentOut,
    StatementItem,
)
from tidings.credit.service import (
    applications,
    drawdowns,
    lines,
    products,
    repayments,
    statements,
)
from tidings.kit.pagination import DEFAULT_LIMIT, Limit, MomentCursor, Page

router = APIRouter(prefix="/v1", tags=["credit"])

_Body = TypeVar("_Body", bound=BaseModel, contravariant=True)


class _Creates(Protocol[_Body]):
    def __call__(
        self, conn: Connection, data: _Body, /, *, acting_user_id: str | None, at: datetime
    ) -> BaseModel: ...


def _create(write: Write, body: _Body, operation: _Creates[_Body]) -> Response:
    """A borrower's idempotent create (201): the service is told the body, who acts, and when."""
    return write.run(
        lambda conn: operation(conn, body, **write.acting),
        body=body,
        status_code=201,
    )


@router.get("/credit/products", response_model=list[ProductOut])
def list_products(read: Read) -> list[ProductOut]:
    """Credit products on offer (rates, fees, penalty, grace days, terms, methods)."""
    return read.run(products.list_products)


@router.post("/credit/products", response_model=ProductOut)
def save_product(body: ProductIn, write: Write) -> Response:
    """Operator: create a product or replace its terms (existing drawdowns keep theirs)."""
    write.principal.require_operator()
    return write.run(lambda conn: products.save_product(conn, body, at=write.now), body=body)


@router.post("/credit/applications", status_code=201, response_model=ApplicationOut)
def create_application(body: ApplicationCreate, write: Write) -> Response:
    """Apply for a credit line; the decision rule approves, rejects or refers it."""
    return _create(write, body, applications.create_application)


@router.get("/credit/applications/{application_id}", response_model=ApplicationOut)
def get_application(application_id: str, read: Read) -> ApplicationOut:
    return read.run(
        lambda conn: applications.get_application(
            conn, application_id, acting_user_id=read.acting_user_id
        )
    )


@router.post("/credit/applications/{application_id}/decision", response_model=ApplicationOut)
def decide(application_id: str, body: DecisionIn, write: Write) -> Response:
    """Operator: approve (opens the line) or reject; may overturn an automatic rejection."""
    write.principal.require_operator()
    return write.run(
        lambda conn: applications.decide(conn, application_id, body, at=write.now), body=body
    )


@router.get("/users/{user_id}/credit-line", response_model=LineOut)
def line_of_user(user_id: str, read: Read) -> LineOut:
    """The user's credit line: limit, available, outstanding (404 when there is none)."""
    read.principal.require_self(user_id)
    return read.run(lambda conn: lines.line_of_user(conn, user_id))


@router.get("/credit/lines/{line_id}", response_model=LineOut)
def get_line(line_id: str, read: Read) -> LineOut:
    return read.run(lambda conn: lines.get_line(conn, line_id, acting_user_id=read.acting_user_id))


@router.post("/credit/lines/{line_id}/limit", response_model=LineOut)
def set_limit(line_id: str, body: LimitIn, write: Write) -> Response:
    """Operator: raise or lower the limit (the borrower is told old and new)."""
    write.principal.require_operator()
    return write.run(
        lambda conn: lines.set_limit(
            conn,
            line_id,
            limit=body.limit.value,
            currency=body.limit.currency,
            reason=body.reason,
            reason_code=body.reason_code,
            by="operator",
            at=write.now,
        ),
        body=body,
    )


@router.post("/credit/lines/{line_id}/auto-debit", response_model=LineOut)
def set_auto_debit(line_id: str, body: AutoDebitIn, write: Write) -> Response:
    """Turn automatic repayment from the main wallet on the due day on or off."""
    return write.run(
        lambda conn: lines.set_auto_debit(
            conn, line_id, enabled=body.enabled, acting_user_id=write.acting_user_id
        ),
        body=body,
    )


@router.get("/credit/lines/{line_id}/statement", response_model=Page[StatementItem])
def statement(
    line_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: MomentCursor = None,
) -> Page[StatementItem]:
    """The line's history — drawdowns, repayments, daily penalty entries — newest first."""
    return read.run(
        lambda conn: statements.statement(
            conn, line_id, acting_user_id=read.acting_user_id, limit=limit, cursor=cursor
        )
    )


@router.post("/credit/quotes", response_model=QuoteOut)
def quote(body: QuoteIn, read: Read) -> QuoteOut:
    """What a drawdown would cost (APR, total interest, schedule); writes nothing."""
    return read.run(lambda conn: drawdowns.quote(conn, body, **read.acting))


@router.post("/credit/drawdowns", status_code=201, response_model=DrawdownOut)
def create_drawdown(body: DrawdownCreate, write: Write) -> Response:
    """Borrow: the money lands in the main wallet, with its schedule."""
    return _create(write, body, drawdowns.create_drawdown)


@router.get("/credit/drawdowns/{drawdown_id}", response_model=DrawdownOut)
def get_drawdown(drawdown_id: str, read: Read) -> DrawdownOut:
    return read.run(lambda conn: drawdowns.get_drawdown(conn, drawdown_id, **read.acting))


@router.post(
    "/credit/repayments",
    status_code=201,
    response_model=RepaymentOut,
    responses={422: {"description": "More than is owed, not enough money, wrong currency…"}},
)
def repay(body: RepaymentCreate, write: Write) -> Response:
    """Repay from the borrower's wallet: penalty, then interest, then principal."""
    return _create(write, body, repayments.repay)
