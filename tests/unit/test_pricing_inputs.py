"""One builder of the engine's inputs (rules.context.pricing_inputs) for every side that
prices: the till over SQLite, central over its change log, loyalty next. Here over rows in
memory: the builder is pure, a side only loads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from rules.cards import loyalty_card_number
from rules.context import UnknownCard, pricing_inputs, profile_from_wire
from rules.pricing import BasketLine, price_basket

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def profile_row(code: str, prefix: str, percent: str, version: int) -> dict[str, Any]:
    """A ``loyalty_profile`` as the loyalty stream carries it (options loyalty's own)."""
    return {"code": code, "description": code.title(), "default": False,
            "card_prefix": prefix, "alternative_prefixes": [], "ean_prefix": None,
            "discount_percent": percent, "version": version, "accrual": {},
            "redemption": {}}


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
        self.profile_rows: list[dict[str, Any]] = [
            profile_row("CLUB", "2990", "5", 4), profile_row("PLAIN", "2991", "0", 1)]

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

    def loyalty_profiles(self) -> Iterable[Mapping[str, Any]]:
        return self.profile_rows


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


# -- the loyalty profile's discount level (SPEC L1), priced like a card --------------------

def with_cigarettes(rows: Rows) -> Rows:
    rows.products["cig"] = {"sku": "cig", "name": "Cigarettes", "category": "cigarettes",
                            "brand": None, "vat_rate": "19.00", "sale_price": "5.50",
                            "active": True}
    rows.policy_rows.append({"code": "no-tobacco", "kind": "exclusion", "version": 2,
                             "active": True, "stores": [], "groups": [],
                             "target": {"kind": "category", "codes": ["tobacco"]}})
    return rows


class WithTobacco(Rows):
    def category_parents(self) -> Mapping[str, str | None]:
        return {"bakery": "food", "food": None, "cigarettes": "tobacco", "tobacco": None}


CLUB = profile_from_wire(profile_row("CLUB", "2990", "5", 4))
BASKET = [BasketLine("bread", Decimal(2)), BasketLine("cig", Decimal(1))]


def priced(cards: list[str], profile: Any = CLUB) -> Any:
    inputs = pricing_inputs(with_cigarettes(WithTobacco()), ["bread", "cig"], cards,
                            "kiosk-1", None, NOW, profile)
    return price_basket(BASKET, inputs.catalogue, inputs.policies, inputs.cards, now=NOW)


def test_the_customers_profile_takes_its_percent_off_every_line_but_an_excluded_one() -> None:
    basket = priced([])
    bread, cig = basket.lines
    # 2 x 0.99 = 1.98, 5% = 0.10 (half-up); the cigarettes keep their price.
    assert bread.amount == Decimal("1.88")
    assert [(a.kind, a.code, a.version, a.amount, a.reason) for a in bread.adjustments] == [
        ("profile", "CLUB", 4, Decimal("0.10"), "5% loyalty profile CLUB")]
    assert cig.excluded_by == "no-tobacco" and cig.adjustments == () \
        and cig.amount == Decimal("5.50")
    assert basket.versions["profile:CLUB"] == 4
    # Without a profile nothing comes off.
    assert priced([], None).lines[0].amount == Decimal("1.98")


def test_with_a_partner_card_only_the_better_of_the_two_applies_never_both() -> None:
    # The union's 10% beats the profile's 5%: the bread gets the union's rate alone.
    bread, cig = priced(["7000000042"]).lines
    assert [(a.kind, a.code, a.amount) for a in bread.adjustments] == [
        ("partner", "UNION", Decimal("0.20"))]
    assert cig.adjustments == ()
    # A profile above the union's rate wins over the card.
    richer = profile_from_wire(profile_row("GOLD", "2992", "12", 1))
    bread, cig = priced(["7000000042"], richer).lines
    assert [(a.kind, a.code, a.amount) for a in bread.adjustments] == [
        ("profile", "GOLD", Decimal("0.24"))]
    assert cig.adjustments == ()


def test_a_scanned_chain_card_gives_its_profiles_discount_and_a_misread_one_is_refused(
        ) -> None:
    club_card = loyalty_card_number("2990", 17)
    inputs = pricing_inputs(Rows(), [], [club_card], "kiosk-1", None, NOW)
    assert [(c.kind, c.code, c.version, c.percent) for c in inputs.cards] == [
        ("profile", "CLUB", 4, Decimal("5"))]
    bread, cig = priced([club_card], None).lines
    assert bread.amount == Decimal("1.88") and cig.adjustments == ()
    # A profile without a discount level: its card is accepted and takes nothing.
    plain = pricing_inputs(Rows(), ["bread"], [loyalty_card_number("2991", 3)], "kiosk-1",
                           None, NOW)
    assert [(c.code, c.percent) for c in plain.cards] == [("PLAIN", Decimal(0))]
    assert price_basket([BasketLine("bread", Decimal(1))], plain.catalogue, plain.policies,
                        plain.cards).lines[0].adjustments == ()
    # A wrong check digit is no chain card, nor any partner's.
    wrong = club_card[:-1] + str((int(club_card[-1]) + 1) % 10)
    with pytest.raises(UnknownCard):
        pricing_inputs(Rows(), [], [wrong], "kiosk-1", None, NOW)
