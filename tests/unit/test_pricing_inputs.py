"""One builder of the engine's inputs (rules.context.pricing_inputs) for every side that
prices: the till over SQLite, central over its change log, loyalty next. Here over rows in
memory: the builder is pure, a side only loads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from rules.context import UnknownCard, pricing_inputs

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


class Rows:
    """A PricingSource over dicts, as the wire carries them."""

    def __init__(self) -> None:
        self.products = {"bread": {"sku": "bread", "name": "Bread", "category": "bakery",
                                   "brand": None, "vat_rate": "9.00", "sale_price": "1.20",
                                   "active": True, "barcodes": ["4006381333931"]}}
        self.barcodes = {"4006381333931": "bread"}
        self.price_rows = {"bread": [("prices@s:kiosk-1", {"price": "0.99",
                                                           "effective_from": None})]}
        self.programmes = {"UNION": {"code": "UNION", "percent": "10", "active": True,
                                     "version": 2, "stores": [], "groups": []}}
        self.cards = [("UNION", "7000000000", "7000009999")]
        self.policy_rows: list[dict[str, Any]] = [
            {"code": "R1", "kind": "sales_rule", "version": 1, "percent": "5",
             "active": True, "stores": ["elsewhere"], "groups": []}]

    def product(self, code: str) -> Mapping[str, Any] | None:
        return self.products.get(self.barcodes.get(code, code))

    def category_parents(self) -> Mapping[str, str | None]:
        return {"bakery": "food", "food": None}

    def prices(self, sku: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return self.price_rows.get(sku, [])

    def policies(self) -> Iterable[Mapping[str, Any]]:
        return self.policy_rows

    def vip_card(self, number: str) -> Mapping[str, Any] | None:
        return None

    def partner_cards(self, number: str) -> Iterable[tuple[str, str, str]]:
        return self.cards  # every range: the builder decides which holds the number

    def partner_programme(self, code: str) -> Mapping[str, Any] | None:
        return self.programmes.get(code)


def test_products_by_barcode_or_sku_with_the_store_price_and_unknown_codes_left_out() -> None:
    inputs = pricing_inputs(Rows(), ["4006381333931", "bread", "nothing"], [], "kiosk-1",
                            None, NOW)
    assert set(inputs.catalogue) == {"4006381333931", "bread"}
    assert inputs.catalogue["bread"].price == Decimal("0.99")
    assert "food" in inputs.catalogue["bread"].categories


def test_policies_of_other_stores_are_left_out() -> None:
    assert pricing_inputs(Rows(), [], [], "kiosk-1", None, NOW).policies.rules == ()
    assert len(pricing_inputs(Rows(), [], [], "elsewhere", None, NOW).policies.rules) == 1


def test_a_card_in_a_range_gets_its_programme_and_one_outside_is_refused() -> None:
    inputs = pricing_inputs(Rows(), [], ["7000000042"], "kiosk-1", None, NOW)
    assert [(c.kind, c.code, c.percent) for c in inputs.cards] == [
        ("partner", "UNION", Decimal("10"))]
    with pytest.raises(UnknownCard):
        pricing_inputs(Rows(), [], ["7000010000"], "kiosk-1", None, NOW)
