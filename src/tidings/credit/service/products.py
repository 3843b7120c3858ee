"""Credit products: the rates, fees, penalty, grace days, terms and methods a line lends on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.credit import repository
from tidings.credit.exceptions import InvalidDrawdown, ProductNotFound
from tidings.credit.schedule import Method
from tidings.credit.schemas import ProductIn, ProductOut
from tidings.kit.ids import new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.tables import AnyRow


def _product_out(row: AnyRow) -> ProductOut:
    return ProductOut(
        id=row.id,
        code=row.code,
        name=row.name,
        currency=row.currency,
        annual_rate_bp=row.annual_rate_bp,
        fee_bp=row.fee_bp,
        penalty_bp_per_day=row.penalty_bp_per_day,
        grace_days=row.grace_days,
        terms=list(row.terms),
        methods=[Method(m) for m in row.methods],
        min_amount=money(int(row.min_amount), row.currency),
        max_limit=money(int(row.max_limit), row.currency),
        is_default=bool(row.is_default),
    )


def list_products(conn: Connection) -> list[ProductOut]:
    return [_product_out(row) for row in repository.list_products(conn)]


def save_product(conn: Connection, data: ProductIn, *, at: datetime) -> ProductOut:
    """Create a product, or replace the terms of the one with this code; drawdowns already
    made keep the terms they were made on."""
    for field, amount in (("min_amount", data.min_amount), ("max_limit", data.max_limit)):
        if amount.currency != data.currency:
            raise CurrencyMismatch(f"must be {data.currency}", field=f"{field}.currency")
    if data.min_amount.value > data.max_limit.value:
        raise InvalidDrawdown("min_amount is above max_limit", field="min_amount")
    values = {
        "code": data.code,
        "name": data.name,
        "currency": data.currency,
        "annual_rate_bp": data.annual_rate_bp,
        "fee_bp": data.fee_bp,
        "penalty_bp_per_day": data.penalty_bp_per_day,
        "grace_days": data.grace_days,
        "terms": sorted(set(data.terms)),
        "methods": [m.value for m in dict.fromkeys(data.methods)],
        "min_amount": data.min_amount.value,
        "max_limit": data.max_limit.value,
        "is_default": data.is_default,
        "updated_at": at,
    }
    if data.is_default:
        repository.clear_default_products(conn)
    existing = repository.get_product_by_code(conn, data.code)
    if existing is None:
        repository.insert_product(conn, {**values, "id": new_id("prd"), "created_at": at})
    else:
        if existing.is_default and not data.is_default:
            values["is_default"] = True  # there is always a default; name another instead
        repository.update_product(conn, existing.id, values)
    row = repository.get_product_by_code(conn, data.code)
    assert row is not None
    return _product_out(row)


def find_product(conn: Connection, code: str | None) -> AnyRow:
    """The product with this code, or the default one when no code is given."""
    row = (
        repository.get_product_by_code(conn, code)
        if code is not None
        else repository.get_default_product(conn)
    )
    if row is None:
        raise ProductNotFound(f"no credit product {code!r}", field="product")
    return row
