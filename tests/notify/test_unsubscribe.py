"""Every marketing message carries its way out, and the way out works (issue #13, part 6).

Email has List-Unsubscribe (the `/u/` link and a mailto:) with RFC 8058 one-click; inbox,
push and email carry the `/u/` link; `/u/{token}` shows a page whose form withdraws that
channel's marketing consent through the consent ledger, cancelling what is pending.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from tests.conftest import DATA_KEY, LOOKUP_KEY
from tests.helpers import cny, create_user, deliver_everything
from tests.notify_channels.test_smtp import Mailbox, start_controller
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.notify import unsubscribe
from tidings.notify.types import ChannelName
from tidings.privacy.crypto import Keyring

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROMOTION = "marketing.promotion"
_events = itertools.count(1)
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def shanghai(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(shanghai(10))
    context.clock = fixed
    return fixed


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    controller = start_controller(mailbox)
    provider = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": controller.port,
        "sender": "noreply@tidings.example",
        "timeout_s": 5,
    }
    monkeypatch.setenv("TIDINGS_EMAIL_PROVIDERS", json.dumps([provider]))
    yield controller
    controller.stop()


def post_event(client: TestClient, user: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    response = client.post(
        "/v1/events",
        json={
            "specversion": "1.0",
            "id": f"unsub-{next(_events)}",
            "source": "urn:campaigns",
            "type": kind,
            "subject": user["id"],
            "data": data,
        },
    )
    assert response.status_code == 202, response.text


def promote(client: TestClient, user: dict[str, Any]) -> None:
    data = {"campaign_id": f"cmp-{next(_events)}", "title": "双十二满减", "body": "满100减20"}
    post_event(client, user, PROMOTION, data)


def marketing_user(
    client: TestClient, channels: tuple[str, ...], **overrides: Any
) -> dict[str, Any]:
    user = create_user(client, **overrides)
    response = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={
            "channels": {"marketing": list(channels), "transactional": list(channels)},
            "marketing_consent": dict.fromkeys(channels, True),
        },
    )
    assert response.status_code == 200, response.text
    return user


def marketing_consent(client: TestClient, user: dict[str, Any]) -> dict[str, bool]:
    prefs = client.get(f"/v1/users/{user['id']}/preferences").json()
    return dict(prefs["marketing_consent"])


def deliveries(client: TestClient, user: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    page = client.get(f"/v1/users/{user['id']}/notifications").json()
    [notice] = [item for item in page["items"] if item["kind"] == PROMOTION]
    return {d["channel"]: (d["status"], d["reason"]) for d in notice["deliveries"]}


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_marketing_email_has_list_unsubscribe_and_one_click_withdraws_consent(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: Controller, mailbox: Mailbox
) -> None:
    context.settings = context.settings.model_copy(
        update={
            "public_url": "https://wallet.example.com",
            "unsubscribe_mailto": "unsubscribe@tidings.example",
        }
    )
    user = marketing_user(client, ("inbox", "email"))
    promote(client, user)
    deliver_everything(context)

    [(_, rcpt, _)] = mailbox.received  # the email; the inbox copy went to the inbox
    assert len(rcpt) == 1
    email = mailbox.parsed()
    header = email["List-Unsubscribe"]
    match = re.fullmatch(
        r"<(https://wallet\.example\.com/u/[\w.-]+)>, "
        r"<mailto:unsubscribe@tidings\.example\?subject=unsubscribe%20([\w.-]+)>",
        header,
    )
    assert match is not None, header
    link, mailto_token = match.groups()
    assert link.endswith("/u/" + mailto_token)
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert f"退订：{link}" in text.get_content()
    assert f'href="{link}"' in html.get_content()

    # What a mailbox provider does on "unsubscribe": one POST, no cookie, no CSRF token.
    response = client.post(
        path_of(link),
        content=b"List-Unsubscribe=One-Click",
        headers={**ONE_CLICK, "Authorization": ""},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "已退订" in response.text
    assert marketing_consent(client, user) == {
        "inbox": True,
        "push": False,
        "sms": False,
        "email": False,
        "webhook": False,
    }
    [latest, *_] = client.get(f"/v1/users/{user['id']}/consents").json()["items"]
    assert (latest["channel"], latest["granted"], latest["method"]) == (
        "email",
        False,
        "unsubscribe_link",
    )
    assert "RFC 8058 one-click" in latest["evidence"]
    assert latest["actor"] == f"user:{user['id']}"


def test_transactional_email_has_no_list_unsubscribe(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: Controller, mailbox: Mailbox
) -> None:
    user = marketing_user(client, ("inbox", "email"))
    post_event(
        client,
        user,
        "wallet.payment.succeeded",
        {"amount": cny(12_800), "merchant": {"name": "星巴克"}, "balance_after": cny(1_000)},
    )
    deliver_everything(context)
    [_] = mailbox.received
    email = mailbox.parsed()
    assert email["List-Unsubscribe"] is None
    assert email["List-Unsubscribe-Post"] is None
    text = email.get_body(preferencelist=("plain",))
    assert text is not None
    assert "/u/" not in text.get_content()


def test_inbox_and_push_marketing_carry_an_absolute_unsubscribe_link(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = marketing_user(client, ("inbox", "push"))
    client.put(f"/v1/users/{user['id']}/preferences", json={"push_tokens": ["device-token-1"]})
    promote(client, user)
    deliver_everything(context)
    [item] = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    links = re.findall(r"退订：(\S+)", item["body"])
    assert links == [
        "http://127.0.0.1:8000/u/"
        + unsubscribe.make_token(context.keyring, user_id=user["id"], channel=ChannelName.INBOX)
    ]
    sink = (context.settings.var_dir / "messages.jsonl").read_text().splitlines()
    [push] = [json.loads(line) for line in sink if json.loads(line)["channel"] == "push"]
    token = unsubscribe.make_token(context.keyring, user_id=user["id"], channel=ChannelName.PUSH)
    assert f"http://127.0.0.1:8000/u/{token}" in push["body"]


def test_the_page_then_its_form_withdraws_consent_and_cancels_pending_marketing(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = shanghai(7, 31)  # before the marketing window: both wait for 08:00
    user = marketing_user(client, ("inbox", "email"))
    promote(client, user)
    deliver_everything(context)
    assert deliveries(client, user) == {
        "inbox": ("pending", "marketing_window"),
        "email": ("pending", "marketing_window"),
    }
    token = unsubscribe.make_token(context.keyring, user_id=user["id"], channel=ChannelName.EMAIL)
    anonymous = {"Authorization": ""}

    page = client.get(f"/u/{token}", headers=anonymous)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assert "电子邮件" in page.text
    assert f'<form method="post" action="/u/{token}">' in page.text
    assert "<script" not in page.text
    assert "http" not in page.text.split("<body>")[1]
    assert page.headers["cache-control"] == "no-store"
    assert marketing_consent(client, user)["email"]  # looking changes nothing

    done = client.post(f"/u/{token}", headers={**ONE_CLICK, **anonymous})
    assert done.status_code == 200, done.text
    assert "已退订" in done.text
    assert deliveries(client, user) == {
        "inbox": ("pending", "marketing_window"),
        "email": ("cancelled", "no_consent"),
    }
    [latest, *_] = client.get(f"/v1/users/{user['id']}/consents").json()["items"]
    assert (latest["channel"], latest["granted"], latest["method"]) == (
        "email",
        False,
        "unsubscribe_link",
    )
    assert "confirmed on the unsubscribe page" in latest["evidence"]

    again = client.post(f"/u/{token}", headers=anonymous)  # a second click: same answer
    assert again.status_code == 200
    consents = client.get(f"/v1/users/{user['id']}/consents").json()["items"]
    assert [c["method"] for c in consents].count("unsubscribe_link") == 1


def test_the_page_speaks_the_users_language_or_the_one_asked_for(
    client: TestClient, context: AppContext
) -> None:
    english = create_user(client, locale="en")
    token = unsubscribe.make_token(context.keyring, user_id=english["id"], channel=ChannelName.PUSH)
    page = client.get(f"/u/{token}")
    assert '<html lang="en">' in page.text
    assert "app notifications" in page.text
    chinese = client.get(f"/u/{token}", params={"lang": "zh-CN"})
    assert '<html lang="zh-CN">' in chinese.text
    assert f'action="/u/{token}?lang=zh-CN"' in chinese.text


def test_a_forged_or_altered_token_is_404_and_changes_nothing(
    client: TestClient, context: AppContext
) -> None:
    user = marketing_user(client, ("inbox", "email"))
    other = create_user(client)
    good = unsubscribe.make_token(context.keyring, user_id=user["id"], channel=ChannelName.EMAIL)
    payload, mac = good.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    another_user = unsubscribe.make_token(
        context.keyring, user_id=other["id"], channel=ChannelName.EMAIL
    )
    forged = [
        f"{payload}.{flipped}",  # the MAC altered
        f"{another_user.split('.')[0]}.{mac}",  # someone else's id under this MAC
        unsubscribe.make_token(
            context.keyring, user_id=user["id"], channel=ChannelName.INBOX
        ).split(".")[0]
        + f".{mac}",  # another channel under this MAC
        user["id"],  # a bare user id
        "x" * 300,
        f"{payload}.",
    ]
    for token in forged:
        page = client.get(f"/u/{token}")
        assert page.status_code == 404, token
        assert "链接无效" in page.text
        post = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert post.status_code == 404, token
    assert marketing_consent(client, user)["email"]
    assert marketing_consent(client, user)["inbox"]


def test_a_token_is_bound_to_its_user_and_channel_and_does_not_expire() -> None:
    keyring = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)
    token = unsubscribe.make_token(keyring, user_id="usr_01ABC", channel=ChannelName.EMAIL)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert "usr_01ABC" not in token
    assert unsubscribe.read_token(keyring, token) == unsubscribe.UnsubscribeTarget(
        "usr_01ABC", ChannelName.EMAIL
    )
    other_key = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=DATA_KEY.split(":")[1])
    assert unsubscribe.read_token(other_key, token) is None
