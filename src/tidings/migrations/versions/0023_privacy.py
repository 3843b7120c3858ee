"""reserved: privacy (filled by the branch that needs it; empty until then)

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
