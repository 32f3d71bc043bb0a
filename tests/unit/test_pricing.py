"""Basket pricing, money and barcodes: the rules every till and central share."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.barcodes import barcode_kind, ean_check_digit
from rules.money import MoneyError, round_money, to_decimal
from rules.pricing import (
    BasketLine,
    InvalidQuantity,
    PricingError,
    Product,
    UnknownProduct,
    price_basket,
    split_vat,
)

D = Decimal

CATALOGUE = {
    "BREAD": Product("BREAD", "White bread", D("1.15"), D("9")),
    "4006381333931": Product("PEN", "Ballpoint pen", D("0.05"), D("21")),
    "PEN": Product("PEN", "Ballpoint pen", D("0.05"), D("21")),
    "CHEESE": Product("CHEESE", "Cheese by the kilo", D("12.99"), D("9")),
    "WINE": Product("WINE", "Red wine", D("7.50"), D("21")),
    "OLD": Product("OLD", "Delisted", D("1.00"), D("21"), active=False),
}


def basket(*lines: tuple[str, str]) -> list[BasketLine]:
    return [BasketLine(code, D(qty)) for code, qty in lines]


# -- money ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (D("0.005"), D("0.01")),
    (D("0.015"), D("0.02")),
    (D("0.025"), D("0.03")),  # half-up, not banker's rounding (which gives 0.02)
    (D("1.725"), D("1.73")),
    (D("2.004999"), D("2.00")),
    (D("7"), D("7.00")),
    (D("-0.005"), D("-0.01")),
])
def test_round_money_is_half_up_to_the_cent(value: Decimal, expected: Decimal) -> None:
    result = round_money(value)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize("value, expected", [
    ("1.10", D("1.10")),
    (3, D(3)),
    (D("0.1"), D("0.1")),
    (" 2.5 ", D("2.5")),
])
def test_to_decimal_reads_exact_values(value: object, expected: Decimal) -> None:
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value, message", [
    (1.1, "not float"),
    (0.0, "not float"),
    (True, "not bool"),
    (None, "not NoneType"),
    ("abc", "not a number"),
    ("", "not a number"),
    ("NaN", "not a finite number"),
    ("Infinity", "not a finite number"),
])
def test_to_decimal_refuses_floats_and_non_numbers(value: object, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        to_decimal(value, "price")


# -- line amounts -----------------------------------------------------------------------------

@pytest.mark.parametrize("code, qty, amount", [
    ("BREAD", "1", D("1.15")),
    ("BREAD", "1.5", D("1.73")),     # 1.725 -> 1.73
    ("PEN", "0.5", D("0.03")),       # 0.025 -> 0.03
    ("PEN", "0.1", D("0.01")),       # 0.005 -> 0.01
    ("PEN", "0.09", D("0.00")),      # 0.0045 -> 0.00
    ("CHEESE", "0.333", D("4.33")),  # 4.32567 -> 4.33
    ("CHEESE", "0.125", D("1.62")),  # 1.62375 -> 1.62
    ("WINE", "12", D("90.00")),
])
def test_line_amount_is_price_times_quantity_rounded_half_up(code: str, qty: str,
                                                             amount: Decimal) -> None:
    priced = price_basket(basket((code, qty)), CATALOGUE)
    assert priced.lines[0].amount == amount
    assert priced.total == amount


def test_lines_keep_their_code_product_and_price() -> None:
    priced = price_basket(basket(("4006381333931", "2"), ("BREAD", "1")), CATALOGUE)
    assert [(p.sku, p.code, p.qty, p.unit_price, p.amount, p.vat_rate) for p in priced.lines] == [
        ("PEN", "4006381333931", D(2), D("0.05"), D("0.10"), D(21)),
        ("BREAD", "BREAD", D(1), D("1.15"), D("1.15"), D(9)),
    ]
    assert priced.total == D("1.25")


# -- VAT --------------------------------------------------------------------------------------

@pytest.mark.parametrize("gross, rate, net, vat", [
    (D("12.10"), D("21"), D("10.00"), D("2.10")),
    (D("1.09"), D("9"), D("1.00"), D("0.09")),
    (D("10.00"), D("21"), D("8.26"), D("1.74")),
    (D("0.01"), D("21"), D("0.01"), D("0.00")),
    (D("5.00"), D("0"), D("5.00"), D("0.00")),
])
def test_split_vat(gross: Decimal, rate: Decimal, net: Decimal, vat: Decimal) -> None:
    part = split_vat(gross, rate)
    assert (part.gross, part.net, part.vat) == (gross, net, vat)


def test_vat_is_split_once_per_rate_and_adds_up_to_the_total() -> None:
    # Three 0.10 lines at 21%: one split of 0.30 (net 0.25), not three of 0.10 (net 0.08 x3).
    priced = price_basket(basket(("PEN", "2"), ("PEN", "2"), ("PEN", "2"), ("BREAD", "3")),
                          CATALOGUE)
    assert [(v.rate, v.gross, v.net, v.vat) for v in priced.vat] == [
        (D(9), D("3.45"), D("3.17"), D("0.28")),
        (D(21), D("0.30"), D("0.25"), D("0.05")),
    ]
    assert sum(v.gross for v in priced.vat) == priced.total == D("3.75")


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["NOPE", "OLD", "", "bread"])
def test_unknown_or_inactive_product_is_refused(code: str) -> None:
    with pytest.raises(UnknownProduct) as info:
        price_basket(basket(("BREAD", "1"), (code, "1")), CATALOGUE)
    assert info.value.code == code


@pytest.mark.parametrize("qty", ["0", "-1", "-0.001", "0.0001", "1.2345", "100000.001",
                                 "1000000"])
def test_bad_quantities_are_refused(qty: str) -> None:
    with pytest.raises(InvalidQuantity):
        price_basket(basket(("BREAD", qty)), CATALOGUE)


@pytest.mark.parametrize("qty", ["0.001", "100000", "2.500"])
def test_quantity_limits_are_inclusive(qty: str) -> None:
    priced = price_basket(basket(("BREAD", qty)), CATALOGUE)
    assert priced.lines[0].qty == D(qty)
    assert priced.total == round_money(D("1.15") * D(qty))


def test_an_empty_basket_is_refused() -> None:
    with pytest.raises(PricingError, match="at least one line"):
        price_basket([], CATALOGUE)


# -- invariants -------------------------------------------------------------------------------

RATES = [D(0), D(5), D("5.5"), D(9), D(21), D(100)]
prices = st.decimals(min_value=D(0), max_value=D("9999.99"), places=2, allow_nan=False,
                     allow_infinity=False)
quantities = st.decimals(min_value=D("0.001"), max_value=D(1000), places=3, allow_nan=False,
                         allow_infinity=False)
catalogues = st.lists(st.tuples(prices, st.sampled_from(RATES)), min_size=1, max_size=6).map(
    lambda items: {f"P{i}": Product(f"P{i}", f"Product {i}", price, rate)
                   for i, (price, rate) in enumerate(items)})


@st.composite
def priced_baskets(draw: st.DrawFn) -> tuple[dict[str, Product], list[BasketLine]]:
    catalogue = draw(catalogues)
    lines = draw(st.lists(st.tuples(st.sampled_from(sorted(catalogue)), quantities),
                          min_size=1, max_size=12))
    return catalogue, [BasketLine(code, qty) for code, qty in lines]


@given(priced_baskets())
def test_total_is_the_sum_of_the_lines(case: tuple[dict[str, Product], list[BasketLine]]) -> None:
    catalogue, lines = case
    priced = price_basket(lines, catalogue)
    assert priced.total == sum(p.amount for p in priced.lines)
    for line, p in zip(lines, priced.lines, strict=True):
        assert p.amount == round_money(catalogue[line.code].price * line.qty)


@given(priced_baskets())
def test_vat_parts_add_up_and_never_go_negative(
        case: tuple[dict[str, Product], list[BasketLine]]) -> None:
    catalogue, lines = case
    priced = price_basket(lines, catalogue)
    assert sum((v.gross for v in priced.vat), D(0)) == priced.total
    assert len({v.rate for v in priced.vat}) == len(priced.vat)
    for part in priced.vat:
        assert part.net + part.vat == part.gross
        assert part.net >= 0 and part.vat >= 0
        assert part.net.as_tuple().exponent == -2
    assert priced.total >= 0
    assert all(p.amount >= 0 for p in priced.lines)


@given(prices, st.sampled_from(RATES))
def test_vat_never_exceeds_the_gross(gross: Decimal, rate: Decimal) -> None:
    part = split_vat(gross, rate)
    assert D(0) <= part.vat <= part.gross
    assert part.net + part.vat == gross


# -- barcodes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code, kind", [
    ("4006381333931", "ean13"),
    ("5901234123457", "ean13"),
    ("0000000000000", "ean13"),
    ("96385074", "ean8"),
    ("73513537", "ean8"),
    ("ABC-123", "internal"),
    ("12345", "internal"),
    ("123456789012", "internal"),  # 12 digits: not an EAN length
    # Fullwidth digits are digits to str.isdigit, but no scanner sends them: not an EAN.
    ("\uff14\uff10\uff10\uff16\uff13\uff18\uff11\uff13\uff13\uff13\uff19\uff13\uff11",
     "internal"),
])
def test_barcode_kind(code: str, kind: str) -> None:
    assert barcode_kind(code) == kind


@pytest.mark.parametrize("code", ["4006381333932", "4006381333930", "96385075", "73513530"])
def test_a_wrong_ean_check_digit_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="wrong EAN check digit"):
        barcode_kind(code)


@pytest.mark.parametrize("body, digit", [("400638133393", 1), ("9638507", 4),
                                         ("590123412345", 7)])
def test_ean_check_digit(body: str, digit: int) -> None:
    assert ean_check_digit(body) == digit


def test_an_ean_body_is_ascii_digits_only() -> None:
    with pytest.raises(ValueError, match="digits only"):
        ean_check_digit("\u0664\u0660\u0660")  # Arabic-Indic digits


def test_ean_body_must_be_digits() -> None:
    with pytest.raises(ValueError, match="digits only"):
        ean_check_digit("40063813339A")


@given(st.text(alphabet="0123456789", min_size=12, max_size=12),
       st.integers(min_value=1, max_value=9))
def test_exactly_one_check_digit_makes_an_ean13_valid(body: str, shift: int) -> None:
    good = ean_check_digit(body)
    assert barcode_kind(f"{body}{good}") == "ean13"
    with pytest.raises(ValueError):
        barcode_kind(f"{body}{(good + shift) % 10}")
