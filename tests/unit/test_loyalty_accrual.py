"""Accrual (L2): each seeds/002 option with its worked example; the lines that never earn."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.loyalty.accrual import Accrual, Sale, SaleLine, accrue, line_from_priced
from rules.loyalty.accrual_policy import AccrualPolicy, GridEntry
from rules.loyalty.errors import InvalidPolicy, LoyaltyError
from rules.policies import Exclusion, Policies, Target, Voucher
from rules.pricing import BasketLine, Product, price_basket

D = Decimal
SEED = AccrualPolicy(threshold=D(1), step=D(1), points_per_step=D(1),
                     bonus_threshold=D(25), bonus_points=D(5))


def line(n: int, amount: str, **kw: object) -> SaleLine:
    gross = kw.pop("gross", amount)
    return SaleLine(n, kw.pop("sku", f"SKU{n}"), D(str(kw.pop("qty", 1))), D(amount),  # type: ignore[arg-type]
                    D(str(gross)), **kw)  # type: ignore[arg-type]


def sale(*lines: SaleLine, document: str = "receipt", doc: str = "S1") -> Sale:
    return Sale(doc, lines, document)  # type: ignore[arg-type]


def points(result: Accrual) -> dict[int, Decimal]:
    return {lp.line: lp.points for lp in result.lines}


def test_seed_example_single_purchase_and_ten_small_ones() -> None:
    big = accrue(sale(line(1, "60.00"), line(2, "40.00")), SEED)
    assert (big.standard, big.bonus, big.total) == (D(100), D(20), D(120))
    assert points(big) == {1: D(72), 2: D(48)}
    small = [accrue(sale(line(1, "10.00"), doc=f"S{i}"), SEED).total for i in range(10)]
    assert sum(small) == D(100)


@pytest.mark.parametrize(("spend", "expected"), [
    ("9.99", 0), ("10.00", 1), ("14.99", 1), ("15.00", 2), ("100.00", 19)])
def test_threshold_and_step(spend: str, expected: int) -> None:
    policy = AccrualPolicy(threshold=D(10), step=D(5), points_per_step=D(1))
    assert accrue(sale(line(1, spend)), policy).total == expected


@pytest.mark.parametrize(("spend", "bonus"), [
    ("24.99", 0), ("25.00", 5), ("49.99", 5), ("100.00", 20)])
def test_bonus_for_each_multiple(spend: str, bonus: int) -> None:
    result = accrue(sale(line(1, spend)), SEED)
    assert result.bonus == bonus
    assert result.total == result.standard + bonus


@pytest.mark.parametrize(("spend", "expected"), [
    ("1.99", "0"), ("2.00", "0.20"), ("5.00", "0.50"), ("10.00", "1.00"), ("12.50", "1.50"),
    ("12.345", "1.46")])
def test_fractional_points_with_fractional_threshold(spend: str, expected: str) -> None:
    policy = AccrualPolicy(threshold=D(10), step=D(5), points_per_step=D(1),
                           whole_points_only=False, fractional_threshold=D(2))
    assert accrue(sale(line(1, spend)), policy).total == D(expected)


def test_fractional_points_split_to_the_hundredth() -> None:
    policy = AccrualPolicy(whole_points_only=False, fractional_threshold=D(0))
    result = accrue(sale(line(1, "0.50"), line(2, "0.25"), line(3, "0.25")), policy)
    assert result.total == D("1.00")
    assert points(result) == {1: D("0.50"), 2: D("0.25"), 3: D("0.25")}


def test_max_discount_percent() -> None:
    policy = AccrualPolicy(max_discount_percent=D(50))
    result = accrue(sale(line(1, "5.00", gross="10.00"), line(2, "4.99", gross="10.00")), policy)
    assert points(result) == {1: D(5), 2: D(0)}
    assert result.lines[1].reason == "discount above 50%"


def test_voucher_does_not_count_towards_max_discount() -> None:
    policy = AccrualPolicy(max_discount_percent=D(10))
    result = accrue(sale(line(1, "5.00", gross="10.00", voucher=D("5.00"))), policy)
    assert result.total == D(5)


def test_exclude_offers() -> None:
    lines = (line(1, "10.00", on_offer=True), line(2, "10.00"))
    assert accrue(sale(*lines), AccrualPolicy()).total == D(20)
    excluded = accrue(sale(*lines), AccrualPolicy(exclude_offers=True))
    assert points(excluded) == {1: D(0), 2: D(10)}
    assert excluded.lines[0].reason == "on offer"


def test_category_brand_grid() -> None:
    policy = AccrualPolicy(apply_grid=True, grid=(
        GridEntry(D("0.5"), brand="ACME"), GridEntry(D(1), category="PET"),
        GridEntry(D(2), category="FOOD", brand="ACME")))
    result = accrue(sale(line(1, "12.00", brand="ACME"),
                         line(2, "10.00", categories=("DOG", "PET")),
                         line(3, "3.00", brand="ACME", categories=("FOOD", "PET")),
                         line(4, "1.00")), policy)
    assert [lp.grid for lp in result.lines] == [D(6), D(10), D(6), D(0)]
    assert result.total == D(26) + result.grid
    off = accrue(sale(line(1, "12.00", brand="ACME")), AccrualPolicy(grid=policy.grid))
    assert off.grid == 0


def test_reduce_by_voucher_times_multiplier() -> None:
    lines = (line(1, "33.00", gross="36.00", voucher=D("3.00")),
             line(2, "22.00", gross="24.00", voucher=D("2.00")))
    assert accrue(sale(*lines), AccrualPolicy()).total == D(55)
    result = accrue(sale(*lines), AccrualPolicy(reduce_by_voucher=True))
    assert (result.basis, result.total) == (D(35), D(35))
    assert [lp.basis for lp in result.lines] == [D(21), D(14)]
    double = accrue(sale(*lines), AccrualPolicy(reduce_by_voucher=True,
                                               voucher_multiplier=D(20)))
    assert (double.basis, double.total) == (D(0), D(0))


def test_points_from_the_product_record() -> None:
    policy = AccrualPolicy(points_from_products=True)
    result = accrue(sale(line(1, "0.10", qty=2, product_points=D(3)),
                         line(2, "50.00")), policy)
    assert points(result) == {1: D(6), 2: D(0)}


def test_exclude_balance_computes_but_does_not_book() -> None:
    result = accrue(sale(line(1, "10.00")), AccrualPolicy(exclude_balance=True))
    assert result.total == D(10) and not result.books_balance
    assert accrue(sale(line(1, "10.00")), AccrualPolicy()).books_balance


@pytest.mark.parametrize(("document", "option"), [("invoice", "earn_on_invoices"),
                                                  ("suspended", "earn_on_suspended")])
def test_invoices_and_suspended_sales_earn_only_with_their_option(document: str,
                                                                 option: str) -> None:
    off = accrue(sale(line(1, "10.00"), document=document), AccrualPolicy())
    assert off.total == 0 and off.reason is not None and document in off.reason
    on = accrue(sale(line(1, "10.00"), document=document), AccrualPolicy(**{option: True}))
    assert on.total == D(10)


@pytest.mark.parametrize(("kw", "reason"), [
    ({"kind": "gift"}, "gift"), ({"kind": "gift_card"}, "gift card purchase"),
    ({"kind": "ewallet"}, "ewallet purchase"), ({"paid_with_points": True}, "paid with points"),
    ({"excluded_by": "TOBACCO"}, "excluded (TOBACCO)")])
def test_lines_that_never_earn(kw: dict[str, object], reason: str) -> None:
    result = accrue(sale(line(1, "10.00", **kw), line(2, "10.00")), AccrualPolicy())
    assert points(result) == {1: D(0), 2: D(10)}
    assert result.lines[0].reason == reason


def test_tobacco_earns_when_the_profile_says_so() -> None:
    policy = AccrualPolicy(earning_exclusions=frozenset({"TOBACCO"}))
    assert accrue(sale(line(1, "10.00", excluded_by="TOBACCO")), policy).total == D(10)


def test_from_the_pricing_engine_tobacco_excluded_voucher_spread() -> None:
    catalogue = {"CIG": Product("CIG", "Cigarettes", D("6.00"), D(22), categories=("TOB",)),
                 "BOWL": Product("BOWL", "Bowl", D("20.00"), D(22), brand="ACME")}
    policies = Policies(exclusions=(Exclusion("TOBACCO", 1, Target("category",
                                                                   frozenset({"TOB"}))),))
    priced = price_basket([BasketLine("CIG", D(1)), BasketLine("BOWL", D(1))], catalogue,
                          policies, vouchers=[Voucher("V1", D("2.00"))])
    lines = tuple(line_from_priced(i + 1, p, catalogue[p.sku])
                  for i, p in enumerate(priced.lines))
    assert lines[1].voucher == D("2.00") and lines[0].excluded_by == "TOBACCO"
    result = accrue(Sale("S1", lines), AccrualPolicy(reduce_by_voucher=True))
    assert points(result) == {1: D(0), 2: D(10)}  # 18.00 - 2.00 x 4


def test_repeated_line_numbers_are_refused() -> None:
    with pytest.raises(LoyaltyError, match="repeats a line"):
        accrue(sale(line(1, "1.00"), line(1, "2.00")), AccrualPolicy())


@pytest.mark.parametrize(("kw", "field"), [
    ({"threshold": D(0)}, "threshold"), ({"step": D(-1)}, "step"),
    ({"points_per_step": D("1.5")}, "points_per_step"),
    ({"bonus_points": D(5)}, "bonus_threshold"),
    ({"fractional_threshold": D(1)}, "fractional_threshold"),
    ({"whole_points_only": False, "fractional_threshold": D(2)}, "fractional_threshold"),
    ({"max_discount_percent": D(101)}, "max_discount_percent"),
    ({"voucher_multiplier": D(-4)}, "voucher_multiplier"),
    ({"threshold": 1.0}, "threshold"),
    ({"grid": (GridEntry(D(1)),)}, "grid[0]"),
    ({"grid": (GridEntry(D(-1), brand="A"),)}, "grid[0].points_per_euro"),
])
def test_bad_accrual_options_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        AccrualPolicy(**kw)  # type: ignore[arg-type]
    assert info.value.field == field


amounts = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@given(st.lists(amounts, min_size=1, max_size=8), st.randoms(use_true_random=False),
       st.booleans())
def test_same_sale_same_points_in_any_line_order(values: list[Decimal], rnd: object,
                                                 whole: bool) -> None:
    policy = AccrualPolicy(threshold=D(5), step=D(2), points_per_step=D(1),
                           bonus_threshold=D(40), bonus_points=D(3), whole_points_only=whole,
                           fractional_threshold=None if whole else D(1))
    lines = [line(i + 1, str(v)) for i, v in enumerate(values)]
    shuffled = list(lines)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = accrue(sale(*lines), policy), accrue(sale(*shuffled), policy)
    assert first == second
    assert first.total == first.standard + first.bonus + first.grid
    assert all(lp.points >= 0 for lp in first.lines)
