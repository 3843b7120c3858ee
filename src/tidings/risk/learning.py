"""The online model in production (`TIDINGS_RISK_MODEL=true`): it scores beside the rules,
remembers what it saw, and learns outcomes as they are confirmed.

Every transfer it scores leaves an observation (the model's scale-free features, never
personal data). Outcomes come from the owner (a step-up verified with the right code: not
fraud), from operators (`PUT /v1/transfers/{id}/risk-outcome`: a confirmed fraud, a
chargeback, or a cleared alarm) and from time (money that moved and nobody reported within
`TIDINGS_RISK_MODEL_SETTLE_DAYS`: not fraud; a cancelled hold never settles). The
`risk.learn_model` job trains on them in the order they became known and saves a new version;
every process picks it up within `REFRESH_SECONDS`. The model's state is a pickle, so it is
sealed with an HMAC under a key derived from the server's look-up key and never loaded unless
the seal matches.

river is imported only where the model is in use: a process with the model off never pays
for it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import pickle
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import Connection

from tidings.kit.db import transaction_lock
from tidings.kit.tables import AnyRow
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, repository
from tidings.risk.exceptions import TransferNotScored
from tidings.risk.schemas import RiskOutcomeOut
from tidings.risk.signals import RiskAssessment, TransferSignals

if TYPE_CHECKING:
    from tidings.risk.online import OnlineRiskModel

log = structlog.get_logger(__name__)

MODEL_NAME: Final = "transfers"
REFRESH_SECONDS: Final = 30.0
LEARN_BATCH: Final = 2_000
KEEP_LEARNED: Final = timedelta(days=180)
"""Observations are kept this long, so a late correction can still be learned."""


def _signature(keyring: Keyring, state: bytes) -> str:
    return hmac.new(keyring.derive_key("risk-model"), state, hashlib.sha256).hexdigest()


def seal(keyring: Keyring, model: OnlineRiskModel) -> tuple[bytes, str]:
    state = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return state, _signature(keyring, state)


def unseal(keyring: Keyring, row: AnyRow) -> OnlineRiskModel | None:
    """The stored model, or None (logged) when its seal does not match."""
    from tidings.risk.online import OnlineRiskModel

    state = bytes(row.state)
    if not hmac.compare_digest(_signature(keyring, state), str(row.signature)):
        log.error("risk.model.seal_mismatch", name=row.name, version=row.version)
        return None
    model = pickle.loads(state)  # noqa: S301 - only state this service sealed
    return model if isinstance(model, OnlineRiskModel) else None


class ModelCache:
    """This process's copy of the latest model version, re-read when a newer one is saved
    (looked up at most every `refresh_seconds`). Scoring only reads the model, so threads
    share one copy."""

    def __init__(self, keyring: Keyring, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._keyring = keyring
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._model: OnlineRiskModel | None = None
        self._version: int | None = None
        self._checked_at = -math.inf

    def current(self, conn: Connection) -> OnlineRiskModel | None:
        if time.monotonic() - self._checked_at < self._refresh_seconds:
            return self._model  # fresh enough: no lock on the transfer path
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= self._refresh_seconds:
                self._checked_at = now
                version = repository.model_version(conn, MODEL_NAME)
                if version != self._version:
                    row = repository.get_model(conn, MODEL_NAME)
                    self._model = None if row is None else unseal(self._keyring, row)
                    self._version = version
            return self._model


def consult(
    conn: Connection,
    cache: ModelCache,
    *,
    transfer_id: str,
    user_id: str,
    signals: TransferSignals,
    assessment: RiskAssessment,
    at: datetime,
) -> RiskAssessment:
    """The rules' assessment, raised to step-up when a trained model is sure it is fraud;
    what the model saw is kept to learn the outcome later."""
    from tidings.risk.online import features, with_model

    model = cache.current(conn)
    x = features(signals, assessment)
    probability = 0.5 if model is None else model.probability_of(x)
    repository.insert_observation(
        conn,
        {
            "transfer_id": transfer_id,
            "user_id": user_id,
            "features": x,
            "probability": probability,
            "created_at": at,
        },
    )
    learned = 0 if model is None else model.outcomes_learned
    return with_model(assessment, probability, outcomes_learned=learned)


def record_verified(conn: Connection, transfer_id: str, *, at: datetime) -> None:
    """The owner entered the right code: not fraud, unless an operator already said so."""
    repository.set_outcome(
        conn, transfer_id, fraudulent=False, source="verified", at=at, only_if_unknown=True
    )


def record_outcome(
    conn: Connection, transfer_id: str, *, fraudulent: bool, at: datetime
) -> RiskOutcomeOut:
    """An operator's confirmed outcome; a changed one is learned again."""
    row = repository.set_outcome(
        conn, transfer_id, fraudulent=fraudulent, source="operator", at=at, only_if_unknown=False
    )
    if row is None:
        raise TransferNotScored(
            f"transfer {transfer_id} was not scored by the online model", field="transfer_id"
        )
    audit.record(
        conn,
        action="risk.outcome",
        actor="operator",
        user_id=row.user_id,
        subject_id=transfer_id,
        at=at,
        detail={"fraudulent": fraudulent},
    )
    return RiskOutcomeOut(
        transfer_id=row.transfer_id,
        fraudulent=bool(row.fraudulent),
        source=row.outcome_source,
        recorded_at=row.outcome_at,
        probability=round(float(row.probability), 4),
    )


def learn_batch(
    conn: Connection, keyring: Keyring, *, as_of: datetime, settle_after: timedelta
) -> int:
    """Train on up to `LEARN_BATCH` outcomes and save the next version; how many it learned."""
    _lock_model(conn)
    rows = repository.observations_to_learn(
        conn, settled_before=as_of - settle_after, limit=LEARN_BATCH
    )
    if not rows:
        return 0
    from tidings.risk.online import OnlineRiskModel

    stored = repository.get_model(conn, MODEL_NAME)
    model = None if stored is None else unseal(keyring, stored)
    if model is None:
        model = OnlineRiskModel()
    for row in rows:
        model.learn_features(dict(row.features), fraudulent=bool(row.fraudulent))
    repository.mark_learned(conn, [row.transfer_id for row in rows], at=as_of)
    version = 1 if stored is None else int(stored.version) + 1
    _save(conn, keyring, model, version=version, at=as_of)
    return len(rows)


def install_model(
    conn: Connection, keyring: Keyring, model: OnlineRiskModel, *, at: datetime
) -> int:
    """Save `model` as the next version (one trained elsewhere, e.g. on history); its number."""
    _lock_model(conn)
    version = (repository.model_version(conn, MODEL_NAME) or 0) + 1
    _save(conn, keyring, model, version=version, at=at)
    return version


def _lock_model(conn: Connection) -> None:
    """One writer of the model at a time, so no version is lost to a race."""
    transaction_lock(conn, f"risk.model.{MODEL_NAME}")


def _save(
    conn: Connection, keyring: Keyring, model: OnlineRiskModel, *, version: int, at: datetime
) -> None:
    state, signature = seal(keyring, model)
    repository.save_model(
        conn,
        {
            "name": MODEL_NAME,
            "state": state,
            "signature": signature,
            "outcomes_learned": model.outcomes_learned,
            "version": version,
            "updated_at": at,
        },
    )


def forget_old(conn: Connection, *, as_of: datetime) -> int:
    return repository.forget_observations(conn, before=as_of - KEEP_LEARNED)
