"""Your data (`/app/privacy`): every grant and withdrawal of consent (marketing per channel,
personalisation), with when, how and by whom, and a download of everything we hold about the
reader (`/app/privacy/export`, served by the composition root, which reads every domain)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tidings.kit.db import read_transaction
from tidings.notify import preferences
from tidings.web.i18n import gettext_noop
from tidings.web.visit import UserVisit

router = APIRouter(prefix="/app", include_in_schema=False)

PURPOSES: dict[str, str] = {
    "marketing": gettext_noop("Offers"),
    "personalisation": gettext_noop("Personalised suggestions"),
    "unsubscribe": gettext_noop("Offers"),
}
METHODS: dict[str, str] = {
    "api": gettext_noop("In the app"),
    "unsubscribe_link": gettext_noop("With the unsubscribe link"),
    "sms_reply": gettext_noop("By text reply"),
    "console": gettext_noop("By customer service"),
    "import": gettext_noop("Brought over from an earlier system"),
}
ALL_CHANNELS = gettext_noop("All channels")
YOU = gettext_noop("You")
SERVICE = gettext_noop("Customer service")


@router.get("/privacy")
def privacy_page(visit: UserVisit) -> Response:
    with read_transaction(visit.context.engine) as conn:
        history = preferences.consent_history(conn, visit.user_id)
    return visit.render(
        "app/privacy.html",
        history=history,
        purposes=PURPOSES,
        methods=METHODS,
        all_channels=ALL_CHANNELS,
        you=YOU,
        service=SERVICE,
        active="privacy",
    )
