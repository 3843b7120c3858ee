"""Two devices entering the right code at the same moment post the transfer once; a code
racing the expiry job either posts or is released, never both (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.kit.db import with_retry, write_transaction
from tidings.kit.errors import AppError
from tidings.wallets import events as wallet_events
from tidings.wallets import holds
from tidings.wallets.jobs import run_expire_holds

from .conftest import Member, events_of, later, pay, sent_code, wallet


def race(*actions: Callable[[], str]) -> list[str]:
    results: list[str] = []
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], str]) -> None:
        barrier.wait()
        results.append(action())

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(results)


def verifier(context: AppContext, member: Member, transfer_id: str, code: str) -> Callable[[], str]:
    def attempt() -> str:
        with write_transaction(context.engine) as conn:
            outcome = holds.verify_transfer(
                conn,
                context.keyring,
                transfer_id,
                code,
                acting_user_id=member.id,
                at=context.clock.now(),
            )
        return type(outcome).__name__ if isinstance(outcome, AppError) else "posted"

    def action() -> str:
        try:
            return with_retry(attempt)
        except AppError as exc:
            return exc.code

    return action


def test_two_right_codes_at_once_post_the_transfer_once(
    client: TestClient, engine: Engine, context: AppContext, alice: Member
) -> None:
    transfer = pay(client, alice, 600_000).json()
    code = sent_code(engine, alice.id)
    check = verifier(context, alice, transfer["id"], code)
    assert race(check, check) == ["posted", "verification-not-pending"]
    assert len(events_of(engine, alice.id, wallet_events.PAYMENT_SUCCEEDED)) == 1
    mine = wallet(client, alice.wallet_id)
    assert mine["balance"]["value"] == mine["available"]["value"] == 400_000
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_a_code_racing_the_expiry_job_either_posts_or_is_released(
    client: TestClient, engine: Engine, context: AppContext, alice: Member, clock: FixedClock
) -> None:
    transfer = pay(client, alice, 600_000).json()
    code = sent_code(engine, alice.id)
    later(clock, minutes=14, seconds=59)

    due = clock.at + timedelta(seconds=1)  # the hold runs out at 15:00

    def job() -> str:
        return f"expired:{run_expire_holds(engine, as_of=due)['expired']}"

    outcome = race(verifier(context, alice, transfer["id"], code), job)
    mine = wallet(client, alice.wallet_id)
    if "posted" in outcome:
        assert outcome == ["expired:0", "posted"]
        assert mine["balance"]["value"] == mine["available"]["value"] == 400_000
    else:
        assert outcome == ["expired:1", "verification-not-pending"]
        assert mine["balance"]["value"] == mine["available"]["value"] == 1_000_000
    assert mine["held"]["value"] == 0
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True
