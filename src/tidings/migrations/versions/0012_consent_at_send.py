"""consent checked at send time, periodic de-duplication keys carry their period

No schema change is needed: the send-time check reads the consent ledger and the deliveries
through existing indexes, the cancellation on withdrawal is one UPDATE on
`ix_deliveries_user_id_channel_id`, and the new keys of periodic notices differ in form from
the old ones, so no stored key has to be rewritten.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from tidings.migrations.columns import no_schema_change

revision = "0012"
down_revision = "0011"


upgrade = downgrade = no_schema_change
