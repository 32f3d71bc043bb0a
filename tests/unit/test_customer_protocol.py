"""The customer additions to the wire contract: entities, the upstream entry, the request."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from protocol import requests, upstream
from protocol.encoding import WireError
from protocol.entities import CUSTOMER_TEXT_FIELDS, ENTITIES, CustomerData
from protocol.messages import SALE, parse_sale
from protocol.streams import BUCKETS, CUSTOMERS
from rules.customers.record import STANDARD_FIELDS, Kind

CUSTOMER = "6f1c3c1e-1111-4222-8333-444455556666"
EDIT = "6f1c3c1e-1111-4222-8333-444455556667"


def test_the_customer_entities_live_in_the_customers_bucket() -> None:
    assert CUSTOMERS in BUCKETS
    assert {e.name for e in ENTITIES.in_bucket(CUSTOMERS)} == {
        "customer", "customer_card", "customer_field", "customer_policy", "customer_alert",
        "customer_redirect", "points_balance"}


def test_the_customer_entity_carries_every_standard_field_of_the_record() -> None:
    """Three lists name the record's fields (rules, the wire tuple, the schema): a field
    added to the record and forgotten on the wire would silently never reach a store."""
    consents = [n for n, spec in STANDARD_FIELDS.items() if spec.kind is Kind.CONSENT]
    assert CUSTOMER_TEXT_FIELDS == tuple(n for n in STANDARD_FIELDS if n not in consents)
    declared = CustomerData().fields
    for name in (*CUSTOMER_TEXT_FIELDS, *consents):
        assert name in declared
    for name in consents:
        assert f"{name}_at" in declared and f"{name}_store" in declared


def test_a_customer_loads_with_its_aggregates_as_decimals() -> None:
    loaded = ENTITIES["customer"].load(CUSTOMER, {"id": CUSTOMER, "first_name": "Ștefan",
                                                  "total_spend": "12.50", "visits": 2,
                                                  "average_basket": "6.25",
                                                  "extra": {"shoe_size": "42"}})
    assert loaded["total_spend"] == Decimal("12.50")
    assert loaded["average_basket"] == Decimal("6.25")
    assert loaded["extra"] == {"shoe_size": "42"} and loaded["erased"] is False


def test_a_customer_id_that_is_not_a_uuid_is_refused_naming_the_field() -> None:
    with pytest.raises(WireError, match="id"):
        ENTITIES["customer"].load("x", {"id": "not-a-uuid"})
    with pytest.raises(WireError, match="kind"):
        ENTITIES["customer_card"].load("1", {"number": "1", "customer": CUSTOMER,
                                             "kind": "gold", "active": True})


def test_a_customer_entry_reads_an_edit() -> None:
    body = upstream.read("customer", {
        "customer": CUSTOMER, "edit": EDIT, "at": "2026-11-22T08:00:00+00:00",
        "store": "kiosk-1", "changes": {"first_name": "Ana", "observation": None},
        "add_cards": [{"number": "2990000000018", "kind": "loyalty"}]})
    assert body["customer"] == uuid.UUID(CUSTOMER)
    assert body["changes"] == {"first_name": "Ana", "observation": None}
    assert body["retire_cards"] == []


@pytest.mark.parametrize("bad", [{"at": "2026-11-22T08:00:00"},  # naive clock
                                 {"add_cards": [{"number": "1", "kind": "gold"}]},
                                 {"customer": "nope"}])
def test_a_bad_customer_entry_is_a_wire_error(bad: dict[str, object]) -> None:
    body = {"customer": CUSTOMER, "edit": EDIT, "at": "2026-11-22T08:00:00+00:00",
            "store": "kiosk-1", **bad}
    with pytest.raises(WireError):
        upstream.read("customer", body)


def test_find_customer_takes_exactly_one_key() -> None:
    assert requests.read_request("find_customer", {"mobile": "+40721000000"})["mobile"]
    for body in ({}, {"card": "1", "email": "a@b.c"}):
        with pytest.raises(WireError, match="exactly one"):
            requests.read_request("find_customer", body)
    reply = requests.read_reply("find_customer", {"found": True, "customer": {"id": CUSTOMER},
                                                  "cards": []})
    assert reply["found"] and requests.read_reply("find_customer", {"found": False})[
        "customer"] is None


def test_a_sale_names_its_customer_the_same_way_on_both_readers() -> None:
    body = {"uuid": str(uuid.uuid4()), "store": "kiosk-1", "number": 1,
            "created_at": "2026-11-22T08:00:00+00:00", "total": "1.00",
            "lines": [{"sku": "A", "name": "A", "qty": "1", "unit_price": "1.00",
                       "amount": "1.00", "vat_rate": "21"}], "vat": [],
            "customer": CUSTOMER}
    assert parse_sale(body)["customer"] == SALE.load(body)["customer"] == uuid.UUID(CUSTOMER)
    assert parse_sale({**body, "customer": None})["customer"] is None
    with pytest.raises(WireError):
        parse_sale({**body, "customer": "nope"})
