"""Pages anyone may open: the front page and `/verify`, where a message is checked."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tidings.api.ratelimit import enforce_rate_limit
from tidings.kit.db import read_transaction
from tidings.notify.delivery import authenticity
from tidings.notify.schemas import VerifyIn
from tidings.web.i18n import gettext_noop
from tidings.web.visit import PublicForm, PublicVisit

router = APIRouter(include_in_schema=False)

MESSAGE_FIELD = "message"
MAX_MESSAGE_CHARS = 2000  # as VerifyIn allows
_EMPTY = gettext_noop("Paste the whole message you received.")
_TOO_LONG = gettext_noop("This is longer than any message we send (at most 2000 characters).")


@router.get("/")
def front_page(visit: PublicVisit) -> Response:
    return visit.render("home.html")


@router.get("/verify")
def verify_form(visit: PublicVisit) -> Response:
    return visit.render("verify.html", message="", error=None, result=None)


@router.post("/verify")
def verify_message(visit: PublicVisit, form: PublicForm) -> Response:
    """The same check as `POST /v1/messages/verify`, limited per client address."""
    context = visit.context
    message = (form.get(MESSAGE_FIELD) or "").strip()
    error = _EMPTY if not message else _TOO_LONG if len(message) > MAX_MESSAGE_CHARS else None
    if error is not None:
        return visit.render(
            "verify.html", status_code=422, message=message, error=error, result=None
        )
    enforce_rate_limit(
        context,
        scope="verify-page",
        limits={
            context.auth_throttle.key(context.keyring, visit.request): (
                context.settings.web_verify_rate_limit
            )
        },
        window_seconds=context.settings.web_verify_rate_window_seconds,
    )
    checked = VerifyIn(text=message)
    with read_transaction(context.engine) as conn:
        result = authenticity.verify(conn, text=checked.text, code=None)
    return visit.render("verify.html", message=message, error=None, result=result)
