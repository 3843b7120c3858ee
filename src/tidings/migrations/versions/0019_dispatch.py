"""reserved: dispatch (filled by the branch that needs it; empty until then)

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from tidings.migrations.columns import no_schema_change

revision = "0019"
down_revision = "0018"


upgrade = downgrade = no_schema_change
