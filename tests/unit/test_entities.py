"""The registry of synced entities: keys, and the fast path that loads plain data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from protocol.encoding import WireError
from protocol.entities import ENTITIES, Entity, Registry, fast_loader

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3),
                st.sampled_from(["1.50", "0", "-0.01", "1e3", "NaN", "Infinity", "x", "",
                                 "true", "7700000000017"]),
                st.decimals(allow_nan=True, allow_infinity=True, places=2),
                st.floats(allow_nan=False), st.lists(st.text(max_size=2), max_size=2),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                     st.integers(), max_size=1))
FAST = [e for e in ENTITIES if fast_loader(e.schema) is not None]


@st.composite
def payloads(draw: st.DrawFn, entity: Entity) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in entity.schema.load_fields:
        if draw(st.integers(0, 9)) == 0:
            continue  # missing
        data[name] = draw(ODD)
    if draw(st.booleans()):
        data["not_in_the_schema"] = draw(ODD)
    return data


def test_the_plain_entities_have_a_fast_path() -> None:
    assert {e.name for e in FAST} >= {"category", "brand", "family", "product", "store",
                                      "price", "partner_programme", "partner_card",
                                      "vip_card", "customer", "customer_card",
                                      "customer_field", "customer_policy",
                                      "customer_alert", "customer_redirect"}


@pytest.mark.parametrize("entity", FAST, ids=lambda e: e.name)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_fast_path_loads_exactly_what_marshmallow_loads(entity: Entity,
                                                            data: st.DataObject) -> None:
    payload = data.draw(payloads(entity))
    fast = fast_loader(entity.schema)
    assert fast is not None
    quick = fast(payload)
    try:
        slow = entity.schema.load(payload)
    except ValidationError:
        assert quick is None  # never accepts what the schema refuses
        return
    if quick is not None:
        assert quick == slow
        assert {k: type(v) for k, v in quick.items()} == {k: type(v) for k, v in slow.items()}


def test_a_product_loads_with_decimals_and_defaults() -> None:
    loaded = ENTITIES["product"].load("A", {"sku": "A", "name": "Apple", "vat_rate": "9.00",
                                            "sale_price": Decimal("0.50"), "active": True,
                                            "unknown": 1})
    assert loaded == {"sku": "A", "name": "Apple", "vat_rate": Decimal("9.00"),
                      "sale_price": Decimal("0.50"), "active": True, "category": None,
                      "brand": None, "family": None, "unit": None, "points_generated": None,
                      "barcodes": []}


def test_bad_data_is_a_wire_error_naming_the_entity_key_and_field() -> None:
    with pytest.raises(WireError, match=r"invalid product 'A'.*sale_price"):
        ENTITIES["product"].load("A", {"sku": "A", "name": "Apple", "vat_rate": "9",
                                       "sale_price": "NaN", "active": True})


@pytest.mark.parametrize(("name", "data", "key"), [
    ("price", {"sku": "A", "effective_from": "2026-01-01T00:00:00+00:00"},
     "A|2026-01-01T00:00:00+00:00"),
    ("price", {"sku": "A", "effective_from": None}, "A|-"),
    ("partner_card", {"programme": "U", "first": "1", "last": "9"}, "U|1|9"),
    ("receipt_profile", {"scope": "default"}, "default"),
])
def test_keys_are_the_key_fields_joined_and_split_back(name: str, data: dict[str, Any],
                                                       key: str) -> None:
    entity = ENTITIES[name]
    assert entity.key_of(data) == key
    assert entity.key_parts(key) == {f: data[f] for f in entity.key_fields}


def test_an_entity_is_registered_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        Registry(ENTITIES["brand"], ENTITIES["brand"])
    assert len(ENTITIES.with_()) == len(ENTITIES) == 27


def test_what_central_sends_takes_the_fast_path() -> None:
    from tests.unit.test_replica import SAMPLES

    for entity in FAST:
        _stream, data, _key, _rows = SAMPLES[entity.name]
        fast = fast_loader(entity.schema)
        assert fast is not None and fast(data) == entity.schema.load(data), entity.name
