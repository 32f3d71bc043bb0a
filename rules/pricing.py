"""Basket pricing.

Prices are VAT-inclusive. A line is ``unit price x quantity`` rounded to the cent; the VAT
of each rate is split out of the gross total of that rate (one rounding per rate, so the
parts always add up to the total).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from rules.money import round_money

HUNDRED = Decimal(100)
MAX_QTY = Decimal(100000)


class PricingError(ValueError):
    """A basket that cannot be priced."""


class UnknownProduct(PricingError):
    """A line names a product the catalogue does not have (or not any more)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown product {code!r}")
        self.code = code


class InvalidQuantity(PricingError):
    """A line quantity that is zero, negative, too large or too precise."""


@dataclass(frozen=True)
class Product:
    """What the engine needs to know about a product."""

    sku: str
    name: str
    price: Decimal
    vat_rate: Decimal
    active: bool = True


@dataclass(frozen=True)
class BasketLine:
    """A line as the till sends it: a code (barcode or SKU) and a quantity."""

    code: str
    qty: Decimal


@dataclass(frozen=True)
class PricedLine:
    sku: str
    code: str
    name: str
    qty: Decimal
    unit_price: Decimal
    amount: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class VatPart:
    rate: Decimal
    gross: Decimal
    net: Decimal
    vat: Decimal


@dataclass(frozen=True)
class PricedBasket:
    lines: tuple[PricedLine, ...]
    total: Decimal
    vat: tuple[VatPart, ...] = field(default_factory=tuple)


def split_vat(gross: Decimal, rate: Decimal) -> VatPart:
    """Split a VAT-inclusive amount into net and VAT at ``rate`` percent."""
    net = round_money(gross * HUNDRED / (HUNDRED + rate))
    return VatPart(rate=rate, gross=gross, net=net, vat=gross - net)


def price_basket(lines: Sequence[BasketLine], catalogue: Mapping[str, Product]) -> PricedBasket:
    """Price a basket against ``catalogue`` (code -> product, codes being barcodes or SKUs)."""
    if not lines:
        raise PricingError("a basket needs at least one line")
    priced: list[PricedLine] = []
    by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        if line.qty <= 0 or line.qty > MAX_QTY:
            raise InvalidQuantity(f"quantity of {line.code!r} must be above 0 and at most "
                                  f"{MAX_QTY}")
        if line.qty != line.qty.quantize(Decimal("0.001")):
            raise InvalidQuantity(f"quantity of {line.code!r} has more than 3 decimals")
        product = catalogue.get(line.code)
        if product is None or not product.active:
            raise UnknownProduct(line.code)
        amount = round_money(product.price * line.qty)
        priced.append(PricedLine(sku=product.sku, code=line.code, name=product.name,
                                 qty=line.qty, unit_price=product.price, amount=amount,
                                 vat_rate=product.vat_rate))
        by_rate[product.vat_rate] = by_rate.get(product.vat_rate, Decimal(0)) + amount
    vat = tuple(split_vat(gross, rate) for rate, gross in sorted(by_rate.items()))
    total = sum((p.amount for p in priced), Decimal(0))
    return PricedBasket(lines=tuple(priced), total=total, vat=vat)
