"""`tidings bench campaign`: a campaign to a million users with a spending history, on
PostgreSQL.

A throw-away PostgreSQL database (`TIDINGS_BENCH_POSTGRES`, like the other benchmarks) is
migrated and filled set-based (`INSERT … SELECT generate_series`): N users (default
1,000,000) in three time zones (70 % Shanghai, 15 % London, 15 % New York) and two locales,
each with a main wallet and two payments in the last 60 days (dining or travel); 90 % granted
inbox marketing, 40 % SMS marketing; 5 % turned personalised marketing off.

The campaign: a personalised segment (spent at least 100.00 on dining in 90 days), two
variants and a 10 % control group, inbox and SMS, launched at 10:00 Shanghai time. Timed
as the worker runs it (`campaigns.dispatch`): the audience count (`count_s`), the freeze and
assignment (`freeze_s`) and the set-based planning of every delivery (`plan_s`, target under
60 s for 1M), each page in one transaction. `peak_rss_mb` is the process's peak memory
(target under 500 MB: nothing holds the audience in Python). Then a second launch (409) and
the same dispatch again, and every page planned once more, must plan nothing
(`relaunch_planned`).
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import psycopg
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import func, select

from tidings.app.campaigns import dispatch_campaigns, plan_page
from tidings.app.context import AppContext
from tidings.bench.support import (
    BENCH_DATA_KEY,
    BENCH_LOOKUP_KEY,
    BenchmarkError,
    bench_database,
    make_progress,
    step,
)
from tidings.campaigns import service as campaigns
from tidings.campaigns.exceptions import CampaignNotDraft
from tidings.campaigns.schemas import CampaignIn
from tidings.config import Settings
from tidings.kit.db import make_engine, read_transaction, write_transaction
from tidings.kit.migrate import upgrade
from tidings.notify.models import deliveries
from tidings.notify.planner import PlannerPolicy
from tidings.privacy.crypto import Keyring

DEFAULT_USERS: Final = 1_000_000
LAUNCH_AT: Final = datetime(2027, 3, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def _id(prefix: str, number: str) -> str:
    return f"'{prefix}_' || lpad(({number})::text, 26, '0')"


def _generate(dsn: str, users: int) -> None:
    created = "TIMESTAMPTZ '2026-12-01 00:00:00+00'"
    paid = "TIMESTAMPTZ '2027-03-01 04:00:00+00' - (g % 50) * INTERVAL '1 day'"
    zone = (
        "CASE WHEN g % 20 < 14 THEN 'Asia/Shanghai' WHEN g % 20 < 17 THEN 'Europe/London'"
        " ELSE 'America/New_York' END"
    )
    series = f"FROM generate_series(1, {users}) g"
    statements = [
        f"""INSERT INTO users (id, main_wallet_id, external_id_enc, external_id_hash, name_enc,
              phone_enc, locale, timezone, currency, low_balance_threshold, created_at,
              updated_at)
            SELECT {_id("usr", "g")}, {_id("wal", "g")}, 'bench', md5(g::text), 'bench',
                   'bench', CASE WHEN g % 5 = 0 THEN 'en' ELSE 'zh-Hans-CN' END, {zone}, 'CNY',
                   10000, {created}, {created} {series}""",
        f"""INSERT INTO accounts (id, user_id, kind, currency, balance, held, allow_negative,
              created_at)
            SELECT {_id("acc", "g")}, {_id("usr", "g")}, 'wallet', 'CNY', 100000, 0, false,
                   {created} {series}""",
        f"""INSERT INTO wallets (id, user_id, account_id, kind, name, purpose, currency, status,
              created_at)
            SELECT {_id("wal", "g")}, {_id("usr", "g")}, {_id("acc", "g")}, 'main', 'main',
                   'main', 'CNY', 'open', {created} {series}""",
        f"""INSERT INTO transfers (id, kind, status, user_id, source_wallet_id, amount, currency,
              merchant_name, merchant_category, created_at)
            SELECT {_id("trf", "(g - 1) * 2 + n")}, 'payment', 'succeeded', {_id("usr", "g")},
                   {_id("wal", "g")}, 3000 + (g * n) % 20000, 'CNY', 'bench',
                   CASE WHEN (g + n) % 3 = 0 THEN '4511' ELSE '5812' END, {paid}
            {series}, generate_series(1, 2) n""",
        f"""INSERT INTO consent_events (id, user_id, channel, purpose, granted, method, actor,
              at)
            SELECT {_id("cns", "(g - 1) * 3 + 1")}, {_id("usr", "g")}, 'inbox', 'marketing',
                   true, 'import', 'bench', {created} {series} WHERE g % 10 <> 0""",
        f"""INSERT INTO consent_events (id, user_id, channel, purpose, granted, method, actor,
              at)
            SELECT {_id("cns", "(g - 1) * 3 + 2")}, {_id("usr", "g")}, 'sms', 'marketing',
                   true, 'import', 'bench', {created} {series} WHERE g % 5 < 2""",
        f"""INSERT INTO consent_events (id, user_id, channel, purpose, granted, method, actor,
              at)
            SELECT {_id("cns", "(g - 1) * 3 + 3")}, {_id("usr", "g")}, 'all',
                   'personalisation', false, 'api', 'bench', {created} {series}
            WHERE g % 20 = 7""",
        "ANALYZE",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


CAMPAIGN = {
    "name": "餐饮满100减10",
    "segment": {
        "all": [
            {
                "spent_at_least": {
                    "amount": {"value": 10_000, "currency": "CNY"},
                    "category": "dining",
                    "within_days": 90,
                }
            }
        ]
    },
    "variants": [
        {
            "key": key,
            "weight": 1,
            "content": {
                "zh-CN": {"title": title, "body": "本周餐饮满100减10", "url": "https://x.cn/d"},
                "en": {"title": "Dining offer", "body": "CNY 10 off CNY 100 this week"},
            },
        }
        for key, title in (("a", "餐饮优惠"), ("b", "吃好一点"))
    ],
    "control_percent": 10,
    "channels": ["inbox", "sms"],
}


def _count_deliveries(context: AppContext) -> int:
    with read_transaction(context.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(deliveries)).scalar_one())


def _replan_everything(context: AppContext, campaign_id: str) -> int:
    """Every frozen page planned once more, as a crashed and restarted run would: 0 rows."""
    with write_transaction(context.engine) as conn:
        again = plan_page(
            conn,
            campaigns.FrozenPage(campaign_id, None, "usr_~"),
            now=LAUNCH_AT,
            policy=PlannerPolicy(),
        )
    return again.notifications + again.deliveries


def run(*, console: Console, users: int = DEFAULT_USERS) -> dict[str, float]:
    """Generate the population, launch, dispatch (timed), then prove a re-run plans nothing."""
    figures: dict[str, float] = {"users": users}
    with (
        tempfile.TemporaryDirectory() as workdir,
        make_progress(console) as progress,
        bench_database("postgresql", Path(workdir)) as database,
    ):
        settings = Settings(
            database_url=database.url,
            var_dir=Path(workdir),
            data_key=SecretStr(BENCH_DATA_KEY),
            lookup_key=SecretStr(BENCH_LOOKUP_KEY),
        )
        keyring = Keyring.from_specs(data_key_spec=BENCH_DATA_KEY, lookup_key_b64=BENCH_LOOKUP_KEY)
        context = AppContext(settings=settings, engine=make_engine(database.url), keyring=keyring)
        try:
            with step(progress, "migrate"):
                upgrade(context.engine)
            with step(progress, f"generate {users:,} users with payments (set-based)"):
                started = time.perf_counter()
                _generate(database.url, users)
                figures["generate_s"] = round(time.perf_counter() - started, 2)
            with write_transaction(context.engine) as conn:
                body = CampaignIn.model_validate(CAMPAIGN)
                campaign_id = campaigns.create_campaign(conn, body, actor="bench", at=LAUNCH_AT).id
            with step(progress, "audience count"):
                started = time.perf_counter()
                with read_transaction(context.engine) as conn:
                    audience = campaigns.audience(conn, campaign_id, now=LAUNCH_AT)
                figures["count_s"] = round(time.perf_counter() - started, 2)
            figures.update(
                matched=audience.matched,
                eligible=audience.eligible,
                excluded_no_consent=audience.excluded.no_consent,
                excluded_personalisation_off=audience.excluded.personalisation_off,
            )
            with write_transaction(context.engine) as conn:
                campaigns.launch(conn, campaign_id, actor="bench", at=LAUNCH_AT)
            timings: dict[str, float] = {}
            with step(progress, "campaigns.dispatch: freeze, assign, plan every delivery"):
                started = time.perf_counter()
                dispatched = dispatch_campaigns(context, LAUNCH_AT, timings)
                figures["dispatch_s"] = round(time.perf_counter() - started, 2)
            figures.update(
                freeze_s=round(timings.get("freeze_s", 0.0), 2),
                plan_s=round(timings.get("plan_s", 0.0), 2),
                notifications=dispatched["notifications"],
                deliveries=dispatched["deliveries"],
            )
            with read_transaction(context.engine) as conn:
                report = campaigns.report(conn, campaign_id)
            figures.update(
                recipients=report.audience,
                control=report.control.recipients,
                suppressed_no_consent=report.suppressed.no_consent,
                postponed_outside_window=report.suppressed.outside_window,
                suppressed_capped=report.suppressed.capped,
                sample_ratio_p=round(report.sample_ratio.p_value or 0.0, 4),
            )
            with step(progress, "launch again, dispatch again, plan every page again"):
                before = _count_deliveries(context)
                with write_transaction(context.engine) as conn:
                    try:
                        campaigns.launch(conn, campaign_id, actor="bench", at=LAUNCH_AT)
                        raise BenchmarkError("a second launch was accepted")
                    except CampaignNotDraft:
                        figures["relaunch_refused"] = 1
                started = time.perf_counter()
                again = dispatch_campaigns(context, LAUNCH_AT)
                replanned = _replan_everything(context, campaign_id)
                figures["relaunch_s"] = round(time.perf_counter() - started, 2)
                figures["relaunch_planned"] = (
                    again["notifications"] + again["deliveries"] + replanned
                )
                if _count_deliveries(context) != before:
                    raise BenchmarkError("a re-run added deliveries")
        finally:
            context.engine.dispose()
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if figures["relaunch_planned"]:
        raise BenchmarkError("a re-launch planned something twice")
    return figures
