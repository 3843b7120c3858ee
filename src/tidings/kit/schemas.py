"""What every request body's shape shares: the base class, and how it names a stored row."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from tidings.kit.ids import ID_PATTERN

IdRef = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""One of our ids (`usr_01JD…`), as a body names a stored row."""


class RequestBody(BaseModel):
    """A JSON body a client sends: a field we do not know is a 422 naming it, never dropped
    in silence (a misspelt `limt` must not leave the limit unchanged)."""

    model_config = ConfigDict(extra="forbid")
