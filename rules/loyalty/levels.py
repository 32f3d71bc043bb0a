"""Levels and gifts (SPEC L3, seeds/000 "Gestione dei punti fedeltà").

The programme belongs to the brand (every store): levels are point amounts (seeds/000:
1 point per EUR 10.00, level 1 = 10 points, level 2 = 20 points...), and products are
flagged as gifts of a level. A gift costs its level's points unless it carries its own
points value (from :mod:`rules.loyalty.redemption`). The till shows every gift, those it
cannot take too, with the reason; a gift is taken only with enough points, and at most
one gift per sale. A level can be removed only when no gift product is left on it and no
customer holds points at or above the first (lowest) level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from rules.loyalty.errors import GiftRefused, InvalidPolicy, LoyaltyError, check_decimal

ZERO = Decimal(0)
MAX_GIFTS_PER_SALE = 1


@dataclass(frozen=True)
class Level:
    code: str
    points: Decimal
    name: str = ""


@dataclass(frozen=True)
class Gift:
    """A product flagged as a gift of ``level``; ``points`` overrides the level's points."""

    sku: str
    level: str
    points: Decimal | None = None


@dataclass(frozen=True)
class Programme:
    """The brand's levels and gift products, validated together."""

    levels: tuple[Level, ...] = ()
    gifts: tuple[Gift, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        codes: set[str] = set()
        amounts: set[Decimal] = set()
        for i, level in enumerate(self.levels):
            if not isinstance(level.code, str) or not level.code.strip():
                raise InvalidPolicy(f"levels[{i}].code", "is required")
            if level.code in codes:
                raise InvalidPolicy(f"levels[{i}].code", f"level {level.code!r} is listed twice")
            check_decimal(level.points, f"levels[{i}].points", positive=True)
            if level.points in amounts:
                raise InvalidPolicy(f"levels[{i}].points",
                                    f"another level already starts at {level.points} points")
            codes.add(level.code)
            amounts.add(level.points)
        skus: set[str] = set()
        for i, gift in enumerate(self.gifts):
            if gift.level not in codes:
                raise InvalidPolicy(f"gifts[{i}].level", f"no level {gift.level!r}")
            if gift.sku in skus:
                raise InvalidPolicy(f"gifts[{i}].sku", f"{gift.sku!r} is a gift twice")
            skus.add(gift.sku)
            if gift.points is not None:
                check_decimal(gift.points, f"gifts[{i}].points", positive=True)

    def level(self, code: str) -> Level:
        for level in self.levels:
            if level.code == code:
                return level
        raise LoyaltyError(f"no loyalty level {code!r}")

    @property
    def first_level(self) -> Level | None:
        return min(self.levels, key=lambda level: level.points, default=None)

    def gift(self, sku: str) -> Gift:
        for gift in self.gifts:
            if gift.sku == sku:
                return gift
        raise GiftRefused(sku, "this product is not a gift of the loyalty programme")

    def cost(self, gift: Gift) -> Decimal:
        return self.level(gift.level).points if gift.points is None else gift.points

    def reached(self, balance: Decimal) -> Level | None:
        """The highest level ``balance`` reaches, if any."""
        return max((lv for lv in self.levels if balance >= lv.points),
                   key=lambda lv: lv.points, default=None)


@dataclass(frozen=True)
class GiftOption:
    sku: str
    level: str
    points: Decimal
    can_take: bool
    reason: str | None = None


def _refusal(balance: Decimal, cost: Decimal, gifts_in_sale: int) -> str | None:
    if gifts_in_sale >= MAX_GIFTS_PER_SALE:
        return "only one gift per sale: this sale already has one"
    if balance < cost:
        return f"not enough points: the customer has {balance}, the gift needs {cost}"
    return None


def gift_options(programme: Programme, balance: Decimal,
                 gifts_in_sale: int = 0) -> tuple[GiftOption, ...]:
    """Every gift, cheapest first, whether it can be taken now and why not."""
    options = []
    for gift in programme.gifts:
        cost = programme.cost(gift)
        reason = _refusal(balance, cost, gifts_in_sale)
        options.append(GiftOption(gift.sku, gift.level, cost, reason is None, reason))
    return tuple(sorted(options, key=lambda o: (o.points, o.sku)))


def take_gift(programme: Programme, sku: str, balance: Decimal,
              gifts_in_sale: int = 0) -> Decimal:
    """The points taking gift ``sku`` spends, or :class:`GiftRefused` saying why not."""
    gift = programme.gift(sku)
    cost = programme.cost(gift)
    reason = _refusal(balance, cost, gifts_in_sale)
    if reason is not None:
        raise GiftRefused(sku, reason)
    return cost


def check_one_gift(gift_skus: Iterable[str]) -> None:
    """Refuse a sale carrying more than one gift line (central checks what stores send)."""
    skus = list(gift_skus)
    if len(skus) > MAX_GIFTS_PER_SALE:
        raise GiftRefused(skus[MAX_GIFTS_PER_SALE],
                          "only one gift per sale: this sale already has one")


@dataclass(frozen=True)
class RemovalBlocker:
    """A seeds/000 condition that keeps a level: which, and what to do about it."""

    condition: str
    """``gifts_on_level`` or ``balances_at_first_level``."""
    message: str
    gifts: tuple[str, ...] = ()
    customers: int = 0


def level_removal_blockers(programme: Programme, code: str,
                           balances: Iterable[Decimal]) -> tuple[RemovalBlocker, ...]:
    """Why level ``code`` cannot be removed now (empty: it can).

    ``balances`` are the customers' balances (every customer of the brand).
    """
    programme.level(code)
    blockers = []
    gifts = tuple(sorted(g.sku for g in programme.gifts if g.level == code))
    if gifts:
        blockers.append(RemovalBlocker(
            "gifts_on_level",
            f"{len(gifts)} gift product(s) are still on level {code!r}: "
            f"take them off first ({', '.join(gifts)})", gifts=gifts))
    first = programme.first_level
    assert first is not None  # the level exists
    holding = sum(1 for b in balances if b >= first.points)
    if holding:
        blockers.append(RemovalBlocker(
            "balances_at_first_level",
            f"{holding} customer(s) hold {first.points} points or more (the first level): "
            "their points must be spent or settled first", customers=holding))
    return tuple(blockers)
