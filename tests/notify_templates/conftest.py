"""The operator client, with the templates router mounted if the app does not mount it yet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.notify.templates.api import router


@pytest.fixture
def client(context: AppContext) -> Iterator[TestClient]:
    """An HTTP client of the real app, authenticated as the operator alice."""
    app = create_app(context)
    mounted = {route.path for route in app.routes if isinstance(route, APIRoute)}
    if "/v1/templates" not in mounted:
        app.include_router(router)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Operator": "alice"}
    with TestClient(app, headers=headers) as test_client:
        yield test_client
