"""API shapes of sign-in links."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class WebLinkOut(BaseModel):
    """A one-time sign-in link to the user's pages."""

    url: str = Field(
        description="`<TIDINGS_PUBLIC_URL>/app/login?token=…`: opens the user's pages once.",
        examples=["https://wallet.example.com/app/login?token=twl_…"],
    )
    expires_at: datetime = Field(description="Unused by then, the link no longer signs in.")


class WebLinkIssued(BaseModel):
    """A link as remembered for `Idempotency-Key` replays: its id, never its token."""

    id: str
    expires_at: datetime
