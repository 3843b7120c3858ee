"""Campaign operations: create and edit drafts, count the audience, launch, freeze the
audience page by page, cancel, and report. Never commits: the request or the job that
called it owns the transaction. The sends themselves are planned by the notification
engine, driven by the composition root (`tidings.app.campaigns`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select

from tidings.campaigns import repository, stats
from tidings.campaigns.assignment import Slice, expected_shares, slices
from tidings.campaigns.events import (
    CAMPAIGN_CANCELLED,
    PROMOTION,
    CampaignCancelled,
    LinkTarget,
)
from tidings.campaigns.exceptions import CampaignFinished, CampaignNotDraft, CampaignNotFound
from tidings.campaigns.schemas import (
    AudienceOut,
    AuditEntry,
    CampaignIn,
    CampaignOut,
    CampaignStatus,
    ControlReport,
    Conversion,
    Excluded,
    ReportOut,
    SampleRatio,
    Segment,
    Suppressed,
    VariantReport,
)
from tidings.events import record_event, stored_data
from tidings.kit.ids import is_id, new_id
from tidings.kit.tables import AnyRow

LIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)
"""Launched and not finished: the dispatch job works on these."""


@dataclass(frozen=True, slots=True)
class FrozenPage:
    """One page of the audience just frozen: members after `after` up to `upto`."""

    campaign_id: str
    after: str | None
    upto: str


@dataclass(frozen=True, slots=True)
class SendPlan:
    """What the notification engine needs to plan a campaign's messages."""

    campaign_id: str
    kind: str
    channels: tuple[str, ...]
    not_before: datetime
    messages: dict[str, dict[str, dict[str, Any]]]
    """variant key → locale → the notice's data."""


def _out(row: AnyRow) -> CampaignOut:
    return CampaignOut.model_validate(row, from_attributes=True)


def _row(conn: Connection, campaign_id: str, *, lock: bool = False) -> AnyRow:
    row = repository.get_campaign(conn, campaign_id, lock=lock) if is_id(campaign_id) else None
    if row is None:
        raise CampaignNotFound(f"campaign {campaign_id} not found")
    return row


def _audit(
    conn: Connection, campaign_id: str, action: str, actor: str, at: datetime, **detail: Any
) -> None:
    repository.insert_audit(
        conn,
        {
            "id": new_id("cau"),
            "campaign_id": campaign_id,
            "action": action,
            "actor": actor,
            "detail": detail,
            "at": at,
        },
    )


def _fields(body: CampaignIn) -> dict[str, Any]:
    data = body.model_dump(mode="json", exclude_none=True)
    return {
        "name": body.name,
        "segment": data["segment"],
        "variants": data["variants"],
        "control_percent": body.control_percent,
        "channels": list(body.channels),
        "send_at": body.send_at,
        "conversion": data.get("conversion"),
        # A segment on spending or behaviour is personalised whatever the operator said.
        "personalised": body.personalised or body.segment.personal,
    }


def create_campaign(conn: Connection, body: CampaignIn, *, actor: str, at: datetime) -> CampaignOut:
    campaign_id = new_id("cmp")
    repository.insert_campaign(
        conn,
        {
            "id": campaign_id,
            "status": CampaignStatus.DRAFT.value,
            "created_by": actor,
            "created_at": at,
            "updated_at": at,
            **_fields(body),
        },
    )
    _audit(conn, campaign_id, "created", actor, at, name=body.name)
    return _out(_row(conn, campaign_id))


def update_draft(
    conn: Connection, campaign_id: str, body: CampaignIn, *, actor: str, at: datetime
) -> CampaignOut:
    """Replace a draft's definition; anything launched is 409."""
    row = _row(conn, campaign_id, lock=True)
    if row.status != CampaignStatus.DRAFT:
        raise CampaignNotDraft(f"campaign {campaign_id} is {row.status}; only a draft is edited")
    fields = _fields(body)
    changed = sorted(key for key, value in fields.items() if getattr(row, key) != value)
    repository.update_campaign(conn, campaign_id, {**fields, "updated_at": at})
    _audit(conn, campaign_id, "edited", actor, at, fields=changed)
    return _out(_row(conn, campaign_id))


def get_campaign(conn: Connection, campaign_id: str) -> CampaignOut:
    return _out(_row(conn, campaign_id))


def list_campaigns(conn: Connection, *, before: str | None, limit: int) -> list[CampaignOut]:
    return [_out(row) for row in repository.list_campaigns(conn, before=before, limit=limit)]


def audit_trail(conn: Connection, campaign_id: str) -> list[AuditEntry]:
    _row(conn, campaign_id)
    return [
        AuditEntry.model_validate(row, from_attributes=True)
        for row in repository.audit_of(conn, campaign_id)
    ]


def audience(conn: Connection, campaign_id: str, *, now: datetime) -> AudienceOut:
    """Who the campaign would reach if launched now, counted without sending anything."""
    row = _row(conn, campaign_id)
    return count_audience(
        conn,
        Segment.model_validate(row.segment),
        channels=row.channels,
        personalised=row.personalised,
        now=now,
    )


def count_audience(
    conn: Connection,
    segment: Segment,
    *,
    channels: list[str],
    personalised: bool,
    now: datetime,
) -> AudienceOut:
    """The audience of a segment (a draft being written, too), counted in one query."""
    matched, no_consent, personal_off = repository.count_audience(
        conn, segment, channels=channels, personalised=personalised or segment.personal, now=now
    )
    return AudienceOut(
        matched=matched,
        eligible=matched - no_consent - personal_off,
        excluded=Excluded(no_consent=no_consent, personalisation_off=personal_off),
    )


def launch(conn: Connection, campaign_id: str, *, actor: str, at: datetime) -> CampaignOut:
    """Launch a draft: the audience is fixed as of now (later sign-ups are not in it) and
    frozen by the dispatch job; a second launch is 409 and sends nothing."""
    row = _row(conn, campaign_id, lock=True)
    if row.status != CampaignStatus.DRAFT:
        raise CampaignNotDraft(f"campaign {campaign_id} is {row.status}; it was launched")
    send_at = max(row.send_at or at, at)
    repository.update_campaign(
        conn,
        campaign_id,
        {
            "status": CampaignStatus.SCHEDULED.value,
            "launched_at": at,
            "send_at": send_at,
            "updated_at": at,
        },
    )
    _audit(conn, campaign_id, "launched", actor, at, send_at=send_at.isoformat())
    return _out(_row(conn, campaign_id))


def cancel(conn: Connection, campaign_id: str, *, actor: str, at: datetime) -> CampaignOut:
    """Stop what has not been sent: the freeze stops and the engine cancels the unsent
    messages (through the outbox: a domain never calls the engine)."""
    row = _row(conn, campaign_id, lock=True)
    if row.status in (CampaignStatus.SENT, CampaignStatus.CANCELLED):
        raise CampaignFinished(f"campaign {campaign_id} is already {row.status}")
    repository.update_campaign(
        conn,
        campaign_id,
        {
            "status": CampaignStatus.CANCELLED.value,
            "cancelled_at": at,
            "updated_at": at,
            "finished_at": at,
        },
    )
    if row.launched_at is not None:
        record_event(
            conn,
            type=CAMPAIGN_CANCELLED,
            user_id=None,
            data=stored_data(CampaignCancelled(campaign_id=campaign_id)),
            at=at,
        )
    _audit(conn, campaign_id, "cancelled", actor, at)
    return _out(_row(conn, campaign_id))


# -- the dispatch job's steps (driven by tidings.app.campaigns) ---------------------------


def live_campaigns(conn: Connection) -> list[str]:
    return repository.campaigns_in(conn, [status.value for status in LIVE])


def _slices(row: AnyRow) -> tuple[Slice, ...]:
    return slices(row.control_percent, [(v["key"], v["weight"]) for v in row.variants])


def freeze_next_page(
    conn: Connection, campaign_id: str, *, limit: int, now: datetime
) -> FrozenPage | None:
    """Freeze the next page of a live campaign's audience (locks the campaign row, so two
    runners take turns); None when the audience is complete or the campaign is not live."""
    row = _row(conn, campaign_id, lock=True)
    if row.status not in LIVE or row.frozen_at is not None:
        return None
    who = repository.eligible(
        Segment.model_validate(row.segment),
        channels=row.channels,
        personalised=row.personalised,
        now=row.launched_at,
    )
    upto = repository.freeze_batch(
        conn,
        campaign_id=campaign_id,
        who=who,
        plan=_slices(row),
        joined_by=row.launched_at,
        after=row.freeze_cursor,
        limit=limit,
        now=now,
    )
    if upto is None:
        total = repository.count_recipients(conn, campaign_id)
        repository.update_campaign(conn, campaign_id, {"frozen_at": now, "recipients": total})
        _audit(conn, campaign_id, "frozen", "system", now, recipients=total)
        return None
    repository.update_campaign(conn, campaign_id, {"freeze_cursor": upto})
    return FrozenPage(campaign_id, row.freeze_cursor, upto)


def send_plan(conn: Connection, campaign_id: str) -> SendPlan:
    row = _row(conn, campaign_id)
    messages = {
        variant["key"]: {
            locale: {
                "campaign_id": campaign_id,
                "variant": variant["key"],
                "personalised": bool(row.personalised),
                **{k: v for k, v in content.items() if v is not None},
            }
            for locale, content in variant["content"].items()
        }
        for variant in row.variants
    }
    return SendPlan(
        campaign_id=campaign_id,
        kind=PROMOTION,
        channels=tuple(row.channels),
        not_before=row.send_at,
        messages=messages,
    )


def count_refused(conn: Connection, campaign_id: str, *, no_consent: int) -> None:
    """Sends the engine refused at planning for want of consent: counted for the report, in
    the page's own transaction (a crash loses the page and its count together)."""
    if no_consent:
        repository.add_suppressed_no_consent(conn, campaign_id, no_consent)


def page_audience(page: FrozenPage) -> Select[Any]:
    return repository.planning_audience(page.campaign_id, after=page.after, upto=page.upto)


def advance(conn: Connection, campaign_id: str, *, now: datetime) -> CampaignStatus:
    """scheduled → sending once `send_at` has come; sending → sent once the audience is
    frozen and no message is left to go."""
    row = _row(conn, campaign_id, lock=True)
    status = CampaignStatus(row.status)
    if status not in LIVE or row.frozen_at is None:
        return status
    if status is CampaignStatus.SCHEDULED and now >= row.send_at:
        status = CampaignStatus.SENDING
        repository.update_campaign(conn, campaign_id, {"status": status.value, "updated_at": now})
        _audit(conn, campaign_id, "sending", "system", now)
    if status is CampaignStatus.SENDING and repository.open_sends(conn, campaign_id) == 0:
        status = CampaignStatus.SENT
        repository.update_campaign(
            conn, campaign_id, {"status": status.value, "updated_at": now, "finished_at": now}
        )
        _audit(conn, campaign_id, "sent", "system", now)
    return status


# -- conversions and the report ----------------------------------------------------------


def follow_link(conn: Connection, target: LinkTarget, *, at: datetime) -> str | None:
    """The content url a recipient's tracked link leads to (their locale's, else the
    default's), recording their first click; None for anything not a message's link."""
    row = repository.get_campaign(conn, target.campaign_id)
    member = repository.recipient(conn, target.campaign_id, target.user_id) if row else None
    if row is None or member is None or member.variant is None:
        return None
    variant = next((v for v in row.variants if v["key"] == member.variant), None)
    if variant is None:
        return None
    content = variant["content"]
    language = str(member.locale).split("-")[0]
    own = next((c for locale, c in content.items() if locale.split("-")[0] == language), None)
    url = (own or content["zh-CN"]).get("url") or content["zh-CN"].get("url")
    if url is None:
        return None
    repository.record_click(conn, target.campaign_id, target.user_id, at)
    return str(url)


def record_conversions(conn: Connection, campaign_id: str, *, now: datetime) -> int:
    """Each member whose goal event happened within the window after their send (after
    `send_at` for the control group) converts once; the window closes `within_hours`
    after the campaign finished."""
    row = _row(conn, campaign_id, lock=True)
    goal = Conversion.model_validate(row.conversion)
    window = timedelta(hours=goal.within_hours)
    converted: dict[str, dict[str, Any]] = {}
    for event in repository.conversion_candidates(
        conn,
        campaign_id,
        event_type=goal.event_type,
        category=goal.category,
        since=row.send_at,
        until=now,
    ):
        start = row.send_at if event.variant is None else event.sent_at
        if event.user_id in converted or start is None:
            continue
        if start <= event.time <= start + window:
            converted[event.user_id] = {
                "uid": event.user_id,
                "at": event.time,
                "eid": event.event_id,
            }
    repository.record_conversions(conn, campaign_id, list(converted.values()))
    if row.finished_at is not None and now >= row.finished_at + window:
        repository.update_campaign(conn, campaign_id, {"conversions_closed_at": now})
        _audit(conn, campaign_id, "conversions_closed", "system", now)
    return len(converted)


def report(conn: Connection, campaign_id: str) -> ReportOut:
    row = _row(conn, campaign_id)
    groups = {g.variant: g for g in repository.group_counts(conn, campaign_id)}
    control = groups.get(None)
    control_n = int(control.recipients) if control else 0
    control_converted = int(control.converted) if control else 0
    control_rate = stats.rate(control_converted, control_n)
    variants: list[VariantReport] = []
    for variant in row.variants:
        g = groups.get(variant["key"])
        n, converted = (int(g.recipients), int(g.converted)) if g else (0, 0)
        conversion_rate = stats.rate(converted, n)
        variants.append(
            VariantReport(
                key=variant["key"],
                recipients=n,
                sent=int(g.sent) if g else 0,
                delivered=int(g.delivered) if g else 0,
                clicked=int(g.clicked) if g else 0,
                converted=converted,
                conversion_rate=conversion_rate,
                uplift=conversion_rate - control_rate if control_n else None,
                p_value=stats.two_proportion_p_value(converted, n, control_converted, control_n),
            )
        )
    shares = expected_shares(_slices(row))
    observed = [int(groups[key].recipients) if key in groups else 0 for key in shares]
    srm = stats.sample_ratio_p_value(observed, list(shares.values()))
    held = repository.suppressions(conn, campaign_id)
    return ReportOut(
        status=CampaignStatus(row.status),
        audience=sum(int(g.recipients) for g in groups.values()),
        variants=variants,
        control=ControlReport(
            recipients=control_n, converted=control_converted, conversion_rate=control_rate
        ),
        suppressed=Suppressed(
            # Refused at planning (counted) plus refused later, at sending (delivery rows),
            # personalised marketing turned off since the audience was frozen included.
            no_consent=row.suppressed_no_consent
            + held.get("no_consent", 0)
            + held.get("personalisation_off", 0),
            outside_window=held.get("marketing_window", 0),
            capped=held.get("cap", 0),
        ),
        sample_ratio=SampleRatio(p_value=srm, mismatch=srm is not None and srm < stats.SRM_ALPHA),
        conversions_closed=row.conversions_closed_at is not None,
    )
