"""The fast sale reader agrees with the sale schema: same result, or it leaves the body to it."""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from protocol import sale_body
from protocol.messages import SALE, parse_sale


def well_formed() -> dict[str, Any]:
    return {
        "uuid": str(uuid.UUID(int=7)), "store": "kiosk-1", "number": 12,
        "created_at": "2026-11-22T09:30:00.250000+02:00", "till": "T1", "cashier": "ann",
        "lines": [{"sku": "BREAD", "barcode": "4006381333931", "name": "Bread", "qty": "2",
                   "unit_price": "1.15", "amount": "2.07", "vat_rate": "9.00",
                   "gross": "2.30", "excluded_by": None,
                   "adjustments": [{"kind": "rule", "code": "sales", "amount": "-0.23"}]},
                  {"sku": "MILK", "name": "Milk", "qty": 1, "unit_price": "1.49",
                   "amount": "1.49", "vat_rate": "9"}],
        "total": "3.56", "discount": "0.23",
        "vat": [{"rate": "9.00", "gross": "3.56", "net": "3.27", "vat": "0.29"}],
        "payments": [{"method": "cash", "amount": "5.00"}],
        "cards": ["7700000000017"], "streams": {"catalog": 3, "prices": 9},
        "versions": {"catalog": 3}, "unknown_field": {"ignored": True},
    }


def schema(body: Any) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = SALE.load(body)
    except ValidationError:
        return None
    return loaded


def test_a_well_formed_sale_reads_as_the_schema_reads_it() -> None:
    body = well_formed()
    fast = sale_body.read(body)
    assert fast is not None and fast == schema(body)
    minimal = {k: v for k, v in body.items()
               if k in ("uuid", "store", "number", "created_at", "lines", "total", "vat")}
    assert sale_body.read(minimal) == schema(minimal) is not None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "x", "1.5", " 2 ", "1_000", "NaN", "-Infinity", "1e999", "sNaN",
                       "2026-11-22T09:30:00", "2026-11-22T09:30:00Z", "2026-11-22",
                       "2026-11-22 09:30:00+01:00", str(uuid.UUID(int=1)),
                       "{12345678-1234-5678-1234-567812345678}", "12"]) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, prefix + (index,))
    return found


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_damaged_sale_is_read_alike_or_left_to_the_schema(data: st.DataObject) -> None:
    body = well_formed()
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(body)))
        parent = body
        for step in where[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(JSON)
    expected = schema(copy.deepcopy(body))
    fast = sale_body.read(body)
    assert fast is None or fast == expected
    if expected is None:
        assert fast is None


@pytest.mark.parametrize("body", [None, [], "sale", 3])
def test_what_is_not_an_object_is_left_to_the_schema(body: Any) -> None:
    assert sale_body.read(body) is None


def test_parse_sale_still_explains_a_bad_sale() -> None:
    from protocol.encoding import WireError
    body = well_formed()
    del body["total"]
    with pytest.raises(WireError, match="total"):
        parse_sale(body)


def test_a_sale_with_loyalty_is_left_to_the_schema_which_reads_it() -> None:
    body = well_formed()
    body["loyalty"] = {"profile": "GOLD", "profile_version": 3, "points": "12.5",
                       "gifts": [{"line": 0, "points": "150"}]}
    assert sale_body.read(body) is None
    loaded = schema(body)
    assert loaded is not None
    assert loaded["loyalty"] == {"profile": "GOLD", "profile_version": 3,
                                 "points": Decimal("12.5"),
                                 "gifts": [{"line": 0, "points": Decimal("150")}]}
    for bad in ({"profile": "", "profile_version": 3},
                {"profile": "GOLD", "profile_version": 0},
                {"profile": "GOLD", "profile_version": 1, "gifts": [{"line": 0, "points": "0"}]},
                {"profile": "GOLD", "profile_version": 1, "gifts": [{"line": -1, "points": "5"}]}):
        assert schema({**body, "loyalty": bad}) is None, bad
