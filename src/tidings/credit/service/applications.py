"""Credit applications: received, put under review, decided by the rule or an operator; an
approval opens the line."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from tidings.credit import events, repository
from tidings.credit.decision import DecisionRule, WalletHistory, scoring_rule
from tidings.credit.exceptions import ApplicationNotFound, ApplicationPending, DecisionNotAllowed
from tidings.credit.schemas import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationStatus,
    DecidedBy,
    DecisionIn,
    LineStatus,
)
from tidings.credit.service import notices
from tidings.credit.service.products import find_product
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.users import directory

HISTORY_DAYS = 90


def _application_out(conn: Connection, row: AnyRow) -> ApplicationOut:
    product = repository.get_product(conn, row.product_id)
    return ApplicationOut(
        id=row.id,
        user_id=row.user_id,
        status=row.status,
        product=product.code if product is not None else "",
        requested_limit=money(int(row.requested_limit), row.currency),
        granted_limit=(
            money(int(row.granted_limit), row.currency) if row.granted_limit is not None else None
        ),
        score=row.score,
        decided_by=row.decided_by,
        reason=row.reason,
        line_id=row.line_id,
        created_at=as_utc(row.created_at),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
    )


def _history(conn: Connection, user_id: str, at: datetime) -> WalletHistory:
    row = repository.wallet_history(conn, user_id, since=at - timedelta(days=HISTORY_DAYS))
    return WalletHistory(
        account_age_days=max(0, (at - as_utc(row.created_at)).days),
        money_in_90d=int(row.money_in),
        payments_90d=int(row.payments),
        balance=int(row.balance),
    )


def create_application(
    conn: Connection,
    data: ApplicationCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
    rule: DecisionRule = scoring_rule,
) -> ApplicationOut:
    """Receive an application, put it under review, and let the decision rule approve,
    reject or refer it to an operator; each state change is a notice."""
    directory.require_user(conn, data.user_id, acting_user_id=acting_user_id, field="user_id")
    repository.lock_user(conn, data.user_id)
    product = find_product(conn, data.product)
    if data.requested_limit.currency != product.currency:
        raise CurrencyMismatch(
            f"the product lends {product.currency}", field="requested_limit.currency"
        )
    if repository.line_of_user(conn, data.user_id) is not None:
        raise ApplicationPending("the user already has a credit line", field="user_id")
    if repository.open_application_of(conn, data.user_id) is not None:
        raise ApplicationPending("an application is already waiting for a decision")
    application_id = new_id("cap")
    repository.insert_application(
        conn,
        {
            "id": application_id,
            "user_id": data.user_id,
            "product_id": product.id,
            "currency": product.currency,
            "requested_limit": data.requested_limit.value,
            "status": ApplicationStatus.RECEIVED,
            "created_at": at,
        },
    )
    ref = events.ApplicationEvent.model_construct(application_id=application_id)
    notices.record(conn, events.APPLICATION_RECEIVED, ref, user_id=data.user_id, at=at)
    decision = rule(
        _history(conn, data.user_id, at),
        requested=data.requested_limit.value,
        max_limit=int(product.max_limit),
    )
    repository.update_application(
        conn, application_id, {"status": ApplicationStatus.UNDER_REVIEW, "score": decision.score}
    )
    notices.record(conn, events.APPLICATION_UNDER_REVIEW, ref, user_id=data.user_id, at=at)
    if decision.outcome == "approve" and decision.limit:
        _approve(
            conn, application_id, limit=decision.limit, by="rule", reason=decision.reason, at=at
        )
    elif decision.outcome == "reject":
        _reject(conn, application_id, by="rule", reason=decision.reason, notify_reason=None, at=at)
    else:
        repository.update_application(conn, application_id, {"reason": decision.reason})
    return get_application(conn, application_id, acting_user_id=acting_user_id)


def get_application(
    conn: Connection, application_id: str, *, acting_user_id: str | None
) -> ApplicationOut:
    row = repository.get_application(conn, application_id) if is_id(application_id, "cap") else None
    visible = visible_or_raise(
        row, acting_user_id, ApplicationNotFound(f"application {application_id} not found")
    )
    return _application_out(conn, visible)


def decide(
    conn: Connection, application_id: str, data: DecisionIn, *, at: datetime
) -> ApplicationOut:
    """The operator's decision: on an application under review, or overturning an automatic
    rejection (the reason is recorded); an approval is final."""
    row = (
        repository.get_application(conn, application_id, lock=True)
        if is_id(application_id, "cap")
        else None
    )
    if row is None:
        raise ApplicationNotFound(f"application {application_id} not found")
    repository.lock_user(conn, row.user_id)
    open_for_decision = row.status == ApplicationStatus.UNDER_REVIEW or (
        row.status == ApplicationStatus.REJECTED and row.decided_by == DecidedBy.RULE
    )
    if not open_for_decision:
        raise DecisionNotAllowed(
            f"the application is {row.status} by {row.decided_by}; that decision is final"
        )
    if data.decision == "approve":
        if data.limit is not None and data.limit.currency != row.currency:
            raise CurrencyMismatch(f"must be {row.currency}", field="limit.currency")
        if repository.line_of_user(conn, row.user_id) is not None:
            raise ApplicationPending("the user already has a credit line")
        limit = data.limit.value if data.limit is not None else int(row.requested_limit)
        _approve(
            conn,
            application_id,
            limit=limit,
            by="operator",
            reason=data.reason or "approved by an operator",
            at=at,
        )
    else:
        if row.status == ApplicationStatus.REJECTED:
            raise DecisionNotAllowed("the application is already rejected")
        _reject(
            conn,
            application_id,
            by="operator",
            reason=data.reason or "rejected by an operator",
            notify_reason=data.reason,
            at=at,
        )
    return get_application(conn, application_id, acting_user_id=None)


def _approve(
    conn: Connection, application_id: str, *, limit: int, by: str, reason: str, at: datetime
) -> None:
    row = repository.get_application(conn, application_id)
    assert row is not None
    line_id = new_id("cln")
    repository.insert_line(
        conn,
        {
            "id": line_id,
            "user_id": row.user_id,
            "product_id": row.product_id,
            "currency": row.currency,
            "limit": limit,
            "outstanding": 0,
            "status": LineStatus.ACTIVE,
            "auto_debit": False,
            "created_at": at,
        },
    )
    repository.update_application(
        conn,
        application_id,
        {
            "status": ApplicationStatus.APPROVED,
            "granted_limit": limit,
            "decided_by": by,
            "reason": reason,
            "line_id": line_id,
            "decided_at": at,
        },
    )
    approved = events.ApplicationApproved.model_construct(
        application_id=application_id, limit=money(limit, row.currency)
    )
    notices.record(conn, events.APPLICATION_APPROVED, approved, user_id=row.user_id, at=at)


def _reject(
    conn: Connection,
    application_id: str,
    *,
    by: str,
    reason: str,
    notify_reason: str | None,
    at: datetime,
) -> None:
    row = repository.get_application(conn, application_id)
    assert row is not None
    repository.update_application(
        conn,
        application_id,
        {
            "status": ApplicationStatus.REJECTED,
            "decided_by": by,
            "reason": reason,
            "decided_at": at,
        },
    )
    rejected = events.ApplicationRejected.model_construct(
        application_id=application_id, reason=notify_reason or None
    )
    notices.record(conn, events.APPLICATION_REJECTED, rejected, user_id=row.user_id, at=at)
