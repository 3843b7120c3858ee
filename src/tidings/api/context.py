"""What the HTTP toolkit and every router may use, wired once at start-up by `tidings.app`.

It names no domain: what only one domain needs (the risk model of this process) is a
component the composition root provides and that domain asks for by its type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection

from tidings.api.throttle import FailedAuthThrottle
from tidings.config import Settings
from tidings.kit.clock import Clock, SystemClock
from tidings.kit.health import LoopHealth, ProviderBoard
from tidings.privacy.crypto import Keyring

ComponentT = TypeVar("ComponentT")


class TokenLookup(Protocol):
    """The user a bearer token belongs to, if it is valid at `at` (None otherwise)."""

    def __call__(self, conn: Connection, token: str, *, at: datetime) -> str | None: ...


@dataclass(frozen=True, slots=True)
class JobBoard:
    """The periodic jobs this process can run by name, filled by the composition root, so a
    face (the console) runs one for a past moment without importing the root."""

    names: tuple[str, ...]
    run: Callable[[str, datetime | None], dict[str, Any]]
    """Run the named job as of a moment (None: now); raises the registry's `AppError`s."""


class MissingComponent(LookupError):
    """A router asked for a component the composition root did not provide (a wiring bug)."""


@dataclass
class ApiContext:
    settings: Settings
    engine: Engine
    keyring: Keyring
    user_for_token: TokenLookup
    """How `Authorization: Bearer tdu_…` finds its user (the users domain's look-up)."""
    clock: Clock = field(default_factory=SystemClock)
    loop_health: LoopHealth = field(default_factory=LoopHealth)
    """The background loops of this process that are crashing (reported by `/healthz`)."""
    providers: ProviderBoard = field(default_factory=ProviderBoard)
    """The providers this process's dispatcher sends through and their circuit breakers."""
    auth_throttle: FailedAuthThrottle = field(init=False)
    """Failed authentications per client address (counted in the database)."""
    _components: dict[type[object], object] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.auth_throttle = FailedAuthThrottle(
            limit=self.settings.auth_failure_limit,
            window_seconds=self.settings.auth_failure_window_seconds,
        )

    def provide(self, component: object) -> None:
        """Make `component` the one of its type in this process (set at start-up)."""
        self._components[type(component)] = component

    def component(self, kind: type[ComponentT]) -> ComponentT:
        """The component of type `kind` that the composition root provided."""
        found = self._components.get(kind)
        if not isinstance(found, kind):
            raise MissingComponent(f"no {kind.__name__} was provided at start-up")
        return found


async def get_context(request: HTTPConnection) -> ApiContext:
    """Async on purpose: FastAPI runs sync dependencies on a thread, a hop per request."""
    context: ApiContext = request.app.state.context
    return context
