"""Turning the synchronised rows (wire form) into the engine's values.

The store reads them from SQLite, central from its change log at the versions a sale was
priced with; both go through these functions, so both price a basket the same way:
each side implements ``PricingSource`` (its loading) and calls ``pricing_inputs``.

A loyalty profile's discount level (SPEC L1) is one more card-like discount, kind
``profile``: the customer's profile when the sale names a customer (the caller says which
profile, at which version: the store its copy, central the version the sale names), and the
profile of every scanned chain loyalty card. The engine then applies the best of all the
sale's card discounts, never two, and none on excluded lines (``rules.pricing``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from rules.barcodes import ean_check_digit
from rules.cards import EAN13, VIP_MARK, LoyaltyProfile, profile_for_card
from rules.policies import (
    CardDiscount,
    Policies,
    PriceEntry,
    applies_to_store,
    card_in_range,
    period_from_wire,
    policies_from_wire,
    resolve_price,
)
from rules.pricing import Product, unit_of


class UnknownCard(ValueError):
    """A card number that matches no VIP card and no partner programme."""

    def __init__(self, number: str, reason: str = "unknown card") -> None:
        super().__init__(f"{reason}: {number!r}")
        self.number = number


def ancestors(code: str | None, parents: Mapping[str, str | None]) -> tuple[str, ...]:
    """``code`` and every parent category above it (cycles cut)."""
    chain: list[str] = []
    while code is not None and code not in chain:
        chain.append(code)
        code = parents.get(code)
    return tuple(chain)


def price_scope(stream: str) -> str:
    """The scope of a prices stream: ``all``, ``group`` or ``store``."""
    if "@g:" in stream:
        return "group"
    if "@s:" in stream:
        return "store"
    return "all"


def product_from_wire(data: Mapping[str, Any], parents: Mapping[str, str | None],
                      prices: Iterable[tuple[str, Mapping[str, Any]]],
                      now: dt.datetime) -> Product:
    """The engine's product: categories with ancestors, price in force at ``now``.

    ``prices`` are (stream, price row) pairs of the streams the store follows.
    """
    entries = [PriceEntry(price=Decimal(str(data["sale_price"])))]
    for stream, row in prices:
        moment = row.get("effective_from")
        entries.append(PriceEntry(
            price=Decimal(str(row["price"])), scope=price_scope(stream),  # type: ignore[arg-type]
            effective_from=dt.datetime.fromisoformat(moment) if moment else None))
    price = resolve_price(entries, now)
    assert price is not None  # the base entry is always in force
    return Product(sku=str(data["sku"]), name=str(data["name"]), price=price,
                   vat_rate=Decimal(str(data["vat_rate"])), active=bool(data["active"]),
                   brand=data.get("brand"), family=data.get("family"),
                   categories=ancestors(data.get("category"), parents),
                   unit=unit_of(data.get("unit")),
                   points_generated=None if data.get("points_generated") is None
                   else Decimal(str(data["points_generated"])))


def vip_discount(number: str, data: Mapping[str, Any] | None,
                 now: dt.datetime) -> CardDiscount:
    if data is None or not data.get("active", True):
        raise UnknownCard(number, "unknown or withdrawn VIP card")
    until = dt.datetime.fromisoformat(str(data["valid_until"]))
    if now >= until:
        raise UnknownCard(number, f"VIP card expired on {until.date().isoformat()}")
    return CardDiscount("vip", number, int(data.get("version", 1)),
                        Decimal(str(data["percent"])))


def partner_discount(number: str, programme: Mapping[str, Any] | None, store: str,
                     group: str | None, now: dt.datetime) -> CardDiscount:
    if programme is None or not programme.get("active", True):
        raise UnknownCard(number, "card of no active partner programme")
    if not applies_to_store(programme, store, group):
        raise UnknownCard(number, f"{programme['code']} cards are not accepted in this store")
    period = period_from_wire({"start": programme.get("valid_from"),
                               "end": programme.get("valid_until")})
    if not period.contains(now):
        raise UnknownCard(number, f"{programme['code']} programme is not in force")
    return CardDiscount("partner", str(programme["code"]), int(programme.get("version", 1)),
                        Decimal(str(programme["percent"])))


def profile_from_wire(data: Mapping[str, Any]) -> LoyaltyProfile:
    """A ``loyalty_profile`` row as pricing needs it: its cards and discount level (the
    accrual and redemption options are loyalty's, left out)."""
    return LoyaltyProfile(
        code=str(data["code"]), name=str(data.get("description") or data["code"]),
        prefix=str(data["card_prefix"]),
        alternative_prefixes=tuple(str(p) for p in data.get("alternative_prefixes") or ()),
        ean_prefix=data.get("ean_prefix"), default=bool(data.get("default", False)),
        discount_percent=Decimal(str(data.get("discount_percent") or "0")),
        version=int(data.get("version", 1)))


def chain_card_profile(number: str,
                       profiles: Iterable[Mapping[str, Any]]) -> LoyaltyProfile | None:
    """The profile of a chain loyalty card: 13 digits with the right check digit under a
    profile's prefix (the longest prefix wins, as ``rules.cards.read_card`` reads it);
    None for any other number (it may still be a partner card)."""
    if len(number) != EAN13 or not (number.isascii() and number.isdigit()) \
            or ean_check_digit(number[:-1]) != int(number[-1]):
        return None
    return profile_for_card(number, [profile_from_wire(p) for p in profiles])


def profile_discount(profile: LoyaltyProfile) -> CardDiscount:
    """The profile's discount level as the engine takes it (0%: it takes nothing)."""
    return profile.card_discount() or CardDiscount("profile", profile.code, profile.version,
                                                   Decimal(0))


class PricingSource(Protocol):
    """What a side loads from its copy of the synchronised data, in wire form.

    The store answers from SQLite, central from its change log at a sale's versions (and
    loyalty will answer from its own reads); ``pricing_inputs`` turns the answers into the
    engine's inputs the same way for all of them.
    """

    def product(self, code: str) -> Mapping[str, Any] | None:
        """The product's row for ``code`` (a SKU, or a barcode where the side has them)."""

    def category_parents(self) -> Mapping[str, str | None]:
        """Every category's parent (None at the top)."""

    def prices(self, sku: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
        """(stream, price row) pairs of ``sku`` in the price streams the store follows."""

    def policies(self) -> Iterable[Mapping[str, Any]]:
        """Every policy row (the builder keeps those in force for the store)."""

    def vip_card(self, number: str) -> Mapping[str, Any] | None: ...

    def partner_cards(self, number: str) -> Iterable[tuple[str, str, str]]:
        """(programme, first, last) of the active card ranges that may hold ``number``
        (a side may return more: ``card_in_range`` decides)."""

    def partner_programme(self, code: str) -> Mapping[str, Any] | None: ...

    def loyalty_profiles(self) -> Iterable[Mapping[str, Any]]:
        """Every ``loyalty_profile`` row (wire form): a chain card's profile and discount."""


@dataclass(frozen=True)
class PricingInputs:
    """What ``rules.pricing.price_basket`` needs besides the lines."""

    catalogue: dict[str, Product]
    policies: Policies
    cards: tuple[CardDiscount, ...]


def products_from(source: PricingSource, codes: Iterable[str],
                  now: dt.datetime) -> dict[str, Product]:
    """Engine products for ``codes``, priced at ``now``; a code the source does not know is
    left out (the engine then names it: ``UnknownProduct``)."""
    parents: Mapping[str, str | None] | None = None
    result: dict[str, Product] = {}
    for code in dict.fromkeys(codes):
        data = source.product(code)
        if data is None:
            continue
        if parents is None:
            parents = source.category_parents()
        result[code] = product_from_wire(data, parents, source.prices(str(data["sku"])), now)
    return result


def card_discount(source: PricingSource, number: str, store: str, group: str | None,
                  now: dt.datetime) -> CardDiscount:
    """The discount a scanned card gives here; UnknownCard says why it gives none.

    A chain loyalty card gives its profile's discount level (kind ``profile``; a profile
    without one gives 0%, the card is still accepted)."""
    if number.startswith(VIP_MARK):
        return vip_discount(number, source.vip_card(number), now)
    chain = chain_card_profile(number, source.loyalty_profiles())
    if chain is not None:
        return profile_discount(chain)
    programme = None
    for code, first, last in source.partner_cards(number):
        if card_in_range(number, first, last):
            programme = source.partner_programme(code)
            if programme is not None:
                break
    return partner_discount(number, programme, store, group, now)


def pricing_inputs(source: PricingSource, codes: Iterable[str], cards: Iterable[str],
                   store: str, group: str | None, now: dt.datetime,
                   profile: LoyaltyProfile | None = None) -> PricingInputs:
    """The engine's inputs for a basket of ``codes`` with ``cards`` at ``store`` at ``now``.

    ``profile`` is the loyalty profile of the sale's customer (at the version the sale is
    priced with): its discount level joins the cards' discounts."""
    discounts = [card_discount(source, number, store, group, now) for number in cards]
    if profile is not None:
        discounts.append(profile_discount(profile))
    return PricingInputs(
        catalogue=products_from(source, codes, now),
        policies=policies_from_wire(source.policies(), store, group),
        cards=tuple(discounts))
