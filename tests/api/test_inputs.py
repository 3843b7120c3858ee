"""What no request may carry, refused as a problem naming the field, on both databases:
NUL and unpaired surrogates anywhere, moments UTC cannot hold, bodies past the size limits,
and invisible format characters in text a person reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import cny, create_user, payment_event, top_up


def outbox_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())


def post_raw(client: TestClient, method: str, path: str, body: str) -> Any:
    """Send `body` exactly as written: JSON escapes like `\\u0000` stay escapes on the wire."""
    return client.request(
        method, path, content=body.encode(), headers={"Content-Type": "application/json"}
    )


def assert_refused(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}, response.text


@pytest.fixture
def member(client: TestClient) -> dict[str, Any]:
    user = create_user(client)
    top_up(client, user["wallet_id"], 100_000)
    return user


def _bodies(user: dict[str, Any], bad: str) -> list[tuple[str, str, str, str]]:
    """(method, path, raw JSON body, the field it names) with `bad` (a JSON escape) inside."""
    event = json.dumps(payment_event(user["id"], note="@BAD@"))
    nested = json.dumps(payment_event(user["id"], extra={"deep": ["ok", "@BAD@"]}))
    return [
        ("POST", "/v1/users", '{"external_id": "x-1", "name": "张@BAD@三"}', "name"),
        ("POST", "/v1/events", event, "data.note"),
        ("POST", "/v1/events", nested, "data.extra.deep.1"),
        ("POST", "/v1/messages/verify", '{"code": "AB@BAD@CD"}', "code"),
        ("POST", "/v1/messages/verify", '{"text": "【Tidings】@BAD@"}', "text"),
        (
            "PUT",
            f"/v1/users/{user['id']}/preferences",
            '{"webhook_url": "https://hooks.example.com/@BAD@"}',
            "webhook_url",
        ),
        (
            "POST",
            "/v1/transfers",
            json.dumps(
                {
                    "kind": "payment",
                    "source": user["wallet_id"],
                    "amount": cny(100),
                    "merchant": {"name": "星巴克@BAD@", "category": "5814"},
                }
            ),
            "merchant.name",
        ),
        (
            "POST",
            f"/v1/wallets/{user['wallet_id']}/sub-wallets",
            '{"name": "旅行@BAD@", "purpose": "travel"}',
            "name",
        ),
    ]


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff"], ids=["nul", "high", "low"])
def test_nul_byte_in_any_string_is_422_naming_the_field(
    client: TestClient, engine: Engine, member: dict[str, Any], escape: str
) -> None:
    """The JSON escape reaches the server as it would from any client; a NUL and a lone
    surrogate are refused alike, wherever they are, before anything is stored."""
    before = outbox_count(engine)
    for method, path, body, field in _bodies(member, escape):
        raw = body.replace("@BAD@", escape)
        assert_refused(post_raw(client, method, path, raw), field)
    assert outbox_count(engine) == before


def test_nul_in_a_key_of_event_data_is_refused_naming_data(
    client: TestClient, member: dict[str, Any]
) -> None:
    body = json.dumps(payment_event(member["id"])).replace('"amount"', '"am\\u0000ount"', 1)
    assert_refused(post_raw(client, "POST", "/v1/events", body), "data")


def test_surrogate_bytes_in_free_json_are_refused(
    client: TestClient, member: dict[str, Any]
) -> None:
    """Not only the escape: the UTF-8 bytes of a surrogate (which Python's JSON decoder lets
    through) are refused the same way."""
    body = json.dumps(payment_event(member["id"], note="X"), ensure_ascii=False).encode()
    raw = body.replace(b'"X"', b'"\xed\xa0\x80"')
    response = client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
    assert_refused(response, "data.note")


def test_nul_in_a_query_parameter_is_422_naming_it(
    client: TestClient, member: dict[str, Any]
) -> None:
    assert_refused(client.get("/v1/templates", params={"kind": "a\x00b"}), "kind")
    assert_refused(client.get(f"/v1/users/{member['id']}/inbox?cursor=%00"), "cursor")


EDGES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]


@pytest.mark.parametrize("moment", EDGES)
def test_year_one_with_offset_is_422(
    client: TestClient, engine: Engine, member: dict[str, Any], moment: str
) -> None:
    """Times UTC cannot represent, in every place a request carries a moment."""
    before = outbox_count(engine)
    event = payment_event(member["id"])
    event["time"] = moment
    assert_refused(client.post("/v1/events", json=event), "time")
    event = payment_event(member["id"], "core-2", occurred_at=moment)
    assert_refused(client.post("/v1/events", json=event), "data.occurred_at")
    login = {"device_id": "phone-1", "ip": "203.0.113.7", "at": moment}
    assert_refused(client.post(f"/v1/users/{member['id']}/logins", json=login), "at")
    change = {"kind": "password", "at": moment}
    assert_refused(client.post(f"/v1/users/{member['id']}/security-changes", json=change), "at")
    assert_refused(client.post("/v1/jobs/credit.overdue/runs", json={"as_of": moment}), "as_of")
    for name in ("since", "until"):
        listing = client.get(f"/v1/wallets/{member['wallet_id']}/transactions?{name}={moment}")
        assert_refused(listing, name)
    assert outbox_count(engine) == before


def test_body_over_limit_is_413_before_parsing(client: TestClient, engine: Engine) -> None:
    """Not JSON at all, yet 413, not 400: the size is judged before anything is parsed, by
    the Content-Length, or by counting a chunked body as it streams."""
    limit = client.app.state.context.settings.max_body_bytes  # type: ignore[attr-defined]
    assert limit == 1_048_576
    oversized = b"{" + b"x" * limit
    response = client.post("/v1/events", content=oversized)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 65_536

    streamed = client.post("/v1/events", content=chunks())
    assert streamed.status_code == 413, streamed.text
    assert outbox_count(engine) == 0


def test_event_data_over_64_kb_is_422_naming_data(
    client: TestClient, engine: Engine, member: dict[str, Any]
) -> None:
    """Under the body limit, but more than any notice needs, and copied into every delivery."""
    before = outbox_count(engine)
    event = payment_event(member["id"], attachment="x" * (64 * 1024))
    assert_refused(client.post("/v1/events", json=event), "data")
    assert outbox_count(engine) == before
    fits = payment_event(member["id"], "core-2", attachment="x" * (60 * 1024))
    assert client.post("/v1/events", json=fits).status_code == 202


SPOOFS = {
    "rlo": "\u202e",
    "lri": "\u2066",
    "lrm": "\u200e",
    "alm": "\u061c",
    "zwsp": "\u200b",
    "zwj": "\u200d",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
}


@pytest.mark.parametrize("char", SPOOFS.values(), ids=SPOOFS.keys())
def test_bidi_controls_in_merchant_name_are_refused(
    client: TestClient, engine: Engine, member: dict[str, Any], char: str
) -> None:
    """A merchant "星巴克<RLO>生医" would read as another payee in the SMS; refused, never
    stripped, wherever a name a person reads comes in."""
    before = outbox_count(engine)
    payment = {
        "kind": "payment",
        "source": member["wallet_id"],
        "amount": cny(100),
        "merchant": {"name": f"星巴克{char}生医", "category": "5814"},
    }
    assert_refused(client.post("/v1/transfers", json=payment), "merchant.name")
    memo = {**payment, "merchant": {"name": "星巴克"}, "memo": f"午餐{char}"}
    assert_refused(client.post("/v1/transfers", json=memo), "memo")
    assert_refused(
        client.post("/v1/users", json={"external_id": "s", "name": f"张{char}三"}), "name"
    )
    renamed = client.patch(f"/v1/users/{member['id']}", json={"name": f"李{char}四"})
    assert_refused(renamed, "name")
    event = payment_event(member["id"], merchant={"name": f"星巴克{char}", "category": "5814"})
    assert_refused(client.post("/v1/events", json=event), "data.merchant.name")
    assert outbox_count(engine) == before
