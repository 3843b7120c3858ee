"""Errors of campaigns, rendered as problem+json by the one handler."""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound


class CampaignNotFound(NotFound):
    code = "campaign-not-found"


class CampaignNotDraft(Conflict):
    """Only a draft may be edited or launched: a launched campaign has a frozen audience."""

    code = "campaign-not-draft"
    title = "The campaign is no longer a draft"


class CampaignFinished(Conflict):
    code = "campaign-finished"
    title = "The campaign has already finished"
