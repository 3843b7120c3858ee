"""Signing in to the pages with a one-time link, and what keeps a session safe."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, select

from tests.helpers import create_user
from tests.web.conftest import Reader, browser_for, sign_in, web_link
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.kit.clock import FixedClock


def _cookie(set_cookie: str) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    return jar


def test_only_an_operator_makes_a_sign_in_link(client: TestClient) -> None:
    user = create_user(client)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    own = client.post(
        f"/v1/users/{user['id']}/web-links", headers={"Authorization": f"Bearer {token}"}
    )
    assert own.status_code == 403
    assert own.headers["content-type"].startswith("application/problem+json")
    anonymous = browser_for(client).post(f"/v1/users/{user['id']}/web-links")
    assert anonymous.status_code == 401
    missing = client.post("/v1/users/usr_01JD0000000000000000000000/web-links")
    assert missing.status_code == 404


def test_another_users_token_makes_no_link_for_them_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    victim = create_user(client)
    intruder = create_user(client)
    token = client.post(f"/v1/users/{intruder['id']}/tokens").json()["token"]
    refused = client.post(
        f"/v1/users/{victim['id']}/web-links",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "steal-1"},
    )
    assert refused.status_code == 403
    stored = MetaData()
    stored.reflect(engine, only=["web_links"])
    with engine.connect() as conn:
        assert conn.execute(select(stored.tables["web_links"])).all() == []


def test_a_malformed_idempotency_key_is_named_and_makes_no_link(
    client: TestClient, engine: Engine
) -> None:
    user = create_user(client)
    answer = client.post(
        f"/v1/users/{user['id']}/web-links", headers={"Idempotency-Key": "has space"}
    )
    assert answer.status_code == 422
    assert "Idempotency-Key" in answer.text
    stored = MetaData()
    stored.reflect(engine, only=["web_links"])
    with engine.connect() as conn:
        assert conn.execute(select(stored.tables["web_links"])).all() == []


def test_a_link_is_absolute_from_the_public_url_and_lasts_ten_minutes(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client)
    answer = client.post(f"/v1/users/{user['id']}/web-links").json()
    assert answer["url"].startswith("http://127.0.0.1:8000/app/login?token=twl_")
    assert answer["expires_at"] == (clock.at + timedelta(minutes=10)).isoformat().replace(
        "+00:00", "Z"
    )


def test_a_repeated_idempotency_key_shows_the_same_link_again(client: TestClient) -> None:
    user = create_user(client)
    path = f"/v1/users/{user['id']}/web-links"
    first = client.post(path, headers={"Idempotency-Key": "link-1"})
    again = client.post(path, headers={"Idempotency-Key": "link-1"})
    other = client.post(path, headers={"Idempotency-Key": "link-2"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other.json()["url"] != first.json()["url"]


def test_a_link_signs_in_once_and_the_token_leaves_the_address_bar(client: TestClient) -> None:
    user = create_user(client)
    link = web_link(client, user["id"])
    browser = browser_for(client)
    opened = browser.get(link)
    assert opened.status_code == 303
    assert opened.headers["location"] == "/app/"
    assert browser.get("/app/").status_code == 200

    again = browser_for(client).get(link)
    assert again.status_code == 410
    assert "这个链接已经用过了" in again.text
    assert "Traceback" not in again.text


def test_an_expired_link_is_refused_in_the_users_language(
    client: TestClient, clock: FixedClock
) -> None:
    user = create_user(client, locale="en-GB")
    link = web_link(client, user["id"])
    clock.at += timedelta(minutes=10, seconds=1)
    refused = browser_for(client).get(link)
    assert refused.status_code == 410
    assert '<html lang="en">' in refused.text
    assert "this one is older" in refused.text
    assert "tidings_session" not in refused.headers.get("set-cookie", "")


def test_a_link_that_is_not_ours_is_a_clear_page(client: TestClient) -> None:
    browser = browser_for(client)
    for token in ("twl_made-up", "", "x" * 500):
        refused = browser.get("/app/login", params={"token": token})
        assert refused.status_code == 400
        assert "不是我们生成的" in refused.text


def test_tokens_and_sessions_are_stored_only_as_hashes(client: TestClient, engine: Engine) -> None:
    user = create_user(client)
    link = web_link(client, user["id"], **{"Idempotency-Key": "hashed-1"})
    token = link.split("token=", 1)[1]
    browser = browser_for(client)
    session = _cookie(browser.get(link).headers["set-cookie"])["tidings_session"].value
    stored = MetaData()
    stored.reflect(engine)
    with engine.connect() as conn:
        everything = " ".join(
            str(row) for table in stored.sorted_tables for row in conn.execute(select(table))
        )
    assert token not in everything
    assert session not in everything


def test_the_session_cookie_is_httponly_lax_and_only_for_the_users_pages(
    client: TestClient,
) -> None:
    user = create_user(client)
    opened = browser_for(client).get(web_link(client, user["id"]))
    cookie = _cookie(opened.headers["set-cookie"])["tidings_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/app"
    assert cookie["max-age"] == str(12 * 3600)
    assert not cookie["secure"]  # served over http here


def test_the_session_cookie_is_secure_when_the_public_url_is_https(
    context: AppContext, settings: Settings
) -> None:
    secured = settings.model_copy(update={"public_url": "https://wallet.example.com"})
    app = create_app(AppContext(settings=secured, engine=context.engine, keyring=context.keyring))
    admin_key = settings.admin_key
    assert isinstance(admin_key, SecretStr)
    operator = TestClient(app, headers={"Authorization": f"Bearer {admin_key.get_secret_value()}"})
    user = create_user(operator)
    url = operator.post(f"/v1/users/{user['id']}/web-links").json()["url"]
    assert url.startswith("https://wallet.example.com/app/login?token=")
    opened = TestClient(app, follow_redirects=False).get(url[url.index("/app/") :])
    assert _cookie(opened.headers["set-cookie"])["tidings_session"]["secure"] is True


def test_a_session_ends_after_its_hours(client: TestClient, clock: FixedClock) -> None:
    user = create_user(client)
    browser = browser_for(client)
    sign_in(client, browser, user["id"])
    clock.at += timedelta(hours=12)
    ended = browser.get("/app/")
    assert ended.status_code == 401
    assert "登录已失效" in ended.text


def test_signing_out_ends_the_session(reader: Reader) -> None:
    token = reader.csrf()
    out = reader.browser.post("/app/logout", data={"csrf_token": token})
    assert out.status_code == 200
    assert "您已退出登录" in out.text
    assert reader.browser.get("/app/").status_code == 401


def test_revoking_the_users_token_signs_their_pages_out(
    clock: FixedClock, client: TestClient, reader: Reader
) -> None:
    user_id = reader.user["id"]
    token = client.post(f"/v1/users/{user_id}/tokens").json()
    clock.at += timedelta(minutes=1)
    assert reader.browser.get("/app/").status_code == 200
    revoked = client.delete(f"/v1/users/{user_id}/tokens/{token['id']}")
    assert revoked.status_code == 204
    assert reader.browser.get("/app/").status_code == 401
    clock.at += timedelta(seconds=1)
    sign_in(client, reader.browser, user_id)  # a new link after the revocation works
    assert reader.browser.get("/app/").status_code == 200


def test_no_session_is_the_session_ended_page(client: TestClient) -> None:
    page = browser_for(client).get("/app/")
    assert page.status_code == 401
    assert "请从App重新打开" in page.text
