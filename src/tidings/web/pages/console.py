"""The operator console (`/console/`): its pages are built on this router."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tidings.web.visit import OperatorVisit

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/")
def console_home(visit: OperatorVisit) -> Response:
    return visit.render("console/home.html", active="console")
