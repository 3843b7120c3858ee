"""The application factory: settings, database, keys and every domain's router, wired once."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from tidings import __version__
from tidings.api.context import JobBoard
from tidings.api.errors import install_error_handlers, problem_response
from tidings.api.guard import RequestGuardMiddleware
from tidings.api.observability import ObservabilityMiddleware
from tidings.api.openapi import install_openapi
from tidings.api.responses import FastJSONResponse
from tidings.api.strict import read_inputs_as_json
from tidings.app.context import AppContext, build_context
from tidings.app.jobs import JOBS, run_job
from tidings.app.jobs_api import router as jobs_router
from tidings.app.privacy_api import router as privacy_router
from tidings.campaigns.api import links as campaign_links_router
from tidings.campaigns.api import router as campaigns_router
from tidings.config import Settings, get_settings
from tidings.credit.api import router as credit_router
from tidings.feedback.api import router as feedback_router
from tidings.insights.api import router as insights_router
from tidings.kit.db import checkpoint_in_background, read_transaction
from tidings.kit.errors import PROBLEM_BASE
from tidings.kit.logging import configure_logging
from tidings.ledger.api import router as ledger_router
from tidings.notify.api import router as notify_router
from tidings.notify.kinds.api import router as kinds_router
from tidings.notify.templates.api import router as templates_router
from tidings.notify.unsubscribe_api import router as unsubscribe_router
from tidings.risk.api import router as risk_router
from tidings.users.api import router as users_router
from tidings.wallets.api import router as wallets_router
from tidings.web.mount import mount_pages

DESCRIPTION = """A digital wallet core with a financial notification engine at its heart.

Money is `{"value": <integer minor units>, "currency": "CNY"}`; errors are RFC 9457 problem
documents; every state-changing POST accepts an `Idempotency-Key` header.
"""

TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(context: AppContext | None = None, settings: Settings | None = None) -> FastAPI:
    context = context or build_context(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A request on a thread holds a connection: no more threads than the pool has, or
        # the extra ones would only queue for a connection inside the pool.
        threads = anyio.to_thread.current_default_thread_limiter()
        threads.total_tokens = context.settings.database_pool_size
        with checkpoint_in_background(context.engine):
            # What start-up built lives as long as the process: the collector need not
            # walk it again and again (a full collection is a pause every request waits out).
            gc.freeze()
            yield
        context.engine.dispose()

    app = FastAPI(
        title="Tidings",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if context.settings.opentelemetry else TELEMETRY_OFF,
        # No default response class: FastAPI's own fast path (the response model straight to
        # JSON bytes by pydantic) applies only without one. Writes answer with orjson.
    )
    app.state.context = context
    context.provide(
        JobBoard(names=tuple(sorted(JOBS)), run=lambda job, as_of: run_job(context, job, as_of))
    )
    install_error_handlers(app)
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=context.settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware)

    @app.get(
        "/healthz",
        tags=["operations"],
        responses={
            200: {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status", "version"],
                            "properties": {
                                "status": {"type": "string", "enum": ["ok"]},
                                "version": {"type": "string"},
                            },
                        }
                    }
                }
            },
            503: {
                "description": "The database does not answer (`unhealthy`) or a background "
                "loop keeps crashing (`loop-failing`, each failing loop in `loops`)."
            },
        },
    )
    def healthz() -> Response:
        """200 when the service, its database and this process's background loops work."""
        try:
            with read_transaction(context.engine) as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not healthy"
            return problem_response(
                {
                    "type": PROBLEM_BASE + "unhealthy",
                    "title": "Database unavailable",
                    "status": 503,
                    "detail": type(exc).__name__,
                }
            )
        failing = context.loop_health.failing()
        if failing:
            return problem_response(
                {
                    "type": PROBLEM_BASE + "loop-failing",
                    "title": "A background loop is failing",
                    "status": 503,
                    "detail": "crashing and restarted with back-off: "
                    + ", ".join(failure.loop for failure in failing),
                    "loops": [
                        {
                            "loop": failure.loop,
                            "crashes": failure.crashes,
                            "error": failure.error,
                            "retry_in_s": failure.retry_in_s,
                        }
                        for failure in failing
                    ],
                }
            )
        return FastJSONResponse({"status": "ok", "version": __version__})

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format; bind or firewall it in production."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(users_router)
    app.include_router(wallets_router)
    app.include_router(risk_router)
    app.include_router(credit_router)
    app.include_router(insights_router)
    app.include_router(ledger_router)
    app.include_router(notify_router)
    app.include_router(templates_router)
    app.include_router(unsubscribe_router)
    app.include_router(kinds_router)
    app.include_router(jobs_router)
    app.include_router(privacy_router)
    app.include_router(feedback_router)
    app.include_router(campaigns_router)
    app.include_router(campaign_links_router)
    mount_pages(app)
    # Last, so every route above (and any added later above this line) is covered.
    read_inputs_as_json(app)
    install_openapi(app)
    return app


def serving_app() -> FastAPI:
    """One `tidings serve` process: the API and the worker loops beside it (uvicorn's
    factory, so `tidings serve --processes N` starts N of them)."""
    from tidings.app.worker import attach_worker

    app = create_app(settings=_logging_configured())
    attach_worker(app)
    return app


def serving_app_without_worker() -> FastAPI:
    """One `tidings serve --no-worker` process: the API only."""
    return create_app(settings=_logging_configured())


def _logging_configured() -> Settings:
    """The settings, with this process's logs set up from them: `serve --processes N` starts
    each process afresh (uvicorn spawns them), where only the CLI's own had been set up."""
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    return settings
