"""Points values of products, for gifts from the normal assortment (SPEC L4, seeds/002).

A product's points value is its purchase cost times a points-per-euro ratio, so the
merchant's outlay per point is fixed while the customer sees the sale price. The cost is
the base purchase cost after the first ``discount_levels`` (0-5) of the product's
successive supplier discounts (cost 10.00, discounts 10% and 5%, two levels: 10 x 0.90 x
0.95 = 8.55). Up to three markup bands choose the ratio; the markup is
``(sale price - cost) / cost`` in %, with the VAT-inclusive sale price and the same cost.

Readings of seeds/002's worked example (tested in tests/unit/test_loyalty_redemption.py):

* Points values are whole points, to the **nearest point with halves going down** (in the
  customer's favour): the example's ball costs 2.15 x 30 = 64.5 and is worth 64, while the
  240% product is worth 2.0588... x 30 = 61.76 -> 62. Neither rounding down nor half-up
  gives both (the seed's software presumably met 64.4999... in binary floating point).
* The example's total of 99 is the sum of the two values (64 + 35), not 3.33 x 30 = 99.9.
* The three EUR 7.00 products "with markup 60%, 120%, 240%" cost 7.00 / 1.6, 7.00 / 2.2 and
  7.00 / 3.4; their values are 131, 95, 62 at 30/EUR and 131, 111, 82 with the bands
  "up to 100%: 30, 100-200%: 35, above 200%: 40" (the costs rounded to the cent, 4.38,
  3.18, 2.06, give the same points).
* A band "up to X%" includes X; the next starts strictly above it.

A fixed value on the product is used as it is and never recomputed; with
``on_sale_price`` the VAT-inclusive sale price replaces the cost as the basis (the band
still follows the markup). Gift release "standard" spends the value for the product;
"discount" offers a list of % discounts, each costing a share of the value (by default
the same share: 50% off a product worth 64 points costs 32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, Decimal
from typing import Literal

from rules.loyalty.errors import InvalidPolicy, LoyaltyError, check_decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_BANDS = 3
MAX_DISCOUNT_LEVELS = 5
GiftRelease = Literal["standard", "discount"]


@dataclass(frozen=True)
class MarkupBand:
    """Points per euro for markups above ``above`` % and up to ``up_to`` % (None: open)."""

    ratio: Decimal
    above: Decimal | None = None
    up_to: Decimal | None = None

    def contains(self, markup: Decimal) -> bool:
        return ((self.above is None or markup > self.above)
                and (self.up_to is None or markup <= self.up_to))


@dataclass(frozen=True)
class GiftDiscount:
    """A % off a gift product and the share (%) of its points value it costs."""

    percent: Decimal
    points_share: Decimal | None = None

    @property
    def share(self) -> Decimal:
        return self.percent if self.points_share is None else self.points_share


def _check_bands(bands: Sequence[MarkupBand]) -> None:
    if not isinstance(bands, tuple) or not 1 <= len(bands) <= MAX_BANDS:
        raise InvalidPolicy("bands", f"needs 1 to {MAX_BANDS} markup bands")
    for i, band in enumerate(bands):
        check_decimal(band.ratio, f"bands[{i}].ratio", minimum=ZERO)
        for side in ("above", "up_to"):
            value = getattr(band, side)
            if value is not None:
                check_decimal(value, f"bands[{i}].{side}")
        if band.above is not None and band.up_to is not None and band.above >= band.up_to:
            raise InvalidPolicy(f"bands[{i}].up_to", "must be above the band's lower end")
    low = Decimal("-Infinity")
    order = sorted(range(len(bands)),
                   key=lambda i: low if bands[i].above is None else bands[i].above)
    first = bands[order[0]]
    if first.above is not None:
        raise InvalidPolicy(f"bands[{order[0]}].above",
                            f"markups up to {first.above}% would have no ratio: "
                            "the lowest band needs no lower end")
    for prev_i, i in zip(order, order[1:], strict=False):
        prev, band = bands[prev_i], bands[i]
        if prev.up_to is None or band.above is None or band.above < prev.up_to:
            raise InvalidPolicy(f"bands[{i}]", f"overlaps bands[{prev_i}]")
        if band.above > prev.up_to:
            raise InvalidPolicy(f"bands[{i}].above",
                                f"markups from {prev.up_to}% to {band.above}% would have "
                                "no ratio")
    last_i = order[-1]
    if bands[last_i].up_to is not None:
        raise InvalidPolicy(f"bands[{last_i}].up_to",
                            f"markups above {bands[last_i].up_to}% would have no ratio: "
                            "the highest band needs no upper end")


@dataclass(frozen=True)
class PointsValuePolicy:
    """A profile's redemption settings (seeds/002 "Restituzione punti")."""

    bands: tuple[MarkupBand, ...] = (MarkupBand(Decimal(30)),)
    discount_levels: int = 0
    on_sale_price: bool = False
    release: GiftRelease = "standard"
    discounts: tuple[GiftDiscount, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_bands(self.bands)
        if (isinstance(self.discount_levels, bool) or not isinstance(self.discount_levels, int)
                or not 0 <= self.discount_levels <= MAX_DISCOUNT_LEVELS):
            raise InvalidPolicy("discount_levels",
                                f"must be a whole number from 0 to {MAX_DISCOUNT_LEVELS}")
        if self.release not in ("standard", "discount"):
            raise InvalidPolicy("release", "must be 'standard' or 'discount'")
        if self.release == "discount" and not self.discounts:
            raise InvalidPolicy("discounts", "gift release with % discount needs discounts")
        seen: set[Decimal] = set()
        for i, d in enumerate(self.discounts):
            check_decimal(d.percent, f"discounts[{i}].percent", positive=True, maximum=HUNDRED)
            if d.points_share is not None:
                check_decimal(d.points_share, f"discounts[{i}].points_share", minimum=ZERO,
                              maximum=HUNDRED)
            if d.percent in seen:
                raise InvalidPolicy(f"discounts[{i}].percent", f"{d.percent}% is listed twice")
            seen.add(d.percent)

    def band_for(self, markup: Decimal) -> MarkupBand:
        return next(band for band in self.bands if band.contains(markup))


@dataclass(frozen=True)
class ProductCost:
    """What a product's points value is computed from."""

    sku: str
    cost: Decimal
    sale_price: Decimal
    """VAT-inclusive."""
    supplier_discounts: tuple[Decimal, ...] = ()
    """Successive purchase discounts in %, at most five."""
    fixed_points: Decimal | None = None

    def __post_init__(self) -> None:
        check_decimal(self.cost, "cost", minimum=ZERO)
        check_decimal(self.sale_price, "sale_price", minimum=ZERO)
        if len(self.supplier_discounts) > MAX_DISCOUNT_LEVELS:
            raise InvalidPolicy("supplier_discounts",
                                f"at most {MAX_DISCOUNT_LEVELS} successive discounts")
        for i, d in enumerate(self.supplier_discounts):
            check_decimal(d, f"supplier_discounts[{i}]", minimum=ZERO, maximum=HUNDRED)
        if self.fixed_points is not None:
            check_decimal(self.fixed_points, "fixed_points", minimum=ZERO, whole=True)


@dataclass(frozen=True)
class PointsValue:
    sku: str
    points: Decimal
    basis: Literal["fixed", "cost", "sale_price"]
    cost: Decimal | None = None
    markup: Decimal | None = None
    ratio: Decimal | None = None


@dataclass(frozen=True)
class ReleaseOption:
    """One way to take a gift: ``percent_off`` the product for ``points``."""

    percent_off: Decimal
    points: Decimal


def whole_points(value: Decimal) -> Decimal:
    """Nearest whole point, halves down (see the module docstring)."""
    return value.quantize(Decimal(1), rounding=ROUND_HALF_DOWN)


def discounted_cost(product: ProductCost, levels: int) -> Decimal:
    cost = product.cost
    for d in product.supplier_discounts[:levels]:
        cost = cost * (HUNDRED - d) / HUNDRED
    return cost


def points_value(product: ProductCost, policy: PointsValuePolicy) -> PointsValue:
    """The points a customer spends to take ``product`` as a gift."""
    if product.fixed_points is not None:
        return PointsValue(product.sku, product.fixed_points, "fixed")
    cost = discounted_cost(product, policy.discount_levels)
    if cost > 0:
        markup = (product.sale_price - cost) * HUNDRED / cost
        ratio = policy.band_for(markup).ratio
    elif len(policy.bands) == 1 and policy.on_sale_price:
        markup, ratio = None, policy.bands[0].ratio
    else:
        raise LoyaltyError(f"product {product.sku!r} has no purchase cost: its markup band "
                           "and points value cannot be computed")
    base = product.sale_price if policy.on_sale_price else cost
    return PointsValue(product.sku, whole_points(base * ratio),
                       "sale_price" if policy.on_sale_price else "cost", cost, markup, ratio)


def release_options(value: PointsValue, policy: PointsValuePolicy) -> tuple[ReleaseOption, ...]:
    """What the till offers for a gift product worth ``value`` (cheapest in points first)."""
    if policy.release == "standard":
        return (ReleaseOption(HUNDRED, value.points),)
    options = (ReleaseOption(d.percent, whole_points(value.points * d.share / HUNDRED))
               for d in policy.discounts)
    return tuple(sorted(options, key=lambda o: (o.points, o.percent_off)))
