"""Errors of campaigns, rendered as problem+json by the one handler."""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound


class CampaignNotFound(NotFound, code="campaign-not-found"):
    """No such campaign."""


class CampaignNotDraft(
    Conflict, code="campaign-not-draft", title="The campaign is no longer a draft"
):
    """Only a draft may be edited or launched: a launched campaign has a frozen audience."""


class CampaignFinished(
    Conflict, code="campaign-finished", title="The campaign has already finished"
):
    """Sent or cancelled: nothing more to stop."""
