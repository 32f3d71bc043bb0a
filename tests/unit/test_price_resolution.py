"""From synchronised rows to the engine's values: prices in force, products, cards, policies."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from rules.context import (
    UnknownCard,
    ancestors,
    partner_discount,
    price_scope,
    product_from_wire,
    vip_discount,
)
from rules.policies import (
    CardDiscount,
    Exclusion,
    Period,
    PolicyError,
    PriceEntry,
    Promotion,
    SalesRule,
    Target,
    card_in_range,
    policies_from_wire,
    policy_from_wire,
    resolve_price,
)
from rules.pricing import BasketLine, price_basket

D = Decimal
NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
MICRO = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


# -- resolve_price ----------------------------------------------------------------------------

def entry(price: str, scope: str = "all", at: dt.datetime | None = None) -> PriceEntry:
    return PriceEntry(D(price), scope, at)  # type: ignore[arg-type]


BASE = entry("2.00")


@pytest.mark.parametrize("entries, expected", [
    pytest.param([BASE], "2.00", id="base-only"),
    pytest.param([BASE, entry("1.80", "group")], "1.80", id="group-beats-all"),
    pytest.param([BASE, entry("1.80", "group"), entry("1.70", "store")], "1.70",
                 id="store-beats-group-beats-all"),
    pytest.param([entry("1.70", "store"), entry("1.80", "group"), BASE], "1.70",
                 id="store-beats-group-beats-all-listed-backwards"),
    pytest.param([BASE, entry("1.70", "store")], "1.70", id="store-without-group"),
    pytest.param([BASE, entry("1.70", "store", NOW - 10 * DAY), entry("1.80", "group", NOW - DAY),
                  entry("1.90", "all", NOW - SECOND)], "1.70",
                 id="older-store-price-still-beats-newer-group-and-all"),
    pytest.param([BASE, entry("2.20", at=NOW - 2 * DAY), entry("2.40", at=NOW - DAY)], "2.40",
                 id="latest-in-force-within-a-scope"),
    pytest.param([entry("2.40", at=NOW - DAY), entry("2.20", at=NOW - 2 * DAY), BASE], "2.40",
                 id="latest-in-force-whatever-the-order"),
    pytest.param([BASE, entry("2.50", at=NOW + SECOND)], "2.00", id="future-ignored"),
    pytest.param([BASE, entry("1.80", "group"), entry("1.70", "store", NOW + DAY)], "1.80",
                 id="future-store-price-leaves-the-group-price"),
    pytest.param([BASE, entry("2.50", at=NOW)], "2.50", id="taken-exactly-at-its-moment"),
    pytest.param([BASE, entry("2.50", at=NOW + MICRO)], "2.00", id="a-microsecond-early"),
    pytest.param([BASE, entry("1.70", "store", NOW)], "1.70", id="store-at-its-moment"),
    pytest.param([entry("2.50", at=NOW + DAY)], None, id="only-future"),
    pytest.param([], None, id="nothing"),
])
def test_resolve_price(entries: list[PriceEntry], expected: str | None) -> None:
    result = resolve_price(entries, NOW)
    assert result == (None if expected is None else D(expected))


def test_resolve_price_does_not_depend_on_the_order_of_entries() -> None:
    entries = [BASE, entry("2.10", at=NOW - DAY), entry("1.90", "group"),
               entry("1.85", "group", NOW - DAY), entry("1.75", "store", NOW - 2 * DAY),
               entry("1.60", "store", NOW + SECOND)]
    assert {resolve_price(order, NOW) for order in itertools.permutations(entries)} == {
        D("1.75")}


@pytest.mark.parametrize("moment, expected", [
    pytest.param(NOW - MICRO, "2.00", id="before-the-change"),
    pytest.param(NOW, "2.50", id="at-the-change"),
    pytest.param(NOW + DAY - MICRO, "2.50", id="just-before-the-store-price"),
    pytest.param(NOW + DAY, "2.30", id="at-the-store-price"),
    pytest.param(NOW + 30 * DAY, "2.30", id="long-after"),
])
def test_a_schedule_of_prices_switches_at_each_moment(moment: dt.datetime,
                                                      expected: str) -> None:
    entries = [BASE, entry("2.50", at=NOW), entry("2.30", "store", NOW + DAY)]
    assert resolve_price(entries, moment) == D(expected)


# -- categories and products ------------------------------------------------------------------

PARENTS: dict[str, str | None] = {
    "food": None, "dairy": "food", "cheese": "dairy", "tobacco": None,
    "cigarettes": "tobacco", "loop-a": "loop-b", "loop-b": "loop-a", "self": "self",
    "tail": "loop-a",
}


@pytest.mark.parametrize("code, expected", [
    pytest.param("cheese", ("cheese", "dairy", "food"), id="three-levels"),
    pytest.param("cigarettes", ("cigarettes", "tobacco"), id="two-levels"),
    pytest.param("food", ("food",), id="top"),
    pytest.param("orphan", ("orphan",), id="unknown-parent-map-entry"),
    pytest.param(None, (), id="no-category"),
    pytest.param("loop-a", ("loop-a", "loop-b"), id="two-cycle-cut"),
    pytest.param("self", ("self",), id="self-parent-cut"),
    pytest.param("tail", ("tail", "loop-a", "loop-b"), id="path-into-a-cycle"),
])
def test_ancestors(code: str | None, expected: tuple[str, ...]) -> None:
    assert ancestors(code, PARENTS) == expected


@pytest.mark.parametrize("stream, scope", [
    ("prices", "all"), ("prices@g:north", "group"), ("prices@s:kiosk-1", "store"),
])
def test_price_scope(stream: str, scope: str) -> None:
    assert price_scope(stream) == scope


def product_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"sku": "CIG", "name": "Cigarettes", "category": "cigarettes",
                           "brand": "smokey", "family": None, "vat_rate": "21",
                           "sale_price": "5.50", "active": True, "barcodes": ["5400000000011"]}
    row.update(changes)
    return row


def price_row(price: str, at: dt.datetime | None = None) -> dict[str, Any]:
    return {"sku": "CIG", "price": price, "effective_from": None if at is None else iso(at)}


def test_product_from_wire_builds_the_engine_product() -> None:
    product = product_from_wire(product_row(), PARENTS, [], NOW)
    assert product.sku == "CIG" and product.name == "Cigarettes"
    assert product.price == D("5.50") and product.vat_rate == D(21)
    assert product.categories == ("cigarettes", "tobacco")
    assert (product.brand, product.family, product.active) == ("smokey", None, True)


@pytest.mark.parametrize("row, expected", [
    pytest.param({"category": "cheese"}, ("cheese", "dairy", "food"), id="ancestors"),
    pytest.param({"category": None}, (), id="no-category"),
    pytest.param({"category": "loop-a"}, ("loop-a", "loop-b"), id="cycle-safe"),
])
def test_product_categories_carry_their_ancestors(row: dict[str, Any],
                                                  expected: tuple[str, ...]) -> None:
    assert product_from_wire(product_row(**row), PARENTS, [], NOW).categories == expected


def test_an_inactive_product_stays_inactive() -> None:
    assert product_from_wire(product_row(active=False), PARENTS, [], NOW).active is False


@pytest.mark.parametrize("prices, moment, expected", [
    pytest.param([], NOW, "5.50", id="sale-price"),
    pytest.param([("prices", price_row("5.40"))], NOW, "5.40", id="chain-price-overrides"),
    pytest.param([("prices", price_row("5.40")), ("prices@g:north", price_row("5.30"))], NOW,
                 "5.30", id="group-price"),
    pytest.param([("prices@s:kiosk-1", price_row("5.20")), ("prices@g:north", price_row("5.30")),
                  ("prices", price_row("5.40"))], NOW, "5.20", id="store-price"),
    pytest.param([("prices@s:kiosk-1", price_row("5.90", NOW))], NOW - SECOND, "5.50",
                 id="scheduled-not-yet"),
    pytest.param([("prices@s:kiosk-1", price_row("5.90", NOW))], NOW, "5.90",
                 id="scheduled-at-its-moment"),
    pytest.param([("prices", price_row("5.60", NOW - DAY)), ("prices", price_row("5.70", NOW))],
                 NOW, "5.70", id="latest-scheduled-in-force"),
    pytest.param([("prices", price_row("5.60", NOW - DAY)), ("prices", price_row("5.70", NOW))],
                 NOW - SECOND, "5.60", id="earlier-scheduled-in-force"),
    pytest.param([("prices", price_row("5.70",
                                       dt.datetime(2025, 6, 15, 14, tzinfo=dt.timezone(
                                           dt.timedelta(hours=2)))))],
                 NOW, "5.70", id="moment-with-another-offset"),
])
def test_product_price_in_force(prices: list[tuple[str, dict[str, Any]]], moment: dt.datetime,
                                expected: str) -> None:
    assert product_from_wire(product_row(), PARENTS, prices, moment).price == D(expected)


def test_a_wire_product_under_an_excluded_parent_category_is_excluded() -> None:
    product = product_from_wire(product_row(), PARENTS, [], NOW)
    priced = price_basket([BasketLine("CIG", D(1))], {"CIG": product},
                          policies_from_wire([TOBACCO_ROW], "kiosk-1", "north"),
                          [CardDiscount("partner", "ABCDEF", 1, D(5))], now=NOW)
    assert priced.lines[0].excluded_by == "TOBACCO"
    assert priced.total == D("5.50")


# -- partner programmes and VIP cards ---------------------------------------------------------

def programme(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"code": "ABCDEF", "name": "Union card", "percent": "5",
                           "version": 3, "active": True, "stores": [], "groups": [],
                           "valid_from": None, "valid_until": None}
    row.update(changes)
    return row


@pytest.mark.parametrize("row, store, group, moment", [
    pytest.param(programme(), "kiosk-1", "north", NOW, id="every-store"),
    pytest.param(programme(stores=["kiosk-1"]), "kiosk-1", None, NOW, id="listed-store"),
    pytest.param(programme(groups=["north"]), "kiosk-1", "north", NOW, id="listed-group"),
    pytest.param(programme(stores=["market"], groups=["north"]), "kiosk-1", "north", NOW,
                 id="group-listed-store-not"),
    pytest.param(programme(valid_from=iso(NOW)), "kiosk-1", None, NOW, id="from-now"),
    pytest.param(programme(valid_until=iso(NOW + MICRO)), "kiosk-1", None, NOW,
                 id="until-just-after-now"),
    pytest.param(programme(valid_from=iso(NOW - DAY), valid_until=iso(NOW + DAY)), "kiosk-1",
                 None, NOW, id="inside-its-period"),
])
def test_a_partner_card_gives_its_programme_discount(row: dict[str, Any], store: str,
                                                     group: str | None,
                                                     moment: dt.datetime) -> None:
    card = partner_discount("2012345678", row, store, group, moment)
    assert card == CardDiscount("partner", "ABCDEF", 3, D(5))


def test_a_programme_without_version_is_version_1() -> None:
    row = programme()
    del row["version"]
    assert partner_discount("2012345678", row, "kiosk-1", None, NOW).version == 1


@pytest.mark.parametrize("row, store, group, message", [
    pytest.param(None, "kiosk-1", "north", "card of no active partner programme",
                 id="no-programme"),
    pytest.param(programme(active=False), "kiosk-1", "north",
                 "card of no active partner programme", id="inactive-programme"),
    pytest.param(programme(stores=["market"]), "kiosk-1", "north",
                 "ABCDEF cards are not accepted in this store", id="other-store"),
    pytest.param(programme(groups=["south"]), "kiosk-1", "north",
                 "ABCDEF cards are not accepted in this store", id="other-group"),
    pytest.param(programme(groups=["south"]), "kiosk-1", None,
                 "ABCDEF cards are not accepted in this store", id="store-in-no-group"),
    pytest.param(programme(valid_from=iso(NOW + SECOND)), "kiosk-1", None,
                 "ABCDEF programme is not in force", id="not-started"),
    pytest.param(programme(valid_until=iso(NOW)), "kiosk-1", None,
                 "ABCDEF programme is not in force", id="ends-now-half-open"),
    pytest.param(programme(valid_from=iso(NOW - 2 * DAY), valid_until=iso(NOW - DAY)),
                 "kiosk-1", None, "ABCDEF programme is not in force", id="ended"),
])
def test_a_partner_card_refused_says_why(row: dict[str, Any] | None, store: str,
                                         group: str | None, message: str) -> None:
    with pytest.raises(UnknownCard) as info:
        partner_discount("2012345678", row, store, group, NOW)
    assert str(info.value) == f"{message}: '2012345678'"
    assert info.value.number == "2012345678"


def vip_card(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"code": "#VIP#0001", "customer": "c-1", "percent": "10",
                           "valid_until": "2025-12-31T23:00:00+00:00", "active": True,
                           "version": 2}
    row.update(changes)
    return row


@pytest.mark.parametrize("row, expected", [
    pytest.param(vip_card(), CardDiscount("vip", "#VIP#0001", 2, D(10)), id="valid"),
    pytest.param(vip_card(valid_until=iso(NOW + MICRO)),
                 CardDiscount("vip", "#VIP#0001", 2, D(10)), id="last-microsecond"),
    pytest.param({k: v for k, v in vip_card(percent="12.5").items() if k != "version"},
                 CardDiscount("vip", "#VIP#0001", 1, D("12.5")), id="no-version-is-1"),
])
def test_a_vip_card_gives_its_rate(row: dict[str, Any], expected: CardDiscount) -> None:
    assert vip_discount("#VIP#0001", row, NOW) == expected


@pytest.mark.parametrize("row, message", [
    pytest.param(None, "unknown or withdrawn VIP card", id="unknown"),
    pytest.param(vip_card(active=False), "unknown or withdrawn VIP card", id="withdrawn"),
    pytest.param(vip_card(valid_until="2025-06-14T18:00:00+00:00"),
                 "VIP card expired on 2025-06-14", id="expired-yesterday"),
    pytest.param(vip_card(valid_until=iso(NOW)), "VIP card expired on 2025-06-15",
                 id="expires-at-now-half-open"),
    pytest.param(vip_card(valid_until="2024-01-31T00:00:00+00:00"),
                 "VIP card expired on 2024-01-31", id="expired-long-ago"),
])
def test_a_vip_card_refused_says_why(row: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(UnknownCard) as info:
        vip_discount("#VIP#0001", row, NOW)
    assert str(info.value) == f"{message}: '#VIP#0001'"
    assert info.value.number == "#VIP#0001"


# -- card ranges ------------------------------------------------------------------------------

@pytest.mark.parametrize("number, first, last, inside", [
    pytest.param("2012345678", "2000000000", "2099999999", True, id="inside"),
    pytest.param("2000000000", "2000000000", "2099999999", True, id="first-inclusive"),
    pytest.param("2099999999", "2000000000", "2099999999", True, id="last-inclusive"),
    pytest.param("1999999999", "2000000000", "2099999999", False, id="below"),
    pytest.param("2100000000", "2000000000", "2099999999", False, id="above"),
    pytest.param("201234567", "2000000000", "2099999999", False, id="shorter"),
    pytest.param("20123456789", "2000000000", "2099999999", False,
                 id="longer-though-between-as-text"),
    pytest.param("201234567X", "2000000000", "2099999999", False, id="not-digits"),
    pytest.param(" 012345678", "0000000000", "0999999999", False, id="space-not-a-digit"),
    pytest.param("0000000042", "0000000001", "0000000099", True, id="leading-zeros"),
    pytest.param("42", "0000000001", "0000000099", False, id="leading-zeros-matter"),
    pytest.param("", "0000000001", "0000000099", False, id="empty"),
    pytest.param("ABC-1", "ABC-1", "ABC-1", True, id="single-card-exact"),
    pytest.param("ABC-2", "ABC-1", "ABC-1", False, id="single-card-other"),
    pytest.param("2012345678", "2012345678", "2012345678", True, id="single-digit-card"),
    pytest.param("2012345679", "2012345678", "2012345678", False, id="single-card-next"),
    # str.isdigit() alone accepts the fullwidth '６': a number of no card of the range.
    pytest.param("2012345６78", "2000000000", "2099999999", False, id="fullwidth-digit"),
])
def test_card_in_range(number: str, first: str, last: str, inside: bool) -> None:
    assert card_in_range(number, first, last) is inside


# -- policies from the wire -------------------------------------------------------------------

JUNE = {"start": "2025-06-01T00:00:00+00:00", "end": "2025-07-01T00:00:00+00:00"}
JUNE_PERIOD = Period(dt.datetime(2025, 6, 1, tzinfo=dt.UTC), dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
TOBACCO_ROW = {"code": "TOBACCO", "kind": "exclusion", "name": "No discount on tobacco",
               "version": 4, "active": True, "stores": [], "groups": [],
               "target": {"kind": "category", "codes": ["tobacco"]}}


@pytest.mark.parametrize("row, expected", [
    pytest.param({"code": "SALE", "kind": "sales_rule", "version": 3, "percent": "30",
                  "target": {"kind": "category", "codes": ["food"]}, "period": JUNE},
                 SalesRule("SALE", 3, D(30), Target("category", frozenset({"food"})),
                           JUNE_PERIOD), id="sales-rule"),
    pytest.param({"code": "SALE", "kind": "sales_rule", "version": "3", "percent": 30},
                 SalesRule("SALE", 3, D(30)), id="sales-rule-whole-store-always"),
    pytest.param({"code": "SALE", "kind": "sales_rule", "version": 1, "percent": "12.5",
                  "target": {"kind": "all", "codes": []}, "period": {"start": None,
                                                                     "end": None}},
                 SalesRule("SALE", 1, D("12.5")), id="explicit-all-and-open-period"),
    pytest.param({"code": "B", "kind": "sales_rule", "version": 1, "percent": "10",
                  "target": {"kind": "brand", "codes": ["moo", "fizz"]}},
                 SalesRule("B", 1, D(10), Target("brand", frozenset({"moo", "fizz"}))),
                 id="brand-target"),
    pytest.param({"code": "F", "kind": "sales_rule", "version": 1, "percent": "10",
                  "target": {"kind": "family", "codes": ["staples"]}},
                 SalesRule("F", 1, D(10), Target("family", frozenset({"staples"}))),
                 id="family-target"),
    pytest.param({"code": "P", "kind": "sales_rule", "version": 1, "percent": "10",
                  "target": {"kind": "product", "codes": [123]}},
                 SalesRule("P", 1, D(10), Target("product", frozenset({"123"}))),
                 id="product-codes-as-text"),
    pytest.param({"code": "3FOR2", "kind": "promotion", "version": 2, "promotion": "quantity",
                  "buy": 2, "get": 1, "percent": "100", "period": JUNE},
                 Promotion("3FOR2", 2, "quantity", Target(), JUNE_PERIOD, buy=2, get=1,
                           percent=D(100)), id="3-for-2"),
    pytest.param({"code": "HALF", "kind": "promotion", "version": 1, "promotion": "quantity",
                  "buy": "1", "get": "1", "percent": "50"},
                 Promotion("HALF", 1, "quantity", buy=1, get=1, percent=D(50)),
                 id="second-at-half-price"),
    pytest.param({"code": "FP", "kind": "promotion", "version": 1, "promotion": "fixed_price",
                  "price": "2.50", "target": {"kind": "product", "codes": ["SOAP"]}},
                 Promotion("FP", 1, "fixed_price", Target("product", frozenset({"SOAP"})),
                           price=D("2.50")), id="fixed-price"),
    pytest.param(TOBACCO_ROW, Exclusion("TOBACCO", 4, Target("category",
                                                             frozenset({"tobacco"}))),
                 id="exclusion"),
])
def test_policy_from_wire(row: dict[str, Any], expected: object) -> None:
    assert policy_from_wire(row) == expected


@pytest.mark.parametrize("changes, message", [
    pytest.param({"kind": "coupon"}, "unknown policy kind 'coupon'", id="unknown-kind"),
    pytest.param({"kind": None}, "unknown policy kind None", id="no-kind"),
    pytest.param({"kind": "promotion", "promotion": "bogof"}, "unknown promotion type 'bogof'",
                 id="unknown-promotion-type"),
    pytest.param({"target": {"kind": "colour", "codes": ["red"]}},
                 "unknown target kind 'colour'", id="unknown-target-kind"),
    pytest.param({"target": {"kind": "category", "codes": "food"}},
                 "target codes must be a list", id="codes-not-a-list"),
    pytest.param({"percent": 30.0}, "percent must be a decimal string", id="float-percent"),
    pytest.param({"percent": True}, "percent must be a decimal string", id="bool-percent"),
    pytest.param({"percent": "abc"}, "percent must be a decimal string, not 'abc'",
                 id="text-percent"),
    pytest.param({"percent": "NaN"}, "percent must be a finite number", id="nan-percent"),
    pytest.param({"kind": "promotion", "promotion": "fixed_price", "price": "Infinity"},
                 "price must be a finite number", id="infinite-price"),
    pytest.param({"period": {"start": "2025-06-01T00:00:00"}}, "times need a UTC offset",
                 id="naive-time"),
    pytest.param({"period": {"end": 1748736000}}, "times are ISO-8601 strings",
                 id="time-as-number"),
    pytest.param({"kind": "promotion", "promotion": "fixed_price", "price": 2.5},
                 "price must be a decimal string", id="float-price"),
])
def test_a_policy_that_cannot_be_used_is_refused(changes: dict[str, Any], message: str) -> None:
    row = {"code": "X", "kind": "sales_rule", "version": 1, "percent": "10", **changes}
    with pytest.raises(PolicyError, match=message):
        policy_from_wire(row)


def _row(code: str, kind: str = "sales_rule", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"code": code, "kind": kind, "version": 1, "active": True,
                           "stores": [], "groups": []}
    if kind == "sales_rule":
        row["percent"] = "10"
    if kind == "promotion":
        row.update(promotion="quantity", buy=2, get=1, percent="100")
    row.update(extra)
    return row


ROWS = [
    _row("E-MARKET", "promotion", stores=["market"]),
    _row("C-NORTH", groups=["north"]),
    _row("A-ALL"),
    _row("D-OFF", active=False),
    _row("B-KIOSK", stores=["kiosk-1"]),
    _row("F-TOBACCO", "exclusion", target={"kind": "category", "codes": ["tobacco"]}),
    {k: v for k, v in _row("H-DEFAULT-ACTIVE").items() if k != "active"},
]


@pytest.mark.parametrize("store, group, rules, promotions, exclusions", [
    pytest.param("kiosk-1", "north", ["A-ALL", "B-KIOSK", "C-NORTH", "H-DEFAULT-ACTIVE"], [],
                 ["F-TOBACCO"], id="store-in-group"),
    pytest.param("market", None, ["A-ALL", "H-DEFAULT-ACTIVE"], ["E-MARKET"], ["F-TOBACCO"],
                 id="store-without-group"),
    pytest.param("kiosk-2", "south", ["A-ALL", "H-DEFAULT-ACTIVE"], [], ["F-TOBACCO"],
                 id="other-store-other-group"),
    pytest.param("kiosk-2", "north", ["A-ALL", "C-NORTH", "H-DEFAULT-ACTIVE"], [],
                 ["F-TOBACCO"], id="other-store-same-group"),
])
def test_policies_from_wire_keep_the_active_ones_for_the_store(
        store: str, group: str | None, rules: list[str], promotions: list[str],
        exclusions: list[str]) -> None:
    for rows in (ROWS, ROWS[::-1]):
        policies = policies_from_wire(rows, store, group)
        assert [r.code for r in policies.rules] == rules
        assert [p.code for p in policies.promotions] == promotions
        assert [e.code for e in policies.exclusions] == exclusions


def test_a_policy_of_unknown_kind_for_this_store_is_refused() -> None:
    with pytest.raises(PolicyError, match="unknown policy kind 'coupon'"):
        policies_from_wire([_row("A-ALL"), _row("Z", "coupon")], "kiosk-1", None)


@pytest.mark.parametrize("row", [
    pytest.param(_row("Z", "coupon", active=False), id="inactive"),
    pytest.param(_row("Z", "coupon", stores=["market"]), id="other-store"),
])
def test_a_policy_of_unknown_kind_that_does_not_apply_is_skipped(row: dict[str, Any]) -> None:
    policies = policies_from_wire([_row("A-ALL"), row], "kiosk-1", None)
    assert [r.code for r in policies.rules] == ["A-ALL"]


# -- seeds/004 from the wire ------------------------------------------------------------------

def test_seed_004_priced_from_wire_rows() -> None:
    """The union card story with every value read from its synchronised row."""
    parents = {"food": None, "bakery": "food", "dairy": "food", "tobacco": None,
               "cigarettes": "tobacco"}
    rows = [
        {"sku": "BREAD", "name": "Bread", "category": "bakery", "brand": None, "family": None,
         "vat_rate": "9", "sale_price": "2.30", "active": True},
        {"sku": "MILK", "name": "Milk", "category": "dairy", "brand": None, "family": None,
         "vat_rate": "9", "sale_price": "1.49", "active": True},
        product_row(),
    ]
    # Bread costs 2.10 at this store from this morning on.
    prices = {"BREAD": [("prices@s:kiosk-1", {"sku": "BREAD", "price": "2.10",
                                              "effective_from": iso(NOW - dt.timedelta(hours=3))})]}
    catalogue = {row["sku"]: product_from_wire(row, parents, prices.get(row["sku"], []), NOW)
                 for row in rows}
    policies = policies_from_wire([TOBACCO_ROW], "kiosk-1", "north")
    card = partner_discount("2012345678", programme(groups=["north"]), "kiosk-1", "north", NOW)
    priced = price_basket([BasketLine("BREAD", D(1)), BasketLine("MILK", D(2)),
                           BasketLine("CIG", D(1))], catalogue, policies, [card], now=NOW)
    assert [line.amount for line in priced.lines] == [D("1.99"), D("2.83"), D("5.50")]
    assert priced.total == D("10.32")
    assert priced.versions == {"exclusion:TOBACCO": 4, "partner:ABCDEF": 3}
