"""Campaigns in the console (`/console/campaigns`): the list, a new campaign (segment
builder, variants, a live audience count), each campaign's preview per locale and channel
with its SMS segment count, launch and cancel, and the report with a chart. Every action
goes through the same service functions as `/v1/campaigns`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tidings.campaigns import service
from tidings.campaigns.events import PROMOTION
from tidings.campaigns.schemas import CampaignIn, CampaignOut, ReportOut
from tidings.kit.db import read_transaction
from tidings.kit.errors import AppError
from tidings.notify.templates import service as templates
from tidings.notify.templates.schemas import TemplatePreview
from tidings.web.charts import Bar, bar_chart
from tidings.web.console.jobs import parse_local_minute
from tidings.web.console.message_templates import renderer
from tidings.web.console.operator import Console, ConsoleVisit
from tidings.web.i18n import gettext_noop
from tidings.web.visit import OperatorForm, PostedForm

router = APIRouter(prefix="/console/campaigns", include_in_schema=False)

LOCALES = ("zh-CN", "en")
CHANNELS = ("inbox", "push", "sms", "email")
VARIANT_KEYS = ("a", "b")
CATEGORIES = (
    "dining",
    "groceries",
    "transport",
    "travel",
    "shopping",
    "utilities",
    "entertainment",
    "health",
    "education",
)
PURPOSES = ("travel", "shopping", "savings", "custom")
GOALS = ("wallet.payment.succeeded", "wallet.top_up.succeeded", "wallet.transfer.sent")
SAMPLE_LINK = "https://wallet.example.com/l/…"
_NOT_VALID = gettext_noop("Check this field: %(problem)s")


@dataclass(slots=True)
class CampaignForm:
    """What the operator typed (kept through a refusal) and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    channels: list[str] = field(default_factory=lambda: ["inbox"])
    error_field: str | None = None
    error: str | None = None

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


def _yuan(typed: str) -> int:
    """Minor units of an amount typed in yuan (`100` or `99.50`)."""
    whole, _, cents = typed.strip().partition(".")
    return int(whole or "0") * 100 + int((cents + "00")[:2] or "0")


def _segment(form: CampaignForm) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    if form.get("locale"):
        conditions.append({"locale": form.get("locale")})
    if form.get("joined_within_days"):
        conditions.append({"joined_within_days": int(form.get("joined_within_days"))})
    if form.get("balance_at_least"):
        amount = {"value": _yuan(form.get("balance_at_least")), "currency": "CNY"}
        conditions.append({"balance_at_least": amount})
    for key in ("has_sub_wallet", "lacks_sub_wallet"):
        if form.get(key):
            conditions.append({key: form.get(key)})
    if form.get("spent_at_least"):
        rule: dict[str, Any] = {
            "amount": {"value": _yuan(form.get("spent_at_least")), "currency": "CNY"},
            "within_days": int(form.get("spent_within_days", "30") or "30"),
        }
        if form.get("spent_category"):
            rule["category"] = form.get("spent_category")
        conditions.append({"spent_at_least": rule})
    if form.get("payments_at_least"):
        count: dict[str, Any] = {
            "count": int(form.get("payments_at_least")),
            "within_days": int(form.get("payments_within_days", "30") or "30"),
        }
        if form.get("payments_category"):
            count["category"] = form.get("payments_category")
        conditions.append({"payments_at_least": count})
    return {"all": conditions}


def _variants(form: CampaignForm) -> list[dict[str, Any]]:
    variants = []
    for key in VARIANT_KEYS:
        content: dict[str, Any] = {}
        for locale in LOCALES:
            title, body = form.get(f"{key}_{locale}_title"), form.get(f"{key}_{locale}_body")
            if title or body:
                content[locale] = {"title": title, "body": body}
                if form.get(f"{key}_url"):
                    content[locale]["url"] = form.get(f"{key}_url")
        if content:
            variants.append({"key": key, "weight": 1, "content": content})
    return variants


def _body(form: CampaignForm, console: ConsoleVisit) -> CampaignIn:
    """The API body the form stands for; ValueError/ValidationError name what is wrong."""
    typed_send = form.get("send_at")
    send_at = parse_local_minute(typed_send, console) if typed_send else None
    if typed_send and send_at is None:
        raise ValueError("send_at")
    body: dict[str, Any] = {
        "name": form.get("name"),
        "segment": _segment(form),
        "variants": _variants(form),
        "control_percent": int(form.get("control_percent", "0") or "0"),
        "channels": form.channels,
        "personalised": form.get("personalised") == "on",
    }
    if send_at is not None:
        body["send_at"] = send_at.isoformat()
    if form.get("goal"):
        body["conversion"] = {
            "event_type": form.get("goal"),
            "within_hours": int(form.get("goal_hours", "72") or "72"),
        }
    return CampaignIn.model_validate(body)


def _read_form(posted: PostedForm) -> CampaignForm:
    names = [
        "name",
        "locale",
        "joined_within_days",
        "balance_at_least",
        "has_sub_wallet",
        "lacks_sub_wallet",
        "spent_at_least",
        "spent_category",
        "spent_within_days",
        "payments_at_least",
        "payments_category",
        "payments_within_days",
        "control_percent",
        "send_at",
        "goal",
        "goal_hours",
        "personalised",
        *(f"{key}_url" for key in VARIANT_KEYS),
        *(
            f"{k}_{loc}_{part}"
            for k in VARIANT_KEYS
            for loc in LOCALES
            for part in ("title", "body")
        ),
    ]
    values = {name: (posted.get(name) or "").strip()[:2000] for name in names}
    channels = [c for c in posted.getlist("channels") if c in CHANNELS]
    return CampaignForm(values=values, channels=channels)


def _parsed(form: CampaignForm, console: ConsoleVisit) -> CampaignIn | CampaignForm:
    """The body, or the form again with the first problem named next to its field."""
    try:
        return _body(form, console)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "name"
        form.error_field, form.error = where, str(first["msg"])
    except ValueError as exc:
        form.error_field, form.error = str(exc).split(":")[0][:40], str(exc)[:200]
    return form


@router.get("")
def campaigns_page(console: Console) -> Response:
    with read_transaction(console.visit.context.engine) as conn:
        items = service.list_campaigns(conn, before=None, limit=100)
    return console.render("console/campaigns.html", campaigns=items, active="campaigns")


def _new_page(console: ConsoleVisit, form: CampaignForm, status_code: int = 200) -> Response:
    return console.render(
        "console/campaign_new.html",
        status_code=status_code,
        form=form,
        locales=LOCALES,
        channels=CHANNELS,
        variant_keys=VARIANT_KEYS,
        categories=CATEGORIES,
        purposes=PURPOSES,
        goals=GOALS,
        not_valid=_NOT_VALID,
        audience=None,
        active="campaigns",
    )


@router.get("/new")
def new_campaign_page(console: Console) -> Response:
    return _new_page(console, CampaignForm())


@router.post("/new")
def create_campaign(console: Console, posted: OperatorForm) -> Response:
    form = _read_form(posted)
    parsed = _parsed(form, console)
    if isinstance(parsed, CampaignForm):
        return _new_page(console, parsed, status_code=422)
    body = parsed
    actor = f"console:{console.operator_name or 'operator'}"
    now = console.visit.context.clock.now()
    created = console.visit.write(
        lambda conn: service.create_campaign(conn, body, actor=actor, at=now)
    )
    return RedirectResponse(f"/console/campaigns/{created.id}", status_code=303)


@router.post("/audience")
def live_audience(console: Console, posted: OperatorForm) -> Response:
    """htmx: the audience the form's segment and channels would reach, as typed."""
    form = _read_form(posted)
    parsed = _parsed(form, console)
    counts = None
    if not isinstance(parsed, CampaignForm):
        with read_transaction(console.visit.context.engine) as conn:
            counts = service.count_audience(
                conn,
                parsed.segment,
                channels=list(parsed.channels),
                personalised=parsed.personalised,
                now=console.visit.context.clock.now(),
            )
    return console.render("console/_campaign_audience.html", audience=counts, form=form)


@dataclass(frozen=True, slots=True)
class Preview:
    variant: str
    locale: str
    channel: str
    title: str | None
    body: str
    segments: int | None


def _previews(console: ConsoleVisit, campaign: CampaignOut) -> list[Preview]:
    """Each variant in each of its locales on each channel, rendered as it will be sent."""
    previews = []
    with read_transaction(console.visit.context.engine) as conn:
        for variant in campaign.variants:
            for locale, content in variant["content"].items():
                data = {**content, "campaign_id": campaign.id}
                if content.get("url"):
                    data["url"] = SAMPLE_LINK
                for channel in campaign.channels:
                    shown = templates.preview(
                        conn,
                        renderer(console.visit.context),
                        TemplatePreview(kind=PROMOTION, channel=channel, locale=locale, data=data),
                    )
                    segments = shown.segments if channel == "sms" else None
                    previews.append(
                        Preview(variant["key"], locale, channel, shown.title, shown.body, segments)
                    )
    return previews


@router.get("/{campaign_id}")
def campaign_page(campaign_id: str, console: Console) -> Response:
    context = console.visit.context
    with read_transaction(context.engine) as conn:
        campaign = service.get_campaign(conn, campaign_id)
        audience = (
            service.audience(conn, campaign_id, now=context.clock.now())
            if campaign.status == "draft"
            else None
        )
        trail = service.audit_trail(conn, campaign_id)
    return console.render(
        "console/campaign.html",
        campaign=campaign,
        audience=audience,
        previews=_previews(console, campaign),
        trail=trail,
        active="campaigns",
    )


def _act(console: ConsoleVisit, campaign_id: str, action: str) -> Response:
    actor = f"console:{console.operator_name or 'operator'}"
    now = console.visit.context.clock.now()
    operation = service.launch if action == "launch" else service.cancel
    try:
        console.visit.write(lambda conn: operation(conn, campaign_id, actor=actor, at=now))
    except AppError as exc:
        if exc.status == 404:
            raise
        return console.render(
            "console/campaign_refused.html",
            status_code=exc.status,
            campaign_id=campaign_id,
            detail=exc.detail,
            active="campaigns",
        )
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.post("/{campaign_id}/launch")
def launch_campaign(campaign_id: str, console: Console, _: OperatorForm) -> Response:
    return _act(console, campaign_id, "launch")


@router.post("/{campaign_id}/cancel")
def cancel_campaign(campaign_id: str, console: Console, _: OperatorForm) -> Response:
    return _act(console, campaign_id, "cancel")


def conversion_chart(report: ReportOut, control_label: str) -> Any:
    """Conversion rate per variant and the control group, in basis points, as bars."""
    rows = [(v.key, v.conversion_rate) for v in report.variants]
    rows.append((control_label, report.control.conversion_rate))
    return bar_chart(
        [
            Bar(label=label, shown=f"{rate * 100:.2f}%", value=round(rate * 10_000))
            for label, rate in rows
        ]
    )


@router.get("/{campaign_id}/report")
def report_page(campaign_id: str, console: Console) -> Response:
    with read_transaction(console.visit.context.engine) as conn:
        campaign = service.get_campaign(conn, campaign_id)
        report = service.report(conn, campaign_id)
    return console.render(
        "console/campaign_report.html",
        campaign=campaign,
        report=report,
        chart=conversion_chart(report, console.visit.gettext("Control")),
        active="campaigns",
    )
