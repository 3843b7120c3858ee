"""Wires the pages into the app: routers, static files, HTML error pages."""

from __future__ import annotations

from fastapi import FastAPI

from tidings.web.api import router as web_links_router
from tidings.web.errors import install_page_errors
from tidings.web.pages.console import router as console_router
from tidings.web.pages.feedback import router as feedback_router
from tidings.web.pages.inbox import router as inbox_router
from tidings.web.pages.preferences import router as preferences_router
from tidings.web.pages.privacy import router as privacy_router
from tidings.web.pages.public import router as public_router
from tidings.web.pages.signin import router as signin_router
from tidings.web.pages.wallet import router as wallet_router
from tidings.web.static import PREFIX, static_files


def mount_pages(app: FastAPI) -> None:
    """Add the pages and `POST /v1/users/{user_id}/web-links` to `app` (after its error
    handlers, which the pages' own wrap)."""
    app.include_router(web_links_router)
    for router in (
        public_router,
        signin_router,
        inbox_router,
        wallet_router,
        preferences_router,
        privacy_router,
        feedback_router,
        console_router,
    ):
        app.include_router(router)
    app.mount(PREFIX, static_files(), name="static")
    install_page_errors(app)
