"""One rule for who may see a row: its own user, or an operator (who acts as no user)."""

from __future__ import annotations

from typing import Protocol, TypeVar

from tidings.kit.errors import AppError


class OwnedRow(Protocol):
    """Any row that belongs to one user."""

    @property
    def user_id(self) -> str: ...


RowT = TypeVar("RowT", bound=OwnedRow)


def is_visible(row: OwnedRow | None, acting_user_id: str | None) -> bool:
    """An operator (`acting_user_id` None) sees every row; a user sees only their own."""
    return row is not None and (acting_user_id is None or row.user_id == acting_user_id)


def visible_or_raise(row: RowT | None, acting_user_id: str | None, not_found: AppError) -> RowT:
    """The row, or `not_found` raised: another user's row and a missing row look the same,
    so a stranger learns nothing from the answer (a 404, never a 403)."""
    if row is None or not is_visible(row, acting_user_id):
        raise not_found
    return row
