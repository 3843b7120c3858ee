"""Errors of the users domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound


class UserNotFound(NotFound):
    """No such user, or not one the caller may see."""

    code = "user-not-found"


class ExternalIdTaken(Conflict):
    """Another user already has this external id."""

    code = "external-id-taken"
    title = "External id already in use"
