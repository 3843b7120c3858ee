"""The base every request body's shape shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """A JSON body a client sends: a field we do not know is a 422 naming it, never dropped
    in silence (a misspelt `limt` must not leave the limit unchanged)."""

    model_config = ConfigDict(extra="forbid")
