"""Delivery health (`/console/`, the console's first page): what was sent, failed and retried
per channel and provider, each provider's circuit breaker, the backlog and latency, with a
chart of the last day. htmx refreshes the figures in place while the operator watches."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from starlette.responses import Response

from tidings.kit.db import read_transaction
from tidings.notify.channels.failover import BreakerState
from tidings.notify.types import ChannelName
from tidings.web.console.delivery_stats import DeliveryHealth, delivery_health
from tidings.web.console.hour_chart import HourChart, hour_chart
from tidings.web.console.operator import Console

router = APIRouter(prefix="/console", include_in_schema=False)

REFRESH_SECONDS = 15


@dataclass(frozen=True, slots=True)
class ProviderBreaker:
    channel: ChannelName
    provider: str
    state: BreakerState | None


@dataclass(frozen=True, slots=True)
class HealthView:
    health: DeliveryHealth
    chart: HourChart
    breakers: list[ProviderBreaker]
    """Empty when this process does not dispatch (`--no-worker`, or not started yet)."""


@router.get("/")
def delivery_health_page(console: Console, live: bool = True) -> Response:
    """`?live=false` stops the refreshing (reading a table while it changes is hard)."""
    visit = console.visit
    context = visit.context
    with read_transaction(context.engine) as conn:
        health = delivery_health(conn, at=context.clock.now())
    breakers = [
        ProviderBreaker(
            channel=ChannelName(state.channel),
            provider=state.provider,
            state=BreakerState(state.breaker) if state.breaker is not None else None,
        )
        for state in context.providers.states()
    ]
    view = HealthView(
        health=health, chart=hour_chart(health.hours, visit.timezone), breakers=breakers
    )
    template = "console/_health.html" if visit.htmx else "console/health.html"
    return console.render(
        template, view=view, live=live, refresh_seconds=REFRESH_SECONDS, active="health"
    )
