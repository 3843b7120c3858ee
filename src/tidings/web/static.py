"""Our stylesheet and the vendored htmx, served with long cache lifetimes: every URL a page
names carries the file's content hash (`?v=`), so a changed file is a new URL."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).with_name("static")
PREFIX = "/static"
YEAR_SECONDS = 365 * 24 * 3600
UNVERSIONED_SECONDS = 3600


@lru_cache(maxsize=64)
def _version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """`/static/tidings.css?v=<hash>`: safe to cache for a year."""
    return f"{PREFIX}/{name}?v={_version(name)}"


class CachedStaticFiles(StaticFiles):
    """Static files with `Cache-Control`: a year (immutable) for a versioned URL, an hour
    otherwise."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            versioned = b"v=" in scope.get("query_string", b"")
            age = YEAR_SECONDS if versioned else UNVERSIONED_SECONDS
            response.headers["Cache-Control"] = f"public, max-age={age}" + (
                ", immutable" if versioned else ""
            )
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_files() -> CachedStaticFiles:
    return CachedStaticFiles(directory=STATIC)
