"""What every request needs, wired once at start-up (the one bootstrap place)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from tidings.api.throttle import FailedAuthThrottle
from tidings.config import Settings, resolve_data_key, resolve_lookup_key
from tidings.kit.clock import Clock, SystemClock
from tidings.kit.db import make_engine
from tidings.kit.health import LoopHealth, ProviderBoard
from tidings.privacy.crypto import Keyring
from tidings.risk.learning import ModelCache


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    keyring: Keyring
    clock: Clock = field(default_factory=SystemClock)
    loop_health: LoopHealth = field(default_factory=LoopHealth)
    """The background loops of this process that are crashing (reported by `/healthz`)."""
    providers: ProviderBoard = field(default_factory=ProviderBoard)
    """The providers this process's dispatcher sends through and their circuit breakers."""
    risk_model: ModelCache = field(init=False)
    """The online risk model's latest version in this process (used when it is turned on)."""
    auth_throttle: FailedAuthThrottle = field(init=False)
    """Failed authentications per client address (counted in the database)."""

    def __post_init__(self) -> None:
        self.risk_model = ModelCache(self.keyring)
        self.auth_throttle = FailedAuthThrottle(
            limit=self.settings.auth_failure_limit,
            window_seconds=self.settings.auth_failure_window_seconds,
        )

    def user_defaults(self) -> dict[str, Any]:
        """Settings that fill what a new user's request leaves out."""
        return {
            "default_locale": self.settings.default_locale,
            "default_timezone": self.settings.default_timezone,
            "default_currency": self.settings.default_currency,
            "default_low_balance": self.settings.low_balance_threshold,
        }


def build_context(settings: Settings, *, clock: Clock | None = None) -> AppContext:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    keyring = Keyring.from_specs(
        data_key_spec=resolve_data_key(settings), lookup_key_b64=resolve_lookup_key(settings)
    )
    return AppContext(
        settings=settings,
        engine=make_engine(settings.database_url),
        keyring=keyring,
        clock=clock or SystemClock(),
    )


async def get_context(request: HTTPConnection) -> AppContext:
    """Async on purpose: FastAPI runs sync dependencies on a thread, a hop per request."""
    context: AppContext = request.app.state.context
    return context
