"""A payment through the wallet API reaches the user's inbox with no manual step.

A real `tidings serve` (API and worker in one process, the embedded SQLite default, no
providers configured: channels other than the inbox go to the file sink). The only thing
the test does after paying is read the inbox, as the app would, until the notice is there.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .support import cluster, cny, environment, inbox_items, ok, operator, wait_until

pytestmark = pytest.mark.e2e

NOTICE_TIMEOUT = 30.0


def test_a_payment_appears_in_the_inbox_by_itself(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path / "var")
    with cluster(tmp_path, env) as running:
        server = running.serve()
        assert server.base_url is not None
        with operator(server.base_url) as client:
            run = uuid.uuid4().hex[:8]
            user = ok(
                client.post(
                    "/v1/users",
                    json={
                        "external_id": f"payer-{run}",
                        "name": "王小明",
                        "phone": "13912345678",
                        "email": "wang.xiaoming@example.com",
                        "locale": "zh-CN",
                        "timezone": "Asia/Shanghai",
                    },
                ),
                201,
            )
            wallet = user["wallet_id"]
            ok(
                client.post(
                    "/v1/transfers",
                    json={"kind": "top_up", "destination": wallet, "amount": cny(300_000)},
                ),
                201,
            )
            payment = ok(
                client.post(
                    "/v1/transfers",
                    json={
                        "kind": "payment",
                        "source": wallet,
                        "amount": cny(4_250),
                        "merchant": {"name": "全家便利店", "category": "5411"},
                    },
                ),
                201,
            )
            assert payment["status"] == "succeeded"

            def paid_notice() -> dict[str, object] | None:
                return next(
                    (
                        item
                        for item in inbox_items(client, user["id"])
                        if item["kind"] == "wallet.payment.succeeded"
                    ),
                    None,
                )

            notice = wait_until(
                paid_notice,
                timeout=NOTICE_TIMEOUT,
                what="the payment notice in the inbox",
                watch=running,
            )
            body = str(notice["body"])
            assert notice["title"] == "消费提醒"
            assert notice["category"] == "transactional"
            assert notice["read"] is False
            assert "42.50元" in body
            assert "全家便利店" in body
            assert "2,957.50元" in body  # the balance after it
            assert "防伪码" in body

            # The top-up before it landed too, each notice once, newest first.
            kinds = [item["kind"] for item in inbox_items(client, user["id"])]
            assert kinds == ["wallet.payment.succeeded", "wallet.top_up.succeeded"]
            detail = ok(client.get(f"/v1/notifications/{notice['id']}"))
            inbox = [d for d in detail["deliveries"] if d["channel"] == "inbox"]
            assert [d["status"] for d in inbox] == ["sent"]
        running.assert_no_crash()
