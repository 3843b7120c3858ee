"""What keeps the pages safe in a browser: response headers (a strict Content-Security-Policy,
framing only by whom the company allows), session cookies and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from tidings.config import Settings
from tidings.privacy.crypto import Keyring

USER_COOKIE = "tidings_session"
OPERATOR_COOKIE = "tidings_console"
FORM_COOKIE = "tidings_csrf"
"""A random value that seeds the CSRF token of forms shown before any sign-in."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def security_headers(settings: Settings) -> dict[str, str]:
    """Headers of every HTML page: no inline script or style, no referrer, no caching."""
    ancestors = settings.web_frame_ancestors.strip()
    headers = {
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"object-src 'none'; frame-ancestors {ancestors}",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    # Old browsers know only X-Frame-Options, which cannot name other sites.
    legacy = {"'none'": "DENY", "'self'": "SAMEORIGIN"}.get(ancestors)
    if legacy is not None:
        headers["X-Frame-Options"] = legacy
    return headers


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How our cookies are set: never readable by scripts, Secure when served over https."""

    secure: bool

    @classmethod
    def of(cls, settings: Settings) -> CookiePolicy:
        return cls(secure=settings.public_base_url.startswith("https://"))


def csrf_token(keyring: Keyring, seed: str) -> str:
    """The token forms must send back: a keyed hash of the session (or form cookie), so it
    needs no storage and a page from another site cannot know it."""
    digest = hmac.new(keyring.derive_key("web-csrf"), seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(keyring: Keyring, seed: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        csrf_token(keyring, seed).encode(), presented.encode()
    )
