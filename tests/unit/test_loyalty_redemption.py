"""Points values of products (L4): seeds/002's worked example, to the point."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.loyalty.errors import InvalidPolicy, LoyaltyError
from rules.loyalty.redemption import (
    GiftDiscount,
    MarkupBand,
    PointsValuePolicy,
    ProductCost,
    ReleaseOption,
    points_value,
    release_options,
)

D = Decimal
SINGLE = PointsValuePolicy(bands=(MarkupBand(D(30)),))
BANDS = PointsValuePolicy(bands=(MarkupBand(D(30), up_to=D(100)),
                                 MarkupBand(D(35), above=D(100), up_to=D(200)),
                                 MarkupBand(D(40), above=D(200))))


def test_seed_example_two_products_and_their_total() -> None:
    ball = points_value(ProductCost("BALL", D("2.15"), D("5.10")), SINGLE)
    bowl = points_value(ProductCost("BOWL", D("1.18"), D("2.80")), SINGLE)
    assert (ball.points, bowl.points) == (D(64), D(35))
    assert ball.points + bowl.points == D(99)
    assert ball.basis == "cost" and ball.ratio == D(30)


@pytest.mark.parametrize(("markup", "standard", "corrected"),
                         [("60", 131, 131), ("120", 95, 111), ("240", 62, 82)])
@pytest.mark.parametrize("to_cent", [False, True])
def test_seed_example_three_products_at_seven_euros(markup: str, standard: int,
                                                    corrected: int, to_cent: bool) -> None:
    # Reading: each costs 7.00 / (1 + markup); the cent-rounded costs give the same points.
    cost = D("7.00") / (1 + D(markup) / 100)
    if to_cent:
        cost = cost.quantize(D("0.01"))
    product = ProductCost("P" + markup, cost, D("7.00"))
    assert points_value(product, SINGLE).points == standard
    value = points_value(product, BANDS)
    assert value.points == corrected
    assert value.markup is not None and abs(value.markup - D(markup)) < 1


def test_halves_round_down_and_band_upper_end_is_included() -> None:
    assert points_value(ProductCost("HALF", D("2.15"), D("3")), SINGLE).points == 64
    at_100 = points_value(ProductCost("B", D("5.00"), D("10.00")), BANDS)
    assert (at_100.markup, at_100.ratio) == (D(100), D(30))
    above = points_value(ProductCost("B", D("5.00"), D("10.01")), BANDS)
    assert above.ratio == D(35)


def test_supplier_discount_levels() -> None:
    product = ProductCost("X", D("10.00"), D("30.00"), supplier_discounts=(D(10), D(5), D(50)))
    for levels, cost in [(0, "10.00"), (1, "9.00"), (2, "8.55"), (3, "4.275")]:
        value = points_value(product, PointsValuePolicy(discount_levels=levels))
        assert value.cost == D(cost)
        assert value.points == (D(cost) * 30).quantize(D(1), rounding="ROUND_HALF_DOWN")


def test_fixed_value_is_never_recomputed() -> None:
    product = ProductCost("F", D("2.15"), D("5.10"), fixed_points=D(50))
    for policy in (SINGLE, BANDS, PointsValuePolicy(on_sale_price=True)):
        value = points_value(product, policy)
        assert (value.points, value.basis) == (D(50), "fixed")


def test_on_vat_inclusive_sale_price() -> None:
    policy = PointsValuePolicy(bands=(MarkupBand(D(10)),), on_sale_price=True)
    value = points_value(ProductCost("S", D("2.15"), D("5.10")), policy)
    assert (value.points, value.basis) == (D(51), "sale_price")
    # the band still follows the markup
    banded = PointsValuePolicy(bands=BANDS.bands, on_sale_price=True)
    assert points_value(ProductCost("S", D("2.06"), D("7.00")), banded).points == 280


def test_no_cost_has_no_value_unless_single_ratio_on_price() -> None:
    with pytest.raises(LoyaltyError, match="no purchase cost"):
        points_value(ProductCost("Z", D(0), D("5")), SINGLE)
    free = points_value(ProductCost("Z", D(0), D("5")), PointsValuePolicy(on_sale_price=True))
    assert free.points == 150


def test_gift_release_standard_and_with_discounts() -> None:
    value = points_value(ProductCost("BALL", D("2.15"), D("5.10")), SINGLE)
    assert release_options(value, SINGLE) == (ReleaseOption(D(100), D(64)),)
    policy = PointsValuePolicy(release="discount", discounts=(
        GiftDiscount(D(50)), GiftDiscount(D(20), points_share=D(25)), GiftDiscount(D(100))))
    assert release_options(value, policy) == (
        ReleaseOption(D(20), D(16)), ReleaseOption(D(50), D(32)), ReleaseOption(D(100), D(64)))


@pytest.mark.parametrize(("bands", "field"), [
    ((MarkupBand(D(-1)),), "bands[0].ratio"),
    ((MarkupBand(D(30), up_to=D(100)), MarkupBand(D(35), above=D(90))), "bands[1]"),
    ((MarkupBand(D(30)), MarkupBand(D(35), above=D(100))), "bands[1]"),
    ((MarkupBand(D(30), up_to=D(100)), MarkupBand(D(35), above=D(120))), "bands[1].above"),
    ((MarkupBand(D(30), above=D(0)),), "bands[0].above"),
    ((MarkupBand(D(30), up_to=D(100)),), "bands[0].up_to"),
    ((MarkupBand(D(30), above=D(100), up_to=D(50)),), "bands[0].up_to"),
    ((), "bands"),
    (tuple(MarkupBand(D(30)) for _ in range(4)), "bands"),
])
def test_bad_bands_name_the_field(bands: tuple[MarkupBand, ...], field: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        PointsValuePolicy(bands=bands)
    assert info.value.field == field


def test_bands_may_be_listed_in_any_order() -> None:
    policy = PointsValuePolicy(bands=tuple(reversed(BANDS.bands)))
    assert points_value(ProductCost("G", D("2.06"), D("7.00")), policy).points == 82


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"discount_levels": 6}, "discount_levels"),
    ({"discount_levels": -1}, "discount_levels"),
    ({"release": "discount"}, "discounts"),
    ({"release": "other"}, "release"),
    ({"release": "discount", "discounts": (GiftDiscount(D(0)),)}, "discounts[0].percent"),
    ({"release": "discount", "discounts": (GiftDiscount(D(10)), GiftDiscount(D(10)))},
     "discounts[1].percent"),
])
def test_bad_redemption_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        PointsValuePolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_product_costs_name_the_field() -> None:
    with pytest.raises(InvalidPolicy, match="supplier_discounts"):
        ProductCost("X", D(1), D(2), supplier_discounts=tuple(D(1) for _ in range(6)))
    with pytest.raises(InvalidPolicy) as info:
        ProductCost("X", D(-1), D(2))
    assert info.value.field == "cost"
    with pytest.raises(InvalidPolicy) as info:
        ProductCost("X", 1.5, D(2))  # type: ignore[arg-type]
    assert info.value.field == "cost"
