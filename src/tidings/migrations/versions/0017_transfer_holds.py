"""reserved: transfer holds (filled by the branch that needs it; empty until then)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from tidings.migrations.columns import no_schema_change

revision = "0017"
down_revision = "0016"


upgrade = downgrade = no_schema_change
