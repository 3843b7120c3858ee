"""The console's campaign pages: build a campaign with the form (live audience count),
preview it per locale and channel with its SMS segments, launch it, read the report."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.campaigns.support import consenting_user, dispatch, shanghai
from tests.web.console.conftest import console_sign_in
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock

FORM = {
    "name": "双十二话费",
    "locale": "zh-CN",
    "channels": ["inbox", "sms"],
    "a_zh-CN_title": "话费充值满50减5",
    "a_zh-CN_body": "本周话费充值满50元立减5元",
    "a_en_title": "CNY 5 off top-ups",
    "a_en_body": "Top up CNY 50 or more and save CNY 5",
    "a_url": "https://shop.example.com/topup",
    "control_percent": "10",
}


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(shanghai(24, 10))
    context.clock = fixed
    return fixed


def test_an_operator_builds_previews_launches_and_reads_a_campaign(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    for _ in range(3):
        consenting_user(client, channels=("inbox", "sms"))
    operator = console_sign_in(client, "小王")
    token = operator.csrf("/console/campaigns/new")

    live = operator.browser.post("/console/campaigns/audience", data={"csrf_token": token, **FORM})
    created = operator.browser.post(
        "/console/campaigns/new", data={"csrf_token": token, **FORM}, follow_redirects=False
    )

    assert live.status_code == 200
    assert "Eligible" in live.text
    assert "<dd>3</dd>" in live.text
    assert created.status_code == 303, created.text
    page = operator.page(created.headers["location"])
    assert "双十二话费" in page
    assert "SMS segments" in page
    assert "回T退订" in page  # the SMS preview as it will be sent
    assert "wallet.example.com/l/" in page  # the tracked link, not the raw url
    campaign_id = created.headers["location"].rsplit("/", 1)[1]
    launched = operator.browser.post(
        f"/console/campaigns/{campaign_id}/launch",
        data={"csrf_token": operator.csrf(f"/console/campaigns/{campaign_id}")},
        follow_redirects=False,
    )
    assert launched.status_code == 303
    dispatch(context)
    report = operator.page(f"/console/campaigns/{campaign_id}/report")
    assert "<svg" in report
    assert "Conversion rate" in report
    assert "双十二话费" in operator.page("/console/campaigns")


def test_a_bad_field_is_named_and_nothing_is_saved(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    operator = console_sign_in(client, None)
    token = operator.csrf("/console/campaigns/new")

    refused = operator.browser.post(
        "/console/campaigns/new", data={"csrf_token": token, **FORM, "control_percent": "80"}
    )

    assert refused.status_code == 422
    assert 'id="control_percent-error"' in refused.text
    assert "双十二话费" in refused.text  # what was typed is kept
    assert client.get("/v1/campaigns").json()["items"] == []


def test_a_form_without_the_token_is_refused(client: TestClient) -> None:
    operator = console_sign_in(client, None)
    refused = operator.browser.post("/console/campaigns/new", data=FORM)
    assert refused.status_code == 403
    assert client.get("/v1/campaigns").json()["items"] == []
