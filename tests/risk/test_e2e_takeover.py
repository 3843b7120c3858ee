"""The issue's end-to-end proof, with real processes: `tidings serve` (API and worker) on
SQLite and an SMS provider that refuses every message.

A login from a new device in another city, a password change (both reported by the company's
backend), then a large transfer: the transfer is held (202), the critical alerts reach the user
over the channels that work while SMS fails (inbox, and push through the file sink). The code
goes by SMS only: the push token registered minutes ago is not trusted with it, so it does not
fall back there, and no file keeps it in clear. Three wrong codes cancel the transfer, and the
balance is intact.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.e2e_notify.support import (
    DATA_KEY,
    LOOKUP_KEY,
    cluster,
    cny,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
)
from tests.notify_channels.stubs import Received, Reply, StubServer
from tidings.events import outbox
from tidings.kit.db import make_engine
from tidings.notify.models import deliveries as delivery_rows
from tidings.notify.models import notifications
from tidings.privacy.codes import SEALED_CODE, open_code
from tidings.privacy.crypto import Keyring

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0


class BrokenSms:
    """An Aliyun-shaped SMS provider whose every answer is a permanent refusal."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: Received) -> Reply:
        with self._lock:
            self.calls += 1
        return Reply(
            status=200,
            json={
                "Code": "isv.SMS_SIGNATURE_ILLEGAL",
                "Message": "signature refused",
                "RequestId": uuid.uuid4().hex,
            },
        )


@pytest.fixture
def broken_sms() -> Iterator[tuple[BrokenSms, str]]:
    handler = BrokenSms()
    with StubServer(handler) as server:
        yield handler, f"{server.url}/"


def deliveries(client: httpx.Client, notification_id: str) -> dict[str, set[str]]:
    detail = ok(client.get(f"/v1/notifications/{notification_id}"))
    found: dict[str, set[str]] = {}
    for delivery in detail["deliveries"]:
        found.setdefault(delivery["channel"], set()).add(delivery["status"])
    return found


def settled(client: httpx.Client, notification_id: str) -> dict[str, set[str]] | None:
    found = deliveries(client, notification_id)
    if "sms" not in found or found["sms"] & {"pending", "sending"}:
        return None
    if any(statuses & {"pending", "sending"} for statuses in found.values()):
        return None
    return found


def notice(client: httpx.Client, user_id: str, kind: str) -> dict[str, Any] | None:
    return next((i for i in inbox_items(client, user_id) if i["kind"] == kind), None)


def pushed(var_dir: Path, kind: str) -> list[dict[str, Any]]:
    path = var_dir / "messages.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [m for m in lines if m["kind"] == kind and m["channel"] == "push"]


def held_code(database: Path) -> str:
    """The step-up code, read as only the server can: sealed in its event."""
    keyring = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            data = conn.execute(
                select(outbox.c.data).where(outbox.c.type == "security.verification.code")
            ).scalar_one()
    finally:
        engine.dispose()
    return open_code(keyring, dict(data)[SEALED_CODE])


def code_deliveries(database: Path) -> dict[str, set[str]] | None:
    """The code notice's deliveries by channel, once none is still open."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(delivery_rows.c.channel, delivery_rows.c.status)
                .join(notifications, notifications.c.id == delivery_rows.c.notification_id)
                .where(notifications.c.kind == "security.verification.code")
            ).all()
    finally:
        engine.dispose()
    found: dict[str, set[str]] = {}
    for channel, status in rows:
        found.setdefault(channel, set()).add(status)
    if not found or any(s & {"pending", "sending"} for s in found.values()):
        return None
    return found


def test_takeover_then_large_transfer_is_held_alerted_and_cancelled_by_wrong_codes(
    tmp_path: Path, broken_sms: tuple[BrokenSms, str]
) -> None:
    sms, sms_url = broken_sms
    provider = {
        "type": "aliyun",
        "access_key_id": "LTAI5tRiskE2e",
        "access_key_secret": "risk-e2e-secret-do-not-use",
        "sign_name": "Tidings钱包",
        "template_code": "SMS_000001",
        "endpoint": sms_url,
        "timeout_s": 5,
    }
    var_dir = tmp_path / "var"
    env = environment(
        f"sqlite:///{tmp_path / 'tidings.db'}",
        var_dir,
        TIDINGS_SMS_PROVIDERS=json.dumps([provider], ensure_ascii=False),
    )
    with cluster(tmp_path, env) as running:
        server = running.serve()
        assert server.base_url is not None
        with operator(server.base_url) as admin:
            run = uuid.uuid4().hex[:8]
            owner = ok(
                admin.post(
                    "/v1/users",
                    json={
                        "external_id": f"owner-{run}",
                        "name": "张三丰",
                        "phone": "13812348821",
                        "email": "zhang.sanfeng@example.com",
                    },
                ),
                201,
            )
            payee = ok(
                admin.post("/v1/users", json={"external_id": f"payee-{run}", "name": "李四"}), 201
            )
            wallet = owner["wallet_id"]
            ok(
                admin.post(
                    "/v1/transfers",
                    json={"kind": "top_up", "destination": wallet, "amount": cny(1_000_000)},
                ),
                201,
            )
            ok(
                admin.put(
                    f"/v1/users/{owner['id']}/preferences",
                    json={"push_tokens": ["fcm-token-of-the-owner-phone"]},
                )
            )
            token = ok(admin.post(f"/v1/users/{owner['id']}/tokens"), 201)["token"]
            app = httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
                trust_env=False,
            )
            with app:
                # The backend reports the owner's usual phone in Shanghai, then a new device
                # in Suzhou (near enough that no travel is impossible).
                usual = ok(
                    admin.post(
                        f"/v1/users/{owner['id']}/logins",
                        json={"device_id": "owner-phone", "ip": "198.51.100.4", "city": "上海"},
                    ),
                    201,
                )
                assert usual["risk"]["level"] == "low"
                odd = ok(
                    admin.post(
                        f"/v1/users/{owner['id']}/logins",
                        json={
                            "device_id": "stranger-phone",
                            "ip": "203.0.113.9",
                            "city": "苏州",
                            "user_agent": "Android 14",
                        },
                    ),
                    201,
                )
                assert odd["risk"] == {"level": "high", "reasons": ["new_device", "new_location"]}
                # The stolen session may not report for itself.
                refused = app.post(
                    f"/v1/users/{owner['id']}/logins",
                    json={"device_id": "stranger-phone", "ip": "203.0.113.9", "city": "上海"},
                )
                assert refused.status_code == 403, refused.text
                ok(
                    admin.post(
                        f"/v1/users/{owner['id']}/security-changes", json={"kind": "password"}
                    ),
                    201,
                )
                held = ok(
                    app.post(
                        "/v1/transfers",
                        json={
                            "kind": "p2p",
                            "source": wallet,
                            "destination": payee["wallet_id"],
                            "amount": cny(800_000),
                        },
                    ),
                    202,
                )
                assert held["status"] == "pending_verification"
                mine = ok(app.get(f"/v1/wallets/{wallet}"))
                assert (mine["balance"]["value"], mine["available"]["value"]) == (
                    1_000_000,
                    200_000,
                )

                # The new-device alert: critical, on every channel at once; SMS fails for
                # good, inbox and push deliver.
                alert = wait_until(
                    lambda: notice(admin, owner["id"], "security.login.new_device"),
                    timeout=TIMEOUT,
                    what="the new-device alert in the inbox",
                    watch=running,
                )
                assert "我们不会索要您的密码或验证码" in alert["body"]
                assert "冻结钱包" in alert["body"]
                channels = wait_until(
                    lambda: settled(admin, alert["id"]),
                    timeout=TIMEOUT,
                    what="the alert's deliveries to finish",
                    watch=running,
                )
                assert channels["sms"] == {"failed"}, channels
                assert "sent" in channels["inbox"], channels
                assert "sent" in channels["push"], channels
                assert sms.calls >= 1

                # The code went to SMS only, which failed: the push token was registered
                # minutes ago, too recently to be trusted with a code.
                code = held_code(tmp_path / "tidings.db")
                channels = wait_until(
                    lambda: code_deliveries(tmp_path / "tidings.db"),
                    timeout=TIMEOUT,
                    what="the code's SMS to fail",
                    watch=running,
                )
                assert channels == {"sms": {"failed"}}, channels
                assert pushed(var_dir, "security.verification.code") == []
                sink = var_dir / "messages.jsonl"
                assert code not in (sink.read_text(encoding="utf-8") if sink.exists() else "")
                wrong = "000000" if code != "000000" else "111111"

                url = f"/v1/transfers/{held['id']}/verification"
                for left in (2, 1):
                    answer = app.post(url, json={"code": wrong})
                    assert answer.status_code == 422, answer.text
                    assert answer.json()["attempts_left"] == left
                last = app.post(url, json={"code": wrong})
                assert last.status_code == 422
                assert last.json()["type"].endswith("/verification-failed")

                assert ok(app.get(f"/v1/transfers/{held['id']}"))["status"] == "cancelled"
                mine = ok(app.get(f"/v1/wallets/{wallet}"))
                assert (mine["balance"]["value"], mine["available"]["value"]) == (
                    1_000_000,
                    1_000_000,
                )
                assert ok(admin.get(f"/v1/wallets/{payee['wallet_id']}"))["balance"]["value"] == 0
                cancelled = wait_until(
                    lambda: notice(admin, owner["id"], "security.verification.failed"),
                    timeout=TIMEOUT,
                    what="the cancelled-transfer alert",
                    watch=running,
                )
                assert "8,000.00元" in cancelled["body"]
                assert ok(admin.get("/v1/ledger/trial-balance"))["ok"] is True
        running.assert_no_crash()
