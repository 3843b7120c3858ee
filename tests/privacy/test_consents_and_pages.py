"""Consent history (marketing per channel, personalisation) in the API and on the user
pages, and the export as a download from the pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from tests.privacy.conftest import Person, make_person
from tests.web.conftest import browser_for, sign_in
from tidings.app.context import AppContext
from tidings.kit.db import write_transaction
from tidings.notify.models import consent_events


def give_consents(client: TestClient, engine: Engine, person: Person) -> None:
    for granted in (True, False):
        response = client.put(
            f"/v1/users/{person.id}/preferences",
            json={"marketing_consent": {"sms": granted}},
            headers=person.headers,
        )
        assert response.status_code == 200, response.text
    with write_transaction(engine) as conn:  # as the insights engineer's opt-in records it
        conn.execute(
            insert(consent_events).values(
                id="cev_personalisation01",
                user_id=person.id,
                channel="all",
                purpose="personalisation",
                granted=True,
                method="api",
                actor=person.id,
                evidence="PUT /v1/users/{user_id}/personalisation",
                at=datetime(2030, 1, 1, tzinfo=UTC),
            )
        )


def test_the_history_lists_marketing_per_channel_and_personalisation(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    give_consents(client, engine, person)
    history = client.get(f"/v1/users/{person.id}/consents", headers=person.headers)
    assert history.status_code == 200, history.text
    page = history.json()
    assert page["next_cursor"] is None
    rows = [(e["purpose"], e["channel"], e["granted"]) for e in page["items"]]
    assert rows[0] == ("personalisation", "all", True)
    assert ("marketing", "sms", True) in rows
    assert ("marketing", "sms", False) in rows
    assert set(page["items"][0]) == {
        *("id", "channel", "purpose", "granted", "method", "actor", "evidence", "at")
    }
    assert page["items"][0]["actor"] == person.id  # by whom
    assert page["items"][0]["method"] == "api"  # how
    other = make_person(client, context)
    assert client.get(f"/v1/users/{person.id}/consents", headers=other.headers).status_code == 404


def test_the_history_pages_with_a_cursor_and_bad_paging_is_422(
    client: TestClient, engine: Engine, person: Person
) -> None:
    give_consents(client, engine, person)
    url = f"/v1/users/{person.id}/consents"
    everything = client.get(url, headers=person.headers).json()["items"]
    assert len(everything) >= 3
    paged, cursor = [], None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get(url, params=params, headers=person.headers).json()
        assert len(page["items"]) <= 1
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything
    for params, field in (({"limit": 0}, "limit"), ({"cursor": "not-ours"}, "cursor")):
        bad = client.get(url, params=params, headers=person.headers)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == [field]


def test_the_page_shows_the_history_and_downloads_the_export(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    give_consents(client, engine, person)
    browser = browser_for(client)
    assert browser.get("/app/privacy").status_code == 401
    assert browser.get("/app/privacy/export").status_code == 401
    sign_in(client, browser, person.id)
    page = browser.get("/app/privacy")
    assert page.status_code == 200
    assert "个性化建议" in page.text
    assert "全部渠道" in page.text
    assert "已撤回" in page.text
    assert "下载我的数据" in page.text
    english = browser.get("/app/privacy?lang=en")
    assert "Personalised suggestions" in english.text
    assert "Withdrawn" in english.text
    download = browser.get("/app/privacy/export")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    document = json.loads(download.text)
    assert document["user_id"] == person.id
    assert person.secrets[1] in download.text  # the phone, in clear for its owner
    browser.close()


def test_the_page_export_is_always_the_signed_in_users_own(
    client: TestClient, context: AppContext, engine: Engine, person: Person
) -> None:
    other = make_person(client, context)
    browser = browser_for(client)
    sign_in(client, browser, other.id)
    download = browser.get("/app/privacy/export", params={"user_id": person.id})
    assert download.status_code == 200
    assert json.loads(download.text)["user_id"] == other.id
    own_to_person = person.secrets[1:8]  # the name and city are the same for both people
    assert [s for s in own_to_person if s in download.text] == []
    browser.close()
