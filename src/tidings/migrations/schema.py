"""Every table of every domain in one MetaData (what Alembic compares migrations against)."""

from __future__ import annotations

from tidings import events
from tidings.campaigns import models as campaigns_models
from tidings.credit import models as credit_models
from tidings.feedback import models as feedback_models
from tidings.idempotency import models as idempotency_models
from tidings.insights import models as insights_models
from tidings.kit.tables import metadata
from tidings.ledger import models as ledger_models
from tidings.notify import models as notify_models
from tidings.notify.kinds import models as kinds_models
from tidings.privacy import models as privacy_models
from tidings.risk import models as risk_models
from tidings.users import models as users_models
from tidings.wallets import models as wallets_models
from tidings.web import models as web_models

__all__ = [
    "campaigns_models",
    "credit_models",
    "events",
    "feedback_models",
    "idempotency_models",
    "insights_models",
    "kinds_models",
    "ledger_models",
    "metadata",
    "notify_models",
    "privacy_models",
    "risk_models",
    "users_models",
    "wallets_models",
    "web_models",
]
