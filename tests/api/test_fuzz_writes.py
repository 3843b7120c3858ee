"""Arbitrary JSON at every write endpoint: never a 5xx, and the books stay balanced.

Hypothesis posts any JSON (any unicode, NUL and unpaired surrogates included, as escapes
and as raw bytes; any size, past the body limit too; any nesting), with keys and values
often borrowed from the real request shapes and real ids, to every POST, PUT and PATCH of
the app's own OpenAPI schema, path ids filled with a seeded user's real ids, as an operator
and as that user. After each request the trial balance must still be balanced; after a
refusal (4xx) it must be exactly what it was: a refused request moves no money.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.conftest import PG_ADMIN_DSN, _pg_url
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.kit.db import make_engine, write_transaction
from tidings.privacy.crypto import Keyring
from tidings.users import service as users
from tidings.users.schemas import UserCreate
from tidings.wallets import service as wallets
from tidings.wallets.schemas import Purpose, SubWalletCreate, TransferCreate

ADMIN_KEY = "fuzz-admin-key-0123456789abcdefghijklmnop"
DATA_KEY = "k1:" + base64.b64encode(b"\x05" * 32).decode()
LOOKUP_KEY = base64.b64encode(b"\x06" * 32).decode()
MAX_EXAMPLES = int(os.environ.get("TIDINGS_FUZZ_EXAMPLES", "150"))
"""Per database and caller; keeps the file well under 30 s on SQLite (set
`TIDINGS_FUZZ_EXAMPLES` for a longer hunt)."""
WRITE_METHODS = ("post", "put", "patch")


@dataclass
class Target:
    """The app over a seeded database, its write routes, and who may call them."""

    client: TestClient
    routes: list[tuple[str, str]]
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]
    field_names: list[str]
    schema: dict[str, Any]
    """The app's OpenAPI document (request shapes for near-valid bodies)."""


def _seed(context: AppContext) -> tuple[dict[str, str], str]:
    """A user with money in a main wallet and a sub-wallet, a payment and a token."""
    at = context.clock.now()
    with write_transaction(context.engine) as conn:
        user = wallets.create_user_with_wallet(
            conn,
            context.keyring,
            UserCreate(external_id="fuzz-1", name="王芳", phone="13912345678"),
            at=at,
            **context.user_defaults(),
        )
        sub = wallets.open_sub_wallet(
            conn,
            parent_wallet_id=user.wallet_id,
            data=SubWalletCreate(name="旅行", purpose=Purpose.TRAVEL),
            acting_user_id=None,
            at=at,
        )

        def transfer(**body: Any) -> str:
            body["amount"] = {"value": body["amount"], "currency": "CNY"}
            data = TransferCreate.model_validate(body)
            created = wallets.create_transfer(
                conn, context.keyring, data, acting_user_id=None, at=at
            )
            return created.id

        transfer(kind="top_up", destination=user.wallet_id, amount=1_000_000)
        payment = transfer(
            kind="payment",
            source=user.wallet_id,
            amount=12_800,
            merchant={"name": "星巴克", "category": "5814"},
        )
        token = users.issue_token(conn, user.id, at=at, ttl=timedelta(days=1))
    ids = {
        "user_id": user.id,
        "main_wallet_id": user.wallet_id,
        "wallet_id": sub.id,
        "transfer_id": payment,
        "token_id": token.id,
        "name": "notify.digests",
    }
    return ids, token.token


def _field_names(schema: dict[str, Any]) -> list[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema.get("components", {}))
    return sorted(names)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    workdir = tmp_path_factory.mktemp("fuzz")
    pg_name: str | None = None
    if request.param == "sqlite":
        path = workdir / "tidings.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("pg_template")
        pg_name = f"tidings_fuzz_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}" TEMPLATE "{template}"')
        url = _pg_url(pg_name)
    settings_ = Settings(
        database_url=url,
        var_dir=workdir / "var",
        admin_key=SecretStr(ADMIN_KEY),
        data_key=SecretStr(DATA_KEY),
        lookup_key=SecretStr(LOOKUP_KEY),
    )
    engine = make_engine(url)
    keyring = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)
    context = AppContext(settings=settings_, engine=engine, keyring=keyring)
    ids, token = _seed(context)
    app = create_app(context)
    schema = app.openapi()
    routes = [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    ]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Target(
            client=client,
            routes=routes,
            headers={
                "operator": {"Authorization": f"Bearer {ADMIN_KEY}"},
                "user": {"Authorization": f"Bearer {token}"},
            },
            ids=ids,
            field_names=_field_names(schema),
            schema=schema,
        )
    engine.dispose()
    if pg_name is not None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _fill(path: str, ids: dict[str, str]) -> str:
    """Every `{param}` with the seeded id of its kind (the user's id where none fits)."""
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), ids["user_id"]), path)


NASTY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=()),  # every code point, lone surrogates included
        st.sampled_from(["\x00", "\ud800", "\udfff", "\u202e", "\u200b", "\ufeff", "'", '"']),
    ),
    max_size=40,
)
EDGE_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "2026-11-24T07:30:00Z",
        "1969-12-31T23:59:59Z",
    ]
)
BIG_TEXT = st.integers(min_value=60_000, max_value=1_200_000).map(lambda n: "数" * (n // 3))


def _hints(ids: dict[str, str]) -> dict[str, list[str]]:
    """Plausible values by property name, so near-valid bodies get past the first checks."""
    wallets_ = [ids["main_wallet_id"], ids["wallet_id"]]
    kinds = ["wallet.payment.succeeded", "wallet.transfer.received", "custom.core.thing"]
    return {
        "type": kinds,
        "kind": [*kinds, "top_up", "payment", "p2p", "withdrawal", "allocation", "password"],
        "subject": [ids["user_id"]],
        "user_id": [ids["user_id"]],
        "source": [*wallets_, "urn:bank:core"],
        "destination": wallets_,
        "refund_of": [ids["transfer_id"]],
        "currency": ["CNY"],
        "phone": ["13812348000"],
        "email": ["wang@example.com"],
        "locale": ["zh-CN", "en"],
        "timezone": ["Asia/Shanghai"],
        "category": ["5814"],
        "ip": ["203.0.113.7", "::ffff:10.0.0.1"],
        "webhook_url": ["https://[64:ff9b::a00:1]/h", "https://hooks.example.com/h"],
        "body": ["{{ amount|money }}", "{% for a in range(9999) %}{{ a }}{% endfor %}"],
    }


def _from_schema(
    node: Any, target: Target, json_values: st.SearchStrategy[Any], name: str = "", depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values of a request shape, strings often poisoned: a body that passes the shape's
    easy checks and carries NUL, surrogates, format characters or edge times inward."""
    components = target.schema.get("components", {}).get("schemas", {})
    if not isinstance(node, dict) or depth > 8:
        return json_values
    if "$ref" in node:
        return _from_schema(
            components.get(node["$ref"].rsplit("/", 1)[-1], {}), target, json_values, name, depth
        )
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in node:
            branches = [b for b in node[combinator] if b.get("type") != "null"] or [{}]
            return st.one_of(
                *(_from_schema(b, target, json_values, name, depth + 1) for b in branches)
            )
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        fields = {
            key: _from_schema(value, target, json_values, key, depth + 1)
            for key, value in properties.items()
        }
        fixed = st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
        if not properties:  # free JSON (event data): any keys, any values
            return st.dictionaries(
                st.one_of(st.sampled_from(target.field_names), NASTY_TEXT), json_values, max_size=6
            )
        return fixed
    if kind == "array":
        items = _from_schema(node.get("items", {}), target, json_values, name, depth + 1)
        return st.lists(items, max_size=3)
    if kind == "integer":
        low, high = node.get("minimum", -(10**6)), node.get("maximum", 10**9)
        return st.one_of(st.integers(min_value=low, max_value=high), st.integers())
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if node.get("format") == "date-time":
            return EDGE_TIMES
        plausible = _hints(target.ids).get(name) or [*node.get("examples", []), "星巴克", "x1"]
        good = st.sampled_from(plausible)
        poisoned = st.builds(lambda text, bad: text + bad, good, NASTY_TEXT)
        return st.one_of(good, poisoned, NASTY_TEXT)
    return json_values


def _bodies(target: Target, method: str, path: str) -> st.SearchStrategy[Any]:
    ids = list(target.ids.values())
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        NASTY_TEXT,
        st.sampled_from(ids),
        EDGE_TIMES,
        st.sampled_from(["top_up", "payment", "p2p", "withdrawal", "CNY", "inbox", "sms"]),
        st.fixed_dictionaries({"value": st.integers(), "currency": st.just("CNY")}),
    )
    keys = st.one_of(st.sampled_from(target.field_names), NASTY_TEXT)
    json_values = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6)
        ),
        max_leaves=30,
    )
    deep = st.integers(min_value=50, max_value=5000).map(
        lambda n: RawBody(b'{"data": ' + b"[" * n + b"]" * n + b"}")
    )
    operation = target.schema["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    shape = content.get("application/json", {}).get("schema")
    near_valid = [_from_schema(shape, target, json_values)] * 3 if shape else []
    return st.one_of(
        *near_valid,
        st.dictionaries(keys, json_values, max_size=8),
        json_values,
        st.builds(lambda text: {"data": {"blob": text}, "name": text}, BIG_TEXT),
        deep,
    )


@dataclass(frozen=True)
class RawBody:
    """Bytes sent as they are (nesting deeper than Python's own JSON encoder goes)."""

    content: bytes


def _encode(body: Any, how: str) -> bytes:
    if isinstance(body, RawBody):
        return body.content
    if how == "escaped":  # `\ud800` and `\u0000` as JSON escapes, as most clients send them
        return json.dumps(body).encode()
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _books(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/v1/ledger/trial-balance", headers=headers)
    assert response.status_code == 200, response.text
    books: dict[str, Any] = response.json()
    assert books["ok"] is True, books
    assert books["unbalanced_entries"] == []
    assert all(total["value"] == 0 for total in books["totals"]), books["totals"]
    return books


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def _fuzz(target: Target, caller: str, data: st.DataObject) -> None:
    method, path = data.draw(st.sampled_from(target.routes), label="route")
    body = data.draw(_bodies(target, method, path), label="body")
    how = data.draw(st.sampled_from(["escaped", "raw"]), label="encoding")
    operator = target.headers["operator"]
    before = _books(target.client, operator)
    response = target.client.request(
        method,
        _fill(path, target.ids),
        content=_encode(body, how),
        headers={**target.headers[caller], "Content-Type": "application/json"},
    )
    assert response.status_code < 500, (method, path, response.status_code, response.text[:500])
    after = _books(target.client, operator)
    if 400 <= response.status_code < 500:
        assert after == before, (method, path, response.status_code, response.text[:300])


@pytest.mark.parametrize("caller", ["operator", "user"])
def test_arbitrary_json_at_every_write_endpoint_is_never_a_server_error(
    target: Target, caller: str
) -> None:
    assert len(target.routes) >= 20  # every write route of the schema, not a hand-picked few
    _fuzz(target, caller)


def test_the_fuzz_reaches_every_write_route_of_the_schema(target: Target) -> None:
    paths = {path for _, path in target.routes}
    assert {"/v1/users", "/v1/transfers", "/v1/events", "/v1/templates"} <= paths
    assert all(not re.search(r"\{\w+\}", _fill(path, target.ids)) for path in paths)
