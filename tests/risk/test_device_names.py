"""Security alerts name the device as the app described it, or its platform, never its id."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import create_user, deliver_everything
from tests.notify.test_pipeline import sink_lines
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.risk import events as security
from tidings.risk.detectors import platform_of

from .conftest import events_of, later

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15"
ANDROID_UA = "Dalvik/2.1.0 (Linux; U; Android 14; 23127PN0CC Build/UKQ1.231003.002)"
DEVICE_ID = "a9f3c1e2-7d4b-4e0a-9c1f-device-secret-0042"


def report(client: TestClient, user_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/v1/users/{user_id}/logins", json={"ip": "203.0.113.7", "city": "上海", **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def alert_text(client: TestClient, user_id: str, kind: str) -> str:
    [notice] = [
        item
        for item in client.get(f"/v1/users/{user_id}/inbox").json()["items"]
        if item["kind"] == kind
    ]
    return f"{notice['title']}\n{notice['body']}"


@pytest.mark.parametrize(
    ("locale", "body", "expected"),
    [
        (
            "zh-CN",
            {"device_name": "iPhone 15 (张三的手机)", "user_agent": IPHONE_UA},
            "新设备“iPhone 15 (张三的手机)”",
        ),
        ("zh-CN", {"user_agent": ANDROID_UA}, "一台新的Android设备"),
        ("zh-CN", {}, "一台新设备"),
        (
            "en",
            {"device_name": "Pixel 8", "user_agent": ANDROID_UA},
            "A new device, Pixel 8, signed in",
        ),
        ("en", {"user_agent": IPHONE_UA}, "A new iPhone device signed in"),
        ("en", {"user_agent": "curl/8.4.0"}, "A new device signed in"),
    ],
)
def test_a_new_device_alert_names_the_device_as_the_app_described_it(
    client: TestClient,
    context: AppContext,
    engine: Engine,
    clock: FixedClock,
    locale: str,
    body: dict[str, Any],
    expected: str,
) -> None:
    user = create_user(client, locale=locale)
    report(client, user["id"], device_id="first-phone")
    later(clock, days=1)
    report(client, user["id"], device_id=DEVICE_ID, **body)
    [alert] = events_of(engine, user["id"], security.LOGIN_NEW_DEVICE)
    assert DEVICE_ID not in str(alert)
    deliver_everything(context)
    text = alert_text(client, user["id"], security.LOGIN_NEW_DEVICE)
    assert expected in text, text
    # Neither the id nor any piece of it reaches a message, on any channel.
    for message in [text, *map(str, sink_lines(context))]:
        assert DEVICE_ID not in message
        assert DEVICE_ID[-4:] not in message


def test_a_new_location_alert_names_the_device_too(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    report(client, user["id"], device_id=DEVICE_ID)
    later(clock, days=1)
    report(
        client,
        user["id"],
        device_id=DEVICE_ID,
        city="深圳",
        device_name="张三的iPad",
        user_agent="Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X)",
    )
    deliver_everything(context)
    text = alert_text(client, user["id"], security.LOGIN_NEW_LOCATION)
    assert "在深圳通过“张三的iPad”登录" in text, text
    assert DEVICE_ID[-4:] not in text


def test_a_device_name_is_display_text(client: TestClient, clock: FixedClock) -> None:
    user = create_user(client)
    for bad in ("", "x" * 101, "iPhone\x00", "iPhone\u202e"):
        response = client.post(
            f"/v1/users/{user['id']}/logins",
            json={"device_id": "d", "ip": "203.0.113.7", "device_name": bad},
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"] == "device_name"


@pytest.mark.parametrize(
    ("user_agent", "platform"),
    [
        (IPHONE_UA, "iPhone"),
        (ANDROID_UA, "Android"),
        ("Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00)", "HarmonyOS"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1)", "Mac"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "Linux"),
        ("curl/8.4.0", None),
        (None, None),
    ],
)
def test_the_platform_is_read_from_the_user_agent(
    user_agent: str | None, platform: str | None
) -> None:
    assert platform_of(user_agent) == platform
