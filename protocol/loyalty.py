"""Loyalty policies on the wire: a profile's accrual and redemption options as plain data.

Central stores a profile's options as this data (and keeps every version of it), the REST API
takes and gives it, and the store rebuilds the same ``rules.loyalty`` policies from what the
``loyalty`` bucket brings, so both compute points with exactly the same options. Decimals
travel as strings; a bad value is an :class:`~rules.loyalty.errors.InvalidPolicy` naming
the field (``accrual.threshold``, ``redemption.bands[1].ratio``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules.context import ancestors
from rules.loyalty.accrual import OFFER_KINDS, DocumentKind, Sale, SaleLine
from rules.loyalty.accrual_policy import AccrualPolicy, GridEntry
from rules.loyalty.errors import InvalidPolicy
from rules.loyalty.redemption import GiftDiscount, MarkupBand, PointsValuePolicy
from rules.money import MoneyError, to_decimal

_ACCRUAL_DECIMALS = ("threshold", "step", "points_per_step", "bonus_points",
                     "voucher_multiplier")
_ACCRUAL_OPTIONAL = ("bonus_threshold", "fractional_threshold", "max_discount_percent")
_ACCRUAL_FLAGS = ("whole_points_only", "exclude_offers", "apply_grid", "reduce_by_voucher",
                  "points_from_products", "exclude_balance", "earn_on_invoices",
                  "earn_on_suspended")


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidPolicy(field, f"must be a decimal string, not {value!r}")
    try:
        return to_decimal(value, field)
    except MoneyError:
        raise InvalidPolicy(field, f"must be a decimal, not {value!r}") from None


def _optional(value: Any, field: str) -> Decimal | None:
    return None if value is None or value == "" else _decimal(value, field)


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPolicy(field, f"must be true or false, not {value!r}")
    return value


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPolicy(field, "must be an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidPolicy(field, "must be a list")
    return list(value)


def _prefixed(exc: InvalidPolicy, prefix: str) -> InvalidPolicy:
    return InvalidPolicy(f"{prefix}.{exc.field}", exc.message)


def accrual_from_wire(data: Mapping[str, Any] | None) -> AccrualPolicy:
    """An accrual policy from its wire form (missing options take their defaults)."""
    data = _mapping(data or {}, "accrual")
    kwargs: dict[str, Any] = {}
    try:
        for name in _ACCRUAL_DECIMALS:
            if name in data:
                kwargs[name] = _decimal(data[name], name)
        for name in _ACCRUAL_OPTIONAL:
            if name in data:
                kwargs[name] = _optional(data[name], name)
        for name in _ACCRUAL_FLAGS:
            if name in data:
                kwargs[name] = _flag(data[name], name)
        grid = []
        for i, raw in enumerate(_list(data.get("grid", []), "grid")):
            entry = _mapping(raw, f"grid[{i}]")
            grid.append(GridEntry(_decimal(entry.get("points_per_euro"),
                                           f"grid[{i}].points_per_euro"),
                                  entry.get("category") or None, entry.get("brand") or None))
        kwargs["grid"] = tuple(grid)
        exclusions = _list(data.get("earning_exclusions", []), "earning_exclusions")
        if not all(isinstance(code, str) and code for code in exclusions):
            raise InvalidPolicy("earning_exclusions", "must be a list of exclusion codes")
        kwargs["earning_exclusions"] = frozenset(exclusions)
        return AccrualPolicy(**kwargs)
    except InvalidPolicy as exc:
        raise _prefixed(exc, "accrual") from exc


def accrual_to_wire(policy: AccrualPolicy) -> dict[str, Any]:
    result: dict[str, Any] = {name: str(getattr(policy, name)) for name in _ACCRUAL_DECIMALS}
    for name in _ACCRUAL_OPTIONAL:
        value = getattr(policy, name)
        result[name] = None if value is None else str(value)
    for name in _ACCRUAL_FLAGS:
        result[name] = getattr(policy, name)
    result["grid"] = [{"points_per_euro": str(e.points_per_euro), "category": e.category,
                       "brand": e.brand} for e in policy.grid]
    result["earning_exclusions"] = sorted(policy.earning_exclusions)
    return result


def bands_from_wire(data: Any) -> tuple[MarkupBand, ...]:
    bands = []
    for i, raw in enumerate(_list(data, "bands")):
        band = _mapping(raw, f"bands[{i}]")
        bands.append(MarkupBand(_decimal(band.get("ratio"), f"bands[{i}].ratio"),
                                _optional(band.get("above"), f"bands[{i}].above"),
                                _optional(band.get("up_to"), f"bands[{i}].up_to")))
    return tuple(bands)


def bands_to_wire(bands: tuple[MarkupBand, ...]) -> list[dict[str, Any]]:
    return [{"ratio": str(b.ratio), "above": None if b.above is None else str(b.above),
             "up_to": None if b.up_to is None else str(b.up_to)} for b in bands]


def redemption_from_wire(data: Mapping[str, Any] | None) -> PointsValuePolicy:
    """A points-value policy from its wire form (missing options take their defaults)."""
    data = _mapping(data or {}, "redemption")
    kwargs: dict[str, Any] = {}
    try:
        if "bands" in data:
            kwargs["bands"] = bands_from_wire(data["bands"])
        if "discount_levels" in data:
            levels = data["discount_levels"]
            if isinstance(levels, bool) or not isinstance(levels, int):
                raise InvalidPolicy("discount_levels", "must be a whole number from 0 to 5")
            kwargs["discount_levels"] = levels
        if "on_sale_price" in data:
            kwargs["on_sale_price"] = _flag(data["on_sale_price"], "on_sale_price")
        if "release" in data:
            kwargs["release"] = data["release"]
        discounts = []
        for i, raw in enumerate(_list(data.get("discounts", []), "discounts")):
            d = _mapping(raw, f"discounts[{i}]")
            discounts.append(GiftDiscount(_decimal(d.get("percent"), f"discounts[{i}].percent"),
                                          _optional(d.get("points_share"),
                                                    f"discounts[{i}].points_share")))
        kwargs["discounts"] = tuple(discounts)
        return PointsValuePolicy(**kwargs)
    except InvalidPolicy as exc:
        raise _prefixed(exc, "redemption") from exc


def redemption_to_wire(policy: PointsValuePolicy) -> dict[str, Any]:
    return {"bands": bands_to_wire(policy.bands), "discount_levels": policy.discount_levels,
            "on_sale_price": policy.on_sale_price, "release": policy.release,
            "discounts": [{"percent": str(d.percent),
                           "points_share": None if d.points_share is None
                           else str(d.points_share)} for d in policy.discounts]}


@dataclass(frozen=True)
class LineFacts:
    """What accrual needs of a line's product that the sale body does not carry: its
    categories (ancestors included, as the pricing context gives them), brand and "points
    generated" (SPEC L2). Both sides read them from their copy of the catalogue."""

    categories: tuple[str, ...] = ()
    brand: str | None = None
    product_points: Decimal | None = None


def facts_from_product(product: Mapping[str, Any] | None,
                       parents: Mapping[str, str | None]) -> LineFacts:
    """A line's facts from its product's catalogue row (wire form) and the category tree,
    as either side reads them from its copy of the ``catalog`` stream: the category with
    its ancestors (``rules.context.ancestors``, as the pricing context builds them) and
    the brand, and its "points generated" (``points_generated``; absent or null: none)."""
    if product is None:
        return LineFacts()
    generated = product.get("points_generated")
    return LineFacts(categories=ancestors(product.get("category"), parents),
                     brand=product.get("brand") or None,
                     product_points=None if generated is None else to_decimal(generated))


def sale_for_accrual(document_id: str, lines: Sequence[Mapping[str, Any]],
                     facts: Callable[[str], LineFacts], gift_lines: Iterable[int] = (),
                     document: DocumentKind = "receipt") -> Sale:
    """The sale as ``rules.loyalty.accrual`` sees it, from the lines of a sale body.

    The store computes the provisional points of the receipt from the body it is about to
    send, and central recomputes them from the body it ingested, both through this one
    function, so the two agree for the same body, catalogue facts and profile version.
    ``lines`` are loaded sale-body lines (``SaleLineSchema``; Decimals); a line's number
    is its 0-based index; ``gift_lines`` are the indexes of the gifts taken.
    """
    gifts = set(gift_lines)
    result = []
    for number, line in enumerate(lines):
        adjustments = line.get("adjustments") or ()
        amount = to_decimal(line["amount"])
        gross_value = line.get("gross")
        gross = amount if gross_value is None else to_decimal(gross_value)
        voucher = sum((to_decimal(a.get("amount", 0)) for a in adjustments
                       if a.get("kind") == "voucher"), Decimal(0))
        known = facts(str(line["sku"]))
        result.append(SaleLine(
            line=number, sku=str(line["sku"]), qty=to_decimal(line["qty"]), amount=amount,
            gross=gross, voucher=voucher,
            on_offer=any(a.get("kind") in OFFER_KINDS for a in adjustments),
            excluded_by=line.get("excluded_by"), categories=known.categories,
            brand=known.brand, product_points=known.product_points,
            kind="gift" if number in gifts else "goods"))
    return Sale(document_id, tuple(result), document)
