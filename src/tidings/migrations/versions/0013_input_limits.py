"""failed-authentication throttle and other input limits

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from tidings.migrations.columns import no_schema_change

revision = "0013"
down_revision = "0012"


upgrade = downgrade = no_schema_change
