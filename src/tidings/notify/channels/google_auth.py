"""OAuth2 access tokens for FCM minted from a Google service account (RFC 7523 JWT bearer).

FCM HTTP v1 takes only short-lived access tokens (one hour), so a pasted token stops push
after an hour in production. Given the service account's JSON key, this signs a JWT
assertion with its RSA key (RS256), trades it at the account's `token_uri` for an access
token, and keeps that token until five minutes before it expires. No Google SDK needed:
the protocol is one signed JWT and one form POST.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tidings.notify.channels._http import WallClock, json_body, post, utc_now
from tidings.notify.types import TransientChannelError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = timedelta(hours=1)
"""Google's maximum for an assertion."""
REFRESH_MARGIN = timedelta(minutes=5)


class ServiceAccount(BaseModel):
    """The fields of a Google service-account JSON key file that minting needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client_email: str = Field(min_length=3)
    private_key: SecretStr
    private_key_id: str | None = None
    token_uri: str = Field(default=GOOGLE_TOKEN_URI, pattern=r"^https?://")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_assertion(account: ServiceAccount, *, scope: str, now: datetime) -> str:
    """The RS256 JWT that asks `token_uri` for an access token for `scope`."""
    key = serialization.load_pem_private_key(
        account.private_key.get_secret_value().encode("utf-8"), password=None
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a service account's private_key is an RSA key")
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    issued = int(now.timestamp())
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": issued,
        "exp": issued + int(ASSERTION_LIFETIME.total_seconds()),
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


class ServiceAccountTokens:
    """A thread-safe source of valid access tokens; the dispatcher's concurrent sends share
    one token and one refresh."""

    def __init__(
        self,
        account: ServiceAccount,
        *,
        client: httpx.Client,
        provider: str,
        scope: str = FCM_SCOPE,
        clock: WallClock = utc_now,
    ) -> None:
        self._account = account
        self._client = client
        self._provider = provider
        self._scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = datetime.min.replace(tzinfo=clock().tzinfo)

    def __call__(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - REFRESH_MARGIN:
                self._token, self._expires_at = self._mint(now)
            return self._token

    def invalidate(self) -> None:
        """Forget the token (the API answered 401: revoked or rotated early)."""
        with self._lock:
            self._token = None

    def _mint(self, now: datetime) -> tuple[str, datetime]:
        assertion = signed_assertion(self._account, scope=self._scope, now=now)
        response = post(
            self._client,
            provider=self._provider,
            url=self._account.token_uri,
            data={"grant_type": JWT_BEARER, "assertion": assertion},
        )
        payload = json_body(response)
        token = payload.get("access_token")
        if response.status_code != 200 or not isinstance(token, str):
            # Without a token nothing can be sent; another provider may still carry it.
            reason = payload.get("error", "")
            raise TransientChannelError(
                f"token endpoint answered HTTP {response.status_code} {reason}".rstrip(),
                provider=self._provider,
                status=response.status_code,
            )
        lifetime = payload.get("expires_in", 3600)
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        return token, now + timedelta(seconds=seconds)
