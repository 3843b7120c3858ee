"""The README flow against the real server process, over real HTTP, on SQLite and PostgreSQL.

`tidings migrate`, then `tidings serve --port N` (API and worker in one process) as an
integrator would run them; the walkthrough then goes through the public API only. The same
flow is written up for people in `docs/walkthrough.md`, and that document's shell session
is run here too, so it cannot drift from the API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.e2e

TIDINGS = Path(sys.executable).with_name("tidings")
ADMIN_KEY = "e2e-admin-key-0123456789abcdefghijklmnopq"
PG_ADMIN_DSN = os.environ.get(
    "TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DOC = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"
DOC_BASE_URL = "http://127.0.0.1:8000"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def cny(value: int) -> dict[str, Any]:
    return {"value": value, "currency": "CNY"}


# ---------------------------------------------------------------------------------------------
# The server process


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(database_url: str, var_dir: Path) -> dict[str, str]:
    """The caller's environment without any TIDINGS_* setting of its own, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_VAR_DIR=str(var_dir),
        TIDINGS_ADMIN_KEY=ADMIN_KEY,
        TIDINGS_LOG_JSON="true",
    )
    return env


def tidings(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIDINGS), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str) -> bool:
    """True once /healthz answers 200; False if the process died first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the server did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM")


@contextmanager
def running_server(database_url: str, workdir: Path) -> Iterator[Server]:
    """`tidings migrate` then `tidings serve` on a free port; stopped with SIGTERM after."""
    assert TIDINGS.exists(), f"no `tidings` script next to {sys.executable}"
    env = _environment(database_url, workdir / "var")
    migrated = tidings(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr

    for attempt in range(3):  # another process may take the free port before we bind it
        port = _free_port()
        server = Server(f"http://127.0.0.1:{port}", env, workdir / f"server-{attempt}.log")
        with server.log.open("wb") as log:
            process = subprocess.Popen(
                [str(TIDINGS), "serve", "--port", str(port)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            healthy = _wait_healthy(process, server.base_url)
        except BaseException:
            _stop(process)
            raise
        if healthy:
            break
        if "address already in use" not in server.log_tail().lower():
            pytest.fail(f"the server exited with {process.returncode}:\n{server.log_tail()}")
    else:
        pytest.fail("no free port for the server after 3 attempts")

    try:
        yield server
    except BaseException:
        _stop(process)
        print(f"--- server log ---\n{server.log_tail()}")
        raise
    code = _stop(process)
    # uvicorn re-raises the signal once it has shut down, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), f"exit status {code} on SIGTERM:\n{server.log_tail()}"
    # A graceful stop runs the lifespan's shutdown, which stops the worker last.
    assert "worker.stopped" in server.log_tail(), server.log_tail()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own (not migrated: the test runs migrate)."""
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable and CI is set: {exc}")
        pytest.skip("PostgreSQL is not reachable (set CI to make this a failure)")
    name = f"tidings_e2e_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# The walkthrough


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}: "
        f"{response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def walkthrough(server: Server) -> None:
    """Two users, a sub-wallet with a budget, every kind of transfer, history, ledger check."""
    base = server.base_url
    run = uuid.uuid4().hex[:8]
    operator = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )

    # The service answers, and says what it is.
    assert _ok(httpx.get(f"{base}/healthz"))["status"] == "ok"
    assert "/v1/transfers" in _ok(httpx.get(f"{base}/openapi.json"))["paths"]

    # Users are created by the operator; personal data comes back masked.
    alice = _ok(
        operator.post(
            "/v1/users",
            json={
                "external_id": f"alice-{run}",
                "name": "张小三",
                "phone": "13812348000",
                "email": "zhang.xiaosan@example.com",
                "locale": "zh-CN",
                "timezone": "Asia/Shanghai",
            },
            headers={"Idempotency-Key": f"user-alice-{run}"},
        ),
        201,
    )
    assert re.fullmatch(r"usr_[0-9A-Z]{26}", alice["id"])
    assert re.fullmatch(r"wal_[0-9A-Z]{26}", alice["wallet_id"])
    assert (alice["name"], alice["phone"], alice["email"]) == (
        "张*三",
        "138****8000",
        "z***@example.com",
    )
    assert alice["currency"] == "CNY"
    bob = _ok(
        operator.post(
            "/v1/users",
            json={
                "external_id": f"bob-{run}",
                "name": "李四",
                "phone": "+86 139 1234 5678",
                "email": "li.si@example.cn",
                "locale": "zh-CN",
                "timezone": "Asia/Shanghai",
            },
        ),
        201,
    )
    assert (bob["name"], bob["phone"], bob["email"]) == ("李*", "139****5678", "l***@example.cn")
    assert _ok(operator.get(f"/v1/users/{alice['id']}")) == alice
    a_main, b_main = alice["wallet_id"], bob["wallet_id"]

    # A user token, issued by the operator, for the app to act as Alice.
    token = _ok(operator.post(f"/v1/users/{alice['id']}/tokens"), 201)
    assert token["token"].startswith("tdu_")
    assert token["expires_at"]
    me = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token['token']}"}, timeout=10
    )
    assert _ok(me.get(f"/v1/users/{alice['id']}"))["id"] == alice["id"]
    wallet = _ok(me.get(f"/v1/wallets/{a_main}"))
    assert (wallet["kind"], wallet["balance"], wallet["available"]) == ("main", cny(0), cny(0))

    # Top up 1,000.00 CNY; the same Idempotency-Key replays the first answer, another body is 409.
    top_up = {"kind": "top_up", "destination": a_main, "amount": cny(100_000)}
    # Money from outside is the backend's word: Alice's own token may not mint it.
    assert _problem(me.post("/v1/transfers", json=top_up), 403)["type"].endswith("operator-only")
    key = {"Idempotency-Key": "topup-1"}
    first = _ok(operator.post("/v1/transfers", json=top_up, headers=key), 201)
    assert first["status"] == "succeeded"
    again = operator.post("/v1/transfers", json=top_up, headers=key)
    assert _ok(again, 201)["id"] == first["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = {**top_up, "amount": cny(1)}
    _problem(operator.post("/v1/transfers", json=other, headers=key), 409)

    # A travel sub-wallet with a monthly budget of 2,000.00; 500.00 allocated to it.
    travel = _ok(
        me.post(
            f"/v1/wallets/{a_main}/sub-wallets",
            json={
                "name": "旅行",
                "purpose": "travel",
                "budget": {"limit": cny(200_000), "period": "month"},
            },
        ),
        201,
    )
    assert (travel["kind"], travel["purpose"], travel["user_id"]) == ("sub", "travel", alice["id"])
    assert travel["budget"]["limit"] == cny(200_000)
    assert travel["budget"]["spent"] == cny(0)
    a_travel = travel["id"]
    allocation = {
        "kind": "allocation",
        "source": a_main,
        "destination": a_travel,
        "amount": cny(50_000),
    }
    _ok(me.post("/v1/transfers", json=allocation), 201)

    # Pay 128.00 at Starbucks (MCC 5814) from the travel wallet; the budget counts it.
    payment = _ok(
        me.post(
            "/v1/transfers",
            json={
                "kind": "payment",
                "source": a_travel,
                "amount": cny(12_800),
                "merchant": {"name": "星巴克", "category": "5814"},
                "memo": "机场咖啡",
            },
        ),
        201,
    )
    assert payment["merchant"] == {"name": "星巴克", "category": "5814"}
    assert payment["refunded"] == cny(0)
    budget = _ok(me.get(f"/v1/wallets/{a_travel}"))["budget"]
    assert (budget["spent"], budget["remaining"], budget["used_percent"]) == (
        cny(12_800),
        cny(187_200),
        6,
    )

    # Not enough money is a problem (422) and changes nothing.
    too_much = {**allocation, "source": a_travel, "destination": a_main, "amount": cny(10**9)}
    _problem(me.post("/v1/transfers", json=too_much), 422)

    # The merchant refunds 28.00 of it (operator key); a user may not refund themselves.
    refund = {"kind": "refund", "refund_of": payment["id"], "amount": cny(2_800)}
    _problem(me.post("/v1/transfers", json=refund), 403)
    made = _ok(operator.post("/v1/transfers", json=refund), 201)
    assert (made["destination"], made["refund_of"]) == (a_travel, payment["id"])
    assert _ok(me.get(f"/v1/transfers/{payment['id']}"))["refunded"] == cny(2_800)
    over = {**refund, "amount": cny(10_001)}
    _problem(operator.post("/v1/transfers", json=over), 422)

    # 200.00 to Bob, then 100.00 out to Alice's bank card.
    p2p = {
        "kind": "p2p",
        "source": a_main,
        "destination": b_main,
        "amount": cny(20_000),
        "memo": "AA 聚餐",
    }
    _ok(me.post("/v1/transfers", json=p2p), 201)
    withdrawal = {"kind": "withdrawal", "source": a_main, "amount": cny(10_000)}
    _ok(me.post("/v1/transfers", json=withdrawal), 201)

    # Balances and history, newest first, each entry with the balance after it.
    assert _ok(me.get(f"/v1/wallets/{a_main}"))["balance"] == cny(20_000)
    assert _ok(me.get(f"/v1/wallets/{a_travel}"))["balance"] == cny(40_000)
    assert _ok(operator.get(f"/v1/wallets/{b_main}"))["balance"] == cny(20_000)
    wallets = _ok(me.get(f"/v1/users/{alice['id']}/wallets"))
    assert [w["id"] for w in wallets] == [a_main, a_travel]  # type: ignore[index]

    history = _ok(me.get(f"/v1/wallets/{a_main}/transactions"))
    assert [
        (t["kind"], t["amount"]["value"], t["balance_after"]["value"]) for t in history["items"]
    ] == [
        ("withdrawal", -10_000, 20_000),
        ("p2p", -20_000, 30_000),
        ("allocation", -50_000, 50_000),
        ("top_up", 100_000, 100_000),
    ]
    assert history["next_cursor"] is None
    assert history["items"][1]["counterparty_wallet_id"] == b_main
    assert history["items"][1]["memo"] == "AA 聚餐"
    stamps = [t["created_at"] for t in history["items"]]
    assert stamps == sorted(stamps, reverse=True)

    page = _ok(me.get(f"/v1/wallets/{a_main}/transactions", params={"limit": 2}))
    assert [t["kind"] for t in page["items"]] == ["withdrawal", "p2p"]
    rest = _ok(
        me.get(
            f"/v1/wallets/{a_main}/transactions",
            params={"limit": 2, "cursor": page["next_cursor"]},
        )
    )
    assert [t["kind"] for t in rest["items"]] == ["allocation", "top_up"]

    trip = _ok(me.get(f"/v1/wallets/{a_travel}/transactions"))
    assert [
        (t["kind"], t["amount"]["value"], t["balance_after"]["value"]) for t in trip["items"]
    ] == [
        ("refund", 2_800, 40_000),
        ("payment", -12_800, 37_200),
        ("allocation", 50_000, 50_000),
    ]
    assert trip["items"][1]["merchant"] == {"name": "星巴克", "category": "5814"}
    received = _ok(operator.get(f"/v1/wallets/{b_main}/transactions"))["items"]
    assert [(t["kind"], t["amount"]["value"], t["counterparty_wallet_id"]) for t in received] == [
        ("p2p", 20_000, a_main)
    ]

    # Alice's token sees nothing of Bob's (404, as if absent) and no operator views (403).
    _problem(me.get(f"/v1/wallets/{b_main}"), 404)
    _problem(me.get(f"/v1/wallets/{b_main}/transactions"), 404)
    _problem(me.get(f"/v1/users/{bob['id']}"), 404)
    steal = {**withdrawal, "source": b_main}
    _problem(me.post("/v1/transfers", json=steal), 404)
    _problem(me.get("/v1/ledger/trial-balance"), 403)
    _problem(me.post(f"/v1/users/{alice['id']}/tokens"), 403)

    # A bad or missing token is 401.
    _problem(
        httpx.get(f"{base}/v1/wallets/{a_main}", headers={"Authorization": "Bearer tdu_nope"}), 401
    )
    _problem(httpx.get(f"{base}/v1/wallets/{a_main}"), 401)

    # The ledger balances: every account against its postings, every currency sums to zero.
    trial = _ok(operator.get("/v1/ledger/trial-balance"))
    assert trial["ok"] is True
    assert trial["unbalanced_entries"] == []
    assert all(a["consistent"] for a in trial["accounts"])
    assert trial["totals"] == [cny(0)]

    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text

    operator.close()
    me.close()


def _ledger_check(server: Server) -> None:
    checked = tidings(server.env, "ledger", "check", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    figures = json.loads(checked.stdout.strip().splitlines()[-1])
    assert figures["ok"] is True
    assert figures["inconsistent_accounts"] == []


def test_walkthrough_on_sqlite(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path) as server:
        walkthrough(server)
        _ledger_check(server)


@pytest.mark.postgres
def test_walkthrough_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    with running_server(postgres_url, tmp_path) as server:
        walkthrough(server)
        _ledger_check(server)


# ---------------------------------------------------------------------------------------------
# docs/walkthrough.md, run as written


def doc_blocks() -> list[tuple[str, str]]:
    """The fenced blocks of docs/walkthrough.md as (language, text), in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def doc_session() -> str:
    """The ```bash blocks, in order (```shell blocks are for the reader's other shell)."""
    blocks = [text for language, text in doc_blocks() if language == "bash"]
    assert blocks, f"no ```bash blocks in {DOC}"
    return "\n".join(blocks)


def doc_outputs() -> list[str]:
    """What the document says the bash blocks print: the json/text block after each."""
    blocks = doc_blocks()
    return [
        text
        for (before, _), (language, text) in pairwise(blocks)
        if before == "bash" and language in {"json", "text"}
    ]


def _normalise(text: str) -> str:
    """Ids and the version change from run to run; the document may also shorten ids (…)."""
    text = re.sub(r"\b(usr|wal|trf|tok)_[0-9A-Z]+…?", r"\1_…", text.replace("\r", ""))
    return re.sub(r'"version":"[^"]*"', '"version":"…"', text).strip()


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
def test_the_documented_curl_session_works(tmp_path: Path) -> None:
    script = doc_session()
    assert DOC_BASE_URL in script
    promised = re.findall(r"# → (\d{3})$", script, flags=re.M)
    assert promised, "the document promises no status codes"
    ids = ["ALICE_ID", "ALICE_WALLET", "BOB_ID", "BOB_WALLET", "TRAVEL_WALLET", "PAYMENT_ID"]
    ids.append("TOKEN")
    with running_server(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path) as server:
        session = script.replace(DOC_BASE_URL, server.base_url)
        session = session.replace(
            "Bearer dev-admin-key-change-me-0123456789", f"Bearer {ADMIN_KEY}"
        )
        session += "\n" + "".join(f'echo "captured {name}=${name}"\n' for name in ids)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", session],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output

        captured = dict(re.findall(r"^captured (\w+)=(.*)$", done.stdout, flags=re.M))
        assert set(captured) == set(ids), output
        for name, value in captured.items():
            assert re.fullmatch(r"(usr|wal|trf)_[0-9A-Z]{26}|tdu_\S+", value), (name, value)
        # Each `# → NNN` comment in the document is the status code that command printed.
        assert re.findall(r"^(\d{3})$", done.stdout, flags=re.M) == promised, output
        # And everything else it printed is what the document shows, in the same order.
        printed, position = _normalise(done.stdout), 0
        for shown in map(_normalise, doc_outputs()):
            found = printed.find(shown, position)
            assert found >= 0, f"the document shows\n{shown}\n\nbut the session printed\n{printed}"
            position = found + len(shown)

        # The session left exactly the balances the document shows.
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as operator:
            trial = _ok(operator.get("/v1/ledger/trial-balance"))
            wallet = _ok(operator.get(f"/v1/wallets/{captured['ALICE_WALLET']}"))
            travel = _ok(operator.get(f"/v1/wallets/{captured['TRAVEL_WALLET']}"))
            bob = _ok(operator.get(f"/v1/wallets/{captured['BOB_WALLET']}"))
        assert trial["ok"] is True
        # Alice's two wallets and Bob's: the other accounts are the system's own.
        assert len([a for a in trial["accounts"] if a["user_id"] is not None]) == 3
        assert (wallet["balance"], travel["balance"], bob["balance"]) == (
            cny(20_000),
            cny(40_000),
            cny(20_000),
        )
        _ledger_check(server)
