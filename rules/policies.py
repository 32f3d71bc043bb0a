"""Discount policies and price lists as plain values, and which of them apply when.

Scopes (all stores, a group, one store) are resolved by the caller: the engine gets only
the policies that concern the store it prices for. Periods and targets are checked here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

TargetKind = Literal["all", "category", "brand", "family", "product"]
SCOPE_RANK = {"all": 0, "group": 1, "store": 2}


@dataclass(frozen=True)
class Item:
    """What the policies look at on a product: SKU, brand and category with ancestors."""

    sku: str
    brand: str | None = None
    categories: tuple[str, ...] = ()
    family: str | None = None


@dataclass(frozen=True)
class Target:
    """Which products a policy touches."""

    kind: TargetKind = "all"
    codes: frozenset[str] = frozenset()

    def matches(self, item: Item) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "product":
            return item.sku in self.codes
        if self.kind == "brand":
            return item.brand is not None and item.brand in self.codes
        if self.kind == "family":
            return item.family is not None and item.family in self.codes
        return any(code in self.codes for code in item.categories)


@dataclass(frozen=True)
class Period:
    """Half-open [start, end); an open side is unbounded."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def contains(self, now: dt.datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


@dataclass(frozen=True)
class SalesRule:
    """A % off on a target for a period (e.g. 30% on the whole store during the sales)."""

    code: str
    version: int
    percent: Decimal
    target: Target = field(default_factory=Target)
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class Promotion:
    """A quantity rule or a fixed final price.

    ``quantity``: in every block of ``buy + get`` matching units, the ``get`` cheapest units
    get ``percent`` off (buy 2 get 1 at 100% is "3 for 2"; buy 1 get 1 at 50% is "second
    at half price"). ``fixed_price``: the unit price becomes ``price``.
    """

    code: str
    version: int
    kind: Literal["quantity", "fixed_price"]
    target: Target = field(default_factory=Target)
    period: Period = field(default_factory=Period)
    buy: int = 0
    get: int = 0
    percent: Decimal = Decimal(0)
    price: Decimal | None = None


@dataclass(frozen=True)
class Exclusion:
    """Products no discount, card, voucher or rule may touch (tobacco, lottery...)."""

    code: str
    version: int
    target: Target
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class CardDiscount:
    """A customer-level % (a partner programme card, a VIP card, a loyalty profile's level).

    ``profile``: the discount level of the customer's loyalty profile (SPEC L1), applied by
    the engine like a card (the best of the customer's cards wins, excluded lines get none).
    """

    kind: Literal["partner", "vip", "profile"]
    code: str
    version: int
    percent: Decimal


@dataclass(frozen=True)
class Voucher:
    """An amount off the basket, spread over the lines it may touch."""

    code: str
    amount: Decimal


@dataclass(frozen=True)
class Policies:
    rules: tuple[SalesRule, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()


@dataclass(frozen=True)
class PriceEntry:
    """A price for a product at a scope, effective from a moment (None: always)."""

    price: Decimal
    scope: Literal["all", "group", "store"] = "all"
    effective_from: dt.datetime | None = None


def resolve_price(entries: Iterable[PriceEntry], now: dt.datetime) -> Decimal | None:
    """The price in force: the most specific scope wins, then the latest effective entry.

    Entries in the future are ignored until their moment; a store without a price of its
    own follows its group, then the base price.
    """
    best: tuple[int, dt.datetime, Decimal] | None = None
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for entry in entries:
        start = entry.effective_from or floor
        if start > now:
            continue
        key = (SCOPE_RANK[entry.scope], start, entry.price)
        if best is None or key[:2] >= best[:2]:
            best = key
    return None if best is None else best[2]


def excluded(item: Item, exclusions: Sequence[Exclusion], now: dt.datetime) -> Exclusion | None:
    for exclusion in exclusions:
        if exclusion.period.contains(now) and exclusion.target.matches(item):
            return exclusion
    return None


# -- wire form ---------------------------------------------------------------------------------
# Policies travel (and are stored at central) as JSON objects; see docs/protocol.md.

class PolicyError(ValueError):
    """A policy definition that cannot be used."""


def _time(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolicyError("times are ISO-8601 strings")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise PolicyError("times need a UTC offset")
    return moment


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PolicyError(f"{what} must be a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PolicyError(f"{what} must be a decimal string, not {value!r}") from None
    if not number.is_finite():
        raise PolicyError(f"{what} must be a finite number, not {value!r}")
    return number


def target_from_wire(data: Mapping[str, object] | None) -> Target:
    if not data:
        return Target()
    kind = data.get("kind", "all")
    if kind not in ("all", "category", "brand", "family", "product"):
        raise PolicyError(f"unknown target kind {kind!r}")
    codes = data.get("codes") or []
    if not isinstance(codes, list):
        raise PolicyError("target codes must be a list")
    return Target(kind=kind, codes=frozenset(str(c) for c in codes))


def period_from_wire(data: Mapping[str, object] | None) -> Period:
    if not data:
        return Period()
    return Period(start=_time(data.get("start")), end=_time(data.get("end")))


def applies_to_store(data: Mapping[str, object], store: str, group: str | None) -> bool:
    """Whether a policy (or programme) in wire form concerns ``store``.

    No stores and no groups listed means every store.
    """
    stores = data.get("stores") or []
    groups = data.get("groups") or []
    assert isinstance(stores, list) and isinstance(groups, list)
    if not stores and not groups:
        return True
    return store in stores or (group is not None and group in groups)


AnyPolicy = SalesRule | Promotion | Exclusion


def policy_from_wire(data: Mapping[str, Any]) -> AnyPolicy:
    """Build the engine's value from a policy's wire form."""
    kind = data.get("kind")
    code, version = str(data["code"]), int(data["version"])
    target = target_from_wire(data.get("target"))
    period = period_from_wire(data.get("period"))
    if kind == "sales_rule":
        return SalesRule(code, version, _decimal(data["percent"], "percent"), target, period)
    if kind == "exclusion":
        return Exclusion(code, version, target, period)
    if kind == "promotion":
        mode = data.get("promotion")
        if mode == "fixed_price":
            return Promotion(code, version, "fixed_price", target, period,
                             price=_decimal(data["price"], "price"))
        if mode == "quantity":
            return Promotion(code, version, "quantity", target, period,
                             buy=int(data["buy"]), get=int(data["get"]),
                             percent=_decimal(data["percent"], "percent"))
        raise PolicyError(f"unknown promotion type {mode!r}")
    raise PolicyError(f"unknown policy kind {kind!r}")


def policies_from_wire(rows: Iterable[Mapping[str, Any]], store: str,
                       group: str | None) -> Policies:
    """The active policies that concern ``store``, ready for the engine."""
    rules: list[SalesRule] = []
    promotions: list[Promotion] = []
    exclusions: list[Exclusion] = []
    for row in sorted(rows, key=lambda r: str(r["code"])):
        if not row.get("active", True) or not applies_to_store(row, store, group):
            continue
        policy = policy_from_wire(row)
        if isinstance(policy, SalesRule):
            rules.append(policy)
        elif isinstance(policy, Promotion):
            promotions.append(policy)
        else:
            exclusions.append(policy)
    return Policies(tuple(rules), tuple(promotions), tuple(exclusions))


def card_in_range(number: str, first: str, last: str) -> bool:
    """A card number inside [first, last]: same length, compared as digit strings.

    Only ASCII digits count: ``str.isdigit`` alone would let a fullwidth or Arabic-Indic
    digit compare its way into a range of ASCII card numbers.
    """
    if first == last:
        return number == first
    return (len(number) == len(first) == len(last) and number.isascii()
            and number.isdigit() and first <= number <= last)
