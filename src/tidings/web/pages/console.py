"""The operator console (`/console/`): its pages live in `tidings.web.console`, one module
per area; this router gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.web.console.campaigns import router as campaigns_router
from tidings.web.console.feedback import router as feedback_router
from tidings.web.console.health import router as health_router
from tidings.web.console.jobs import router as jobs_router
from tidings.web.console.message_templates import router as templates_router
from tidings.web.console.notifications import router as notifications_router
from tidings.web.console.users import router as users_router

router = APIRouter(include_in_schema=False)
for area in (
    health_router,
    notifications_router,
    templates_router,
    users_router,
    jobs_router,
    feedback_router,
    campaigns_router,
    jobs_router,
):
    router.include_router(area)
