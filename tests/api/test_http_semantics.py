"""HTTP as RFC 9110 and RFC 6750 say: a 401 names the scheme, a 405 lists every method the
resource has, and an `about:blank` problem's title is the status phrase."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY
from tests.helpers import create_user


def test_401_without_credentials_challenges_for_a_bearer_token(client: TestClient) -> None:
    response = client.get("/v1/ledger/trial-balance", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tidings"'


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer   ", f"Basic {ADMIN_KEY}", ADMIN_KEY, f"Bearer{ADMIN_KEY}"]
)
def test_anything_but_a_bearer_token_is_401_without_credentials(
    client: TestClient, authorization: str
) -> None:
    """Read as RFC 6750 (and FastAPI's `HTTPBearer`) reads the header, on reads and writes."""
    for response in (
        client.get("/v1/ledger/trial-balance", headers={"Authorization": authorization}),
        client.post("/v1/users", json={}, headers={"Authorization": authorization}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="tidings"'


def test_the_caller_is_authenticated_before_the_idempotency_key_is_checked(
    client: TestClient,
) -> None:
    bad_key = {"Idempotency-Key": "not a key"}
    unauthenticated = client.post("/v1/users", json={}, headers={"Authorization": "", **bad_key})
    assert unauthenticated.status_code == 401
    authenticated = client.post("/v1/users", json={}, headers=bad_key)
    assert authenticated.status_code == 422
    assert {
        "field": "Idempotency-Key",
        "message": "String should match pattern '^[\\x21-\\x7e]+$'",
    } in authenticated.json()["errors"]


def test_the_scheme_is_read_in_any_case_and_the_token_trimmed(client: TestClient) -> None:
    response = client.get(
        "/v1/ledger/trial-balance", headers={"Authorization": f"bEaReR  {ADMIN_KEY} "}
    )
    assert response.status_code == 200


def test_401_with_a_bad_token_says_the_token_is_invalid(client: TestClient) -> None:
    response = client.get(
        "/v1/ledger/trial-balance", headers={"Authorization": "Bearer tdu_not-a-real-token"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tidings", error="invalid_token"'
    assert response.headers["content-type"] == "application/problem+json"


def test_405_lists_every_method_of_the_resource(client: TestClient) -> None:
    user = create_user(client)
    response = client.delete(f"/v1/users/{user['id']}/preferences")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, PUT"
    assert response.json()["title"] == "Method Not Allowed"


def test_about_blank_problem_title_is_the_status_phrase(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
