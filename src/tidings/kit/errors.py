"""The exception tree every domain raises; one handler renders it as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://tidings.dev/problems/"


class AppError(Exception):
    """A failure the caller can act on; never a 500."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        """A domain error names its problem in its class line:
        `class WalletClosed(Unprocessable, code="wallet-closed", title="Wallet closed")`;
        what it leaves out it inherits."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["errors"] = [{"field": self.field, "message": self.detail}]
        body.update(self.extra)
        return body

    def headers(self) -> dict[str, str] | None:
        """HTTP headers the status calls for (a challenge, a retry time)."""
        return None


class NotFound(AppError, status=404, code="not-found", title="Not found"):
    """The thing does not exist, or the caller may not see it (same answer, on purpose)."""


class Unauthorized(AppError):
    """No valid credentials; the answer names the scheme to use (RFC 9110 §11.6.1, RFC 6750)."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str, *, token_presented: bool = False, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.token_presented = token_presented

    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="tidings"'
        if self.token_presented:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


class Forbidden(AppError, status=403, code="forbidden", title="Forbidden"):
    """Valid credentials without the right to do this."""


class Conflict(AppError, status=409, code="conflict", title="Conflict"):
    """The request clashes with the current state."""


class UnsupportedMediaType(
    AppError, status=415, code="unsupported-media-type", title="Unsupported media type"
):
    """A body in a media type we do not read (every body we read is JSON)."""


class MalformedJson(AppError, code="malformed-json", title="Malformed JSON"):
    """A body that does not parse as the JSON its media type promises."""


class Unprocessable(AppError, status=422, code="unprocessable", title="Unprocessable request"):
    """Well-formed but not acceptable in the current state (business rule)."""


class RateLimited(AppError):
    """Too many requests of one kind for one user or client; retry after `retry_after` s."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail, retry_after=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}
