"""Property-based fuzzing of the whole OpenAPI schema with every schemathesis check: no input
causes a 5xx, every answer keeps to what the document says (status codes, content types,
headers, body schemas), invalid data is refused, valid data is accepted, authentication is
enforced, and methods a path does not serve are 405 with `Allow`. One check is replaced by a
narrower one of ours (`valid_data_passes_validation`, which says why).

Schemathesis generates requests for every operation in `/openapi.json`: the schema's
examples, its boundary values (coverage phase), and random valid and deliberately invalid
data (fuzzing phase, positive and negative modes). Each is sent with the operator key to
the real app, in process over ASGI, backed by a migrated SQLite database of this module's
own. Fuzzed ids almost never exist, so hooks mix in the ids of a few seeded users, wallets
and transfers, and cut some transfers to a shape that can succeed; otherwise nearly every
case would stop at a 404 or a 422 before the code that moves money.

The schema comes from a fixture (`schemathesis.pytest.from_fixture`), so each test is one
pytest item that runs every operation as a subtest. (With `@schema.parametrize()` on a
module-level schema, schemathesis 4.32 under pytest 9 gives every operation the same node
id, and pytest-xdist, which `make test` uses, then runs only one of them.)

Bounded (`MAX_EXAMPLES` per operation and phase) so the file runs in well under two minutes
on two cores. A failure prints the request as curl and the response.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError
from schemathesis import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tidings.api.strict import validate_json_value
from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.credit.schemas import RepaymentCreate
from tidings.kit.db import make_engine, write_transaction
from tidings.kit.migrate import upgrade
from tidings.privacy.crypto import Keyring
from tidings.users import service as users
from tidings.users.schemas import UserCreate
from tidings.wallets import service as wallets
from tidings.wallets.schemas import Purpose, SubWalletCreate, TransferCreate

ADMIN_KEY = "schemathesis-admin-key-0123456789abcdefghij"
DATA_KEY = "k1:" + base64.b64encode(b"\x03" * 32).decode()
LOOKUP_KEY = base64.b64encode(b"\x04" * 32).decode()
MAX_EXAMPLES = 25
"""Per operation and phase."""
MAX_TRANSFER_EXAMPLES = 150
"""For POST /v1/transfers, where the money moves."""


# Formats the schema names for values JSON Schema cannot pin down (a valid phone number, a
# locale Babel knows): generated as real values, so valid data is valid.
schemathesis.openapi.format(
    "phone", st.sampled_from(["13812348000", "+8613912345678", "+14155550123", "021 6212 3456"])
)
schemathesis.openapi.format("locale", st.sampled_from(["zh-CN", "en", "en-GB", "zh_Hant_TW"]))


class OperatorKey:
    """Every case is sent with the operator key, as explicit credentials: `ignored_auth` then
    checks that the same request without them, or with wrong ones, is refused."""

    def get(self, case: schemathesis.Case[Any], context: Any) -> str:
        return ADMIN_KEY

    def set(self, case: schemathesis.Case[Any], data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@dataclass
class Seed:
    """Real ids: two users, each with money, a travel sub-wallet, a payment and a token."""

    users: list[str] = field(default_factory=list)
    mains: list[str] = field(default_factory=list)
    subs: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    @property
    def wallets(self) -> list[str]:
        return self.mains + self.subs


def _seed(context: AppContext) -> Seed:
    seed = Seed()
    at = context.clock.now()

    def transfer(conn: Any, **body: Any) -> str:
        body["amount"] = {"value": body["amount"], "currency": "CNY"}
        data = TransferCreate.model_validate(body)
        return wallets.create_transfer(conn, context.keyring, data, acting_user_id=None, at=at).id

    with write_transaction(context.engine) as conn:
        for n, (name, phone) in enumerate((("王芳", "13912345678"), ("李伟", "13812348000"))):
            data = UserCreate(external_id=f"seed-{n}", name=name, phone=phone)
            user = wallets.create_user_with_wallet(
                conn, context.keyring, data, at=at, **context.user_defaults()
            )
            sub = wallets.open_sub_wallet(
                conn,
                parent_wallet_id=user.wallet_id,
                data=SubWalletCreate(name="旅行", purpose=Purpose.TRAVEL),
                acting_user_id=None,
                at=at,
            )
            token = users.issue_token(conn, user.id, at=at, ttl=timedelta(days=1))
            seed.users.append(user.id)
            seed.mains.append(user.wallet_id)
            seed.subs.append(sub.id)
            seed.tokens.append(token.id)
            seed.transfers.append(
                transfer(conn, kind="top_up", destination=user.wallet_id, amount=10_000_000)
            )
            seed.transfers.append(
                transfer(
                    conn,
                    kind="allocation",
                    source=user.wallet_id,
                    destination=sub.id,
                    amount=50_000,
                )
            )
            merchant = {"name": "星巴克", "category": "5814"}
            for source in (user.wallet_id, sub.id):
                paid = transfer(
                    conn, kind="payment", source=source, amount=12_800, merchant=merchant
                )
                seed.payments.append(paid)
    seed.transfers += seed.payments
    return seed


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenApiSchema]:
    """The app's schema, over a migrated and seeded SQLite database, with the hooks below."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    settings_ = Settings(
        database_url=f"sqlite:///{workdir / 'tidings.db'}",
        var_dir=workdir / "var",
        admin_key=SecretStr(ADMIN_KEY),
        data_key=SecretStr(DATA_KEY),
        lookup_key=SecretStr(LOOKUP_KEY),
    )
    engine = make_engine(settings_.database_url)
    upgrade(engine)
    keyring = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)
    context = AppContext(settings=settings_, engine=engine, keyring=keyring)
    seed = _seed(context)

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(context))
    schema.auth()(OperatorKey)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",  # no .hypothesis/ directory; every run starts fresh
        # The API refuses a NUL in any string (documented, and fuzzed in test_inputs.py and
        # test_fuzz_writes.py); JSON Schema has no way to say so of every string.
        allow_x00=False,
        # The operator key comes from `OperatorKey`; generated credentials would only be
        # replaced by it.
        with_security_parameters=False,
    )
    schema.config.checks.update(
        included_check_names=ALL_CHECKS_BUT_ONE["included"],
        excluded_check_names=ALL_CHECKS_BUT_ONE["excluded"],
    )
    _register_hooks(schema, seed)
    yield schema
    engine.dispose()


def _register_hooks(schema: OpenApiSchema, seed: Seed) -> None:
    path_ids = {
        "user_id": seed.users,
        "wallet_id": seed.wallets,
        "transfer_id": seed.transfers,
        "token_id": seed.tokens,
    }
    body_ids = {"source": seed.wallets, "destination": seed.wallets, "refund_of": seed.transfers}

    @schema.hook
    def flatmap_path_parameters(
        _: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        """Each id in the path: the generated one or a real one."""
        if not path_parameters:
            return st.just(path_parameters)
        return st.fixed_dictionaries(
            {
                name: st.sampled_from([value, *path_ids.get(name, [])])
                for name, value in path_parameters.items()
            }
        )

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        """Ids in a body as generated or real; transfers also cut to a shape that may succeed.
        Only valid bodies: an invalid one (the negative phase) must stay as invalid as it is."""
        if not isinstance(body, dict) or not body_ids.keys() & body.keys():
            return st.just(body)
        operation = context.operation
        model = BODY_MODELS.get(operation.path) if operation is not None else None
        if model is None or not _valid(model, body):
            return st.just(body)
        mixed = st.fixed_dictionaries(
            {
                key: st.sampled_from([value, *body_ids[key]]) if key in body_ids else st.just(value)
                for key, value in body.items()
            }
        )
        if operation is not None and operation.path == "/v1/transfers" and "kind" in body:
            return st.one_of(mixed, _shaped_transfer(seed, body))
        return mixed

    @schema.hook
    def flatmap_headers(
        _: schemathesis.HookContext, headers: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        """Generated Idempotency-Keys repeat ("0"): most writes would replay or conflict (409)."""
        if not headers or not _valid_idempotency_key(headers.get("Idempotency-Key")):
            return st.just(headers)  # none, or an invalid one the negative phase wants sent
        without = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
        return st.sampled_from([headers, without])


BODY_MODELS: dict[str, type[BaseModel]] = {
    "/v1/transfers": TransferCreate,
    "/v1/credit/repayments": RepaymentCreate,
}
"""The bodies whose ids the hooks mix with real ones."""


def _valid(model: type[BaseModel], body: Any) -> bool:
    try:
        validate_json_value(model, body)
    except ValidationError:
        return False
    return True


def _valid_idempotency_key(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[\x21-\x7e]{1,255}", value) is not None


def _shaped_transfer(seed: Seed, body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The generated transfer cut to what its kind takes, between real wallets."""
    kind = body["kind"]
    ends: dict[str, list[dict[str, str]]] = {
        "top_up": [{"destination": w} for w in seed.wallets],
        "payment": [{"source": w} for w in seed.wallets],
        "withdrawal": [{"source": w} for w in seed.wallets],
        "p2p": [
            {"source": seed.mains[0], "destination": seed.mains[1]},
            {"source": seed.mains[1], "destination": seed.mains[0]},
        ],
        "allocation": [
            pair
            for main, sub in zip(seed.mains, seed.subs, strict=True)
            for pair in ({"source": main, "destination": sub}, {"source": sub, "destination": main})
        ],
        "refund": [{"refund_of": p} for p in seed.payments],
    }
    if kind not in ends:
        return st.just(body)
    extra: dict[str, Any] = {}
    if kind == "payment":
        extra["merchant"] = body.get("merchant") or {"name": "美团外卖", "category": "5812"}
    if body.get("memo") is not None:
        extra["memo"] = body["memo"]
    amount = body.get("amount")
    generated = amount.get("value") if isinstance(amount, dict) else None
    values = [generated] if isinstance(generated, int) and generated > 0 else []
    amounts = st.sampled_from([{"value": v, "currency": "CNY"} for v in [*values, 100, 12_800]])
    return st.builds(
        lambda chosen, money: {"kind": kind, "amount": money, **chosen, **extra},
        st.sampled_from(ends[kind]),
        amounts,
    )


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture(autouse=True)
def _legacy_node_id(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32 labels subtests through `node._nodeid`, which pytest 9 no longer has."""
    node: Any = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


class ValidDataRefused(AssertionError):
    """Schema-valid data was refused as invalid."""


def valid_data_passes_validation(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> None:
    """Schema-valid data is never refused as malformed or invalid (400, 415, or a 422 of type
    `validation`): what the schema allows, validation allows.

    This stands in for schemathesis's `positive_data_acceptance`, which takes every 422 as
    a refusal of valid data. Here a 422 is also how a business rule answers (API.md): not
    enough money, a currency other than the wallet's, a time outside its window, an amount
    over `TIDINGS_MAX_AMOUNT`. Those depend on stored state, which no schema can describe,
    so the built-in check cannot hold for this API; this one holds it to everything else.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if response.status_code not in {400, 415, 422}:
        return
    problem = response.json()
    kind = problem.get("type", "") if isinstance(problem, dict) else ""
    if response.status_code == 422 and not kind.endswith("/validation"):
        return  # a business rule refused it
    if response.status_code == 422 and _only_beyond_json_schema(problem, case.body):
        return
    raise ValidDataRefused(f"schema-valid data refused: {response.status_code} {problem}")


BEYOND_JSON_SCHEMA = {
    "phone": "a phone number's validity (its numbering plan); the schema names it "
    "`format: phone`, and the fuzzing phase draws real numbers, the coverage phase does not",
    "locale": "a locale Babel knows (`format: locale`), likewise",
    "variants": "a campaign's variant keys, each once: `uniqueItems` compares whole variants, "
    "not one property of them",
    "questions": "a survey's question ids, each once, likewise",
}
"""Fields whose validity JSON Schema cannot state."""


def _only_beyond_json_schema(problem: dict[str, Any], body: Any) -> bool:
    """Whether every field the 422 names is one JSON Schema cannot validate, or an integer
    written as a whole float (`12800.0`): JSON Schema counts that as an integer, the API
    does not (Money is never a float) and no generated client writes one."""
    whole_floats = set(_whole_float_paths(body))
    fields = [error.get("field", "") for error in problem.get("errors", [])]
    return bool(fields) and all(
        field.rsplit(".", 1)[-1] in BEYOND_JSON_SCHEMA or field in whole_floats for field in fields
    )


def _whole_float_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, float) and value.is_integer():
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _whole_float_paths(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _whole_float_paths(child, f"{path}.{index}" if path else str(index))


ALL_CHECKS_BUT_ONE = {"included": ["all"], "excluded": ["positive_data_acceptance"]}
"""Every check schemathesis has, except `positive_data_acceptance`, which
`valid_data_passes_validation` replaces (see there why)."""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
def test_every_operation_keeps_its_documented_contract(case: schemathesis.Case[Any]) -> None:
    """All checks: no 5xx, every status and content type documented, bodies and headers
    conform to their schemas, invalid data refused, valid data accepted, auth enforced,
    unsupported methods answered 405 with `Allow`."""
    case.call_and_validate(additional_checks=[valid_data_passes_validation])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@settings(max_examples=MAX_TRANSFER_EXAMPLES)
@schema.include(method="POST", path="/v1/transfers").parametrize()
def test_every_transfer_keeps_its_documented_contract(case: schemathesis.Case[Any]) -> None:
    """Where the money moves, a few more examples."""
    case.call_and_validate(additional_checks=[valid_data_passes_validation])
