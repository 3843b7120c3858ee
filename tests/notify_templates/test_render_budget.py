"""Operator templates render within a budget (steps, output, CPU time, value sizes): refused
when saved, and a delivery whose render runs over fails for good with the reason."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.helpers import cny, create_user
from tests.notify_templates.support import publish
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.notify.models import notifications
from tidings.notify.planner import PlannerPolicy
from tidings.notify.templates.budget import MAX_OUTPUT_CHARS, MAX_STEPS
from tidings.notify.templates.exceptions import TemplateTooCostly
from tidings.notify.templates.render import TemplateRenderer, TemplateSource
from tidings.notify.types import Category, ChannelName

NESTED_LOOPS = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}ok"


def render(body: str, data: dict[str, Any] | None = None) -> str:
    renderer = TemplateRenderer(
        overrides=lambda kind, channel, locale: TemplateSource(title="消费提醒", body=body)
    )
    return renderer.render(
        kind="wallet.payment.succeeded",
        channel=ChannelName.INBOX,
        locale="zh-CN",
        data={
            "amount": cny(12_800),
            "merchant": {"name": "星巴克"},
            "balance_after": cny(1_000),
            **(data or {}),
        },
        timezone="Asia/Shanghai",
        category=Category.TRANSACTIONAL,
    ).body


@pytest.mark.parametrize(
    "body",
    [
        NESTED_LOOPS,
        "{% for a in range(300) %}{% for b in range(300) %}{{ b }}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s %}{{ ns.s }}"
        "{{ ns.s }}{% endset %}{% endfor %}{{ ns.s|length }}",
        "{% filter upper %}{% for i in range(9000) %}{{ 'x' * 9000 }}{% endfor %}{% endfilter %}",
        "{{ 'x'|center(1000000000) }}",
        "{{ [1]|batch(1000000000, 0)|list|length }}",
        "{{ '%999999999d'|format(1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ range(9000)|join('x' * 9000) }}",
        "{{ range(1000000)|list|length }}",
        "{% set ns = namespace(n=7) %}{% for i in range(30) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}{{ ns.n > 0 }}",
        "{% macro m(n) %}{% for i in range(9000) %}{{ n }}{% endfor %}{% endmacro %}"
        "{% for i in range(9000) %}{{ m(i)|length }}{% endfor %}",
    ],
)
def test_runaway_templates_stop_within_the_budget(body: str) -> None:
    with pytest.raises(TemplateTooCostly) as refused:
        render(body)
    assert refused.value.field == "body"
    assert "render budget" in refused.value.detail


def test_ordinary_loops_and_output_are_within_the_budget() -> None:
    body = "{% for item in items %}{{ item.name }}:{{ item.n }};{% endfor %}完"
    items = [{"name": f"商户{n}", "n": n} for n in range(200)]
    assert render(body, {"items": items}).count(";") == 200
    assert MAX_STEPS >= 10 * 200
    assert MAX_OUTPUT_CHARS >= 64 * 1024


def test_template_with_nested_loops_is_refused(client: TestClient) -> None:
    """When saved (and previewed), on both databases: 422 naming `body`, nothing stored."""
    draft = {
        "kind": "wallet.payment.succeeded",
        "channel": "inbox",
        "locale": "zh-CN",
        "title": "消费提醒",
        "body": NESTED_LOOPS,
    }
    saved = client.post("/v1/templates", json=draft)
    assert saved.status_code == 422, saved.text
    assert saved.json()["type"].endswith("/template-too-costly")
    assert saved.json()["errors"][0]["field"] == "body"
    preview = client.post("/v1/templates/preview", json=draft)
    assert preview.status_code == 422, preview.text
    listed = client.get("/v1/templates", params={"kind": "wallet.payment.succeeded"}).json()
    assert all(item["shipped"] for item in listed["items"])


def test_a_delivery_whose_render_runs_over_fails_for_good_with_the_reason(
    client: TestClient, context: AppContext
) -> None:
    """Fine on the samples, over the budget on a real event's data: that delivery fails
    permanently, the worker goes on."""
    cube = (
        "{% if rows is defined %}{% for a in rows %}{% for b in rows %}{% for c in rows %}"
        "{% endfor %}{% endfor %}{% endfor %}{% endif %}消费{{ amount|money }}"
    )
    template = {
        "kind": "wallet.payment.succeeded",
        "channel": "inbox",
        "locale": "zh-CN",
        "title": "消费提醒",
        "body": cube,
    }
    publish(client, template)
    user = create_user(client)
    event = {
        "specversion": "1.0",
        "id": "core-budget-1",
        "source": "urn:bank:core",
        "type": "wallet.payment.succeeded",
        "subject": user["id"],
        "data": {
            "amount": cny(12_800),
            "merchant": {"name": "星巴克"},
            "balance_after": cny(1_000),
            "rows": list(range(100)),
        },
    }
    assert client.post("/v1/events", json=event).status_code == 202
    dispatcher = build_dispatcher(context)
    for _ in range(5):
        relay_once(context, PlannerPolicy())
        dispatcher.run_once()
    with context.engine.connect() as conn:
        notice = conn.execute(
            select(notifications.c.id).where(
                notifications.c.user_id == user["id"],
                notifications.c.kind == "wallet.payment.succeeded",
            )
        ).scalar_one()
    deliveries = client.get(f"/v1/notifications/{notice}").json()["deliveries"]
    inbox = next(d for d in deliveries if d["channel"] == "inbox")
    assert inbox["status"] == "failed"
    assert "render budget" in inbox["reason"]


def test_a_digest_goes_out_with_the_kind_when_a_notice_runs_over_the_budget(
    client: TestClient, context: AppContext
) -> None:
    template = {
        "kind": "followup.ticket.answered",
        "channel": "inbox",
        "locale": "zh-CN",
        "title": "{% if rows is defined %}{% for a in rows %}{% for b in rows %}{% for c in rows %}"
        "{% endfor %}{% endfor %}{% endfor %}{% endif %}工单已答复",
        "body": "{{ summary }}",
    }
    publish(client, template)
    user = create_user(client)
    client.put(
        f"/v1/users/{user['id']}/preferences",
        json={"channels": {"informational": ["inbox", "sms"]}, "digest": True},
    )
    event = {
        "specversion": "1.0",
        "id": "ticket-budget",
        "source": "urn:helpdesk",
        "type": "followup.ticket.answered",
        "subject": user["id"],
        "data": {"ticket_id": "T-1", "summary": "已处理", "rows": list(range(100))},
    }
    assert client.post("/v1/events", json=event).status_code == 202
    dispatcher = build_dispatcher(context)
    for _ in range(5):
        relay_once(context, PlannerPolicy())
        dispatcher.run_once()
    context.settings.allow_time_travel = True
    evening = (context.clock.now() + timedelta(days=1)).replace(hour=13, minute=30)
    ran = client.post("/v1/jobs/notify.digests/runs", json={"as_of": evening.isoformat()})
    assert ran.status_code == 202, ran.text
    assert ran.json()["deliveries"] == 1
    lines = (Path(context.settings.var_dir) / "messages.jsonl").read_text().splitlines()
    digests = [json.loads(line) for line in lines if json.loads(line)["channel"] == "sms"]
    assert len(digests) == 1
    assert "followup.ticket.answered" in digests[0]["body"]
