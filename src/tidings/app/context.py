"""The context of this process with every domain wired in (the one bootstrap place)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tidings.api.context import ApiContext, TokenLookup
from tidings.config import Settings, resolve_data_key, resolve_lookup_key
from tidings.kit.clock import Clock, SystemClock
from tidings.kit.db import make_engine
from tidings.privacy.crypto import Keyring
from tidings.risk.learning import ModelCache
from tidings.users import service as users
from tidings.users.service import UserDefaults, user_defaults


@dataclass
class AppContext(ApiContext):
    """The toolkit's context with the real adapters: user tokens looked up by `users`, the
    online risk model's cache provided for the routers that score transfers."""

    user_for_token: TokenLookup = field(default=users.user_for_token)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.provide(ModelCache(self.keyring))

    @property
    def risk_model(self) -> ModelCache:
        """The online risk model's latest version in this process (used when it is turned on)."""
        return self.component(ModelCache)

    @risk_model.setter
    def risk_model(self, model: ModelCache) -> None:
        self.provide(model)

    def user_defaults(self) -> UserDefaults:
        """Settings that fill what a new user's request leaves out."""
        return user_defaults(self.settings)


Loop = Callable[[AppContext, threading.Event], None]
"""A background loop: runs until the event is set; it owns its own transactions."""


def build_context(settings: Settings, *, clock: Clock | None = None) -> AppContext:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    keyring = Keyring.from_specs(
        data_key_spec=resolve_data_key(settings), lookup_key_b64=resolve_lookup_key(settings)
    )
    return AppContext(
        settings=settings,
        engine=make_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            busy_timeout_s=settings.database_busy_timeout_seconds,
        ),
        keyring=keyring,
        clock=clock or SystemClock(),
    )
