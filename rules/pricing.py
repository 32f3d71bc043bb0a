"""The pricing engine: one basket, one answer, at central and at every till.

Precedence, per line (this docstring is the reference; there is no separate document):

1. the unit price in force (store, then group, then base; scheduled entries from their
   moment) is resolved by the caller and given in the catalogue;
2. an **excluded** line (tobacco, lottery...) takes no adjustment of any kind: steps 3-5
   skip it, and it does not count towards quantity promotions or voucher spreading;
3. **sales rules and promotions compete**, never stack (a period's markdown is not added
   to a multi-buy offer). A fixed-price promotion competes line by line with the line's
   best sales rule. A multi-buy pools whole units of several lines; every line it uses,
   qualifying units included, takes no sales rule. Which lines with a rule stay in the
   pool and which keep their rule is the choice best for the customer over all such
   choices (a line whose rule beats what it brings keeps its rule, however much the
   other lines make the multi-buy worth; see ``rules.multibuy``); on equal results the
   rule is kept, on the cheapest lines first. The multi-buy is taken when it adds
   something over those rules. Promotions are taken greedily, the one adding most first
   (the first code on equal gains);
4. the customer's **card** applies on what is left of each line: of all the sale's card
   discounts (partner programmes, VIP cards, the loyalty profile's discount level of the
   customer or of a scanned chain card) only the highest rate applies, never two (on
   equal rates: VIP, then profile, then partner; then the last code);
5. **vouchers** take an amount off the basket, spread over the eligible lines in
   proportion to what is left of them, never below zero; the cents left by rounding go
   to the largest remainders.

Ties never depend on the scan order: steps 3-5 see the lines sorted by SKU, unit price,
quantity and scanned code (lines equal in all four are interchangeable). That order
settles which of equally priced units a multi-buy discounts (the later ones in a block),
which line keeps its rule on equal results, and which line gets a voucher's cent on
equal remainders; so the same basket scanned in any order gives every line the same
amount and the same total. Lines are returned in scan order.

Every adjustment is rounded half-up to the cent where it is made; line amounts never go
negative; prices are VAT-inclusive and VAT is split once per rate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from rules.allocation import spread
from rules.money import CENT, MAX_TOTAL, round_money
from rules.multibuy import Run, best_pool, discounted_units
from rules.policies import (
    CardDiscount,
    Item,
    Policies,
    Promotion,
    SalesRule,
    Voucher,
    excluded,
)

HUNDRED = Decimal(100)
MAX_QTY = Decimal(100000)
ZERO = Decimal(0)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class PricingError(ValueError):
    """A basket that cannot be priced."""


class UnknownProduct(PricingError):
    """A line names a product the catalogue does not have (or not any more)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown product {code!r}")
        self.code = code


class InvalidQuantity(PricingError):
    """A line quantity that is zero, negative, too large or too precise."""


# How a product is sold: by the piece (whole quantities only) or by a measure.
PIECE = "piece"
UNITS = (PIECE, "kg", "l", "m")


def unit_of(value: object) -> str:
    """The unit of a product as stored or sent; missing or unknown (older data) is piece."""
    return value if isinstance(value, str) and value in UNITS else PIECE


@dataclass(frozen=True)
class Product:
    """What the engine needs to know about a product (price already resolved)."""

    sku: str
    name: str
    price: Decimal
    vat_rate: Decimal
    active: bool = True
    brand: str | None = None
    categories: tuple[str, ...] = ()
    family: str | None = None
    unit: str = PIECE
    points_generated: Decimal | None = None
    """What one unit earns where loyalty takes points from the product (not pricing's)."""

    @property
    def item(self) -> Item:
        return Item(sku=self.sku, brand=self.brand, categories=self.categories,
                    family=self.family)


@dataclass(frozen=True)
class BasketLine:
    """A line as the till sends it: a code (barcode or SKU) and a quantity."""

    code: str
    qty: Decimal


@dataclass(frozen=True)
class Adjustment:
    """One reduction of a line, with the policy that made it and why."""

    kind: str
    code: str
    version: int
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class PricedLine:
    sku: str
    code: str
    name: str
    qty: Decimal
    unit_price: Decimal
    amount: Decimal
    vat_rate: Decimal
    gross: Decimal = ZERO
    excluded_by: str | None = None
    adjustments: tuple[Adjustment, ...] = ()


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
    versions: Mapping[str, int] = field(default_factory=dict)

    @property
    def discount(self) -> Decimal:
        return sum((line.gross - line.amount for line in self.lines), ZERO)


def split_vat(gross: Decimal, rate: Decimal) -> VatPart:
    """Split a VAT-inclusive amount into net and VAT at ``rate`` percent."""
    net = round_money(gross * HUNDRED / (HUNDRED + rate))
    return VatPart(rate=rate, gross=gross, net=net, vat=gross - net)


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return round_money(amount * percent / HUNDRED)


@dataclass
class _Work:
    """A line while it is being priced."""

    product: Product
    line: BasketLine
    gross: Decimal
    excluded_by: str | None
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return self.gross - sum((a.amount for a in self.adjustments), ZERO)

    def canonical_key(self) -> tuple[str, Decimal, Decimal, str]:
        """What settles ties between lines: SKU, unit price, quantity, then the scanned code."""
        return (self.product.sku, self.product.price, self.line.qty, self.line.code)

    def reduce(self, kind: str, code: str, version: int, amount: Decimal, reason: str) -> bool:
        """Apply a reduction (capped at what is left); False if it took nothing."""
        amount = min(amount, self.amount)
        if amount <= 0:
            return False
        self.adjustments.append(Adjustment(kind, code, version, amount, reason))
        return True


def _check(line: BasketLine) -> None:
    if line.qty <= 0 or line.qty > MAX_QTY:
        raise InvalidQuantity(f"quantity of {line.code!r} must be above 0 and at most {MAX_QTY}")
    if line.qty != line.qty.quantize(Decimal("0.001")):
        raise InvalidQuantity(f"quantity of {line.code!r} has more than 3 decimals")


def _whole_units(line: BasketLine) -> int:
    """Units a multi-buy can count on a line: none on weighed goods."""
    return int(line.qty) if line.qty == line.qty.to_integral_value() else 0


def _promotion_shares(work: Sequence[_Work], promotion: Promotion, now: dt.datetime,
                      pool: set[int]) -> tuple[dict[int, Decimal], set[int]]:
    """What ``promotion`` would give on the lines ``pool``.

    Returns the discount per line and every line the promotion uses, including the lines
    whose units only qualify for it (they take no other offer when it is chosen).
    """
    if not promotion.period.contains(now):
        return {}, set()
    eligible = [i for i in sorted(pool)
                if work[i].excluded_by is None and promotion.target.matches(work[i].product.item)]
    shares: dict[int, Decimal] = {}
    if promotion.kind == "fixed_price":
        assert promotion.price is not None
        for i in eligible:
            w = work[i]
            target = round_money(promotion.price * w.line.qty)
            if target < w.gross:
                shares[i] = w.gross - target
        return shares, set(shares)
    if promotion.buy < 0 or promotion.get <= 0:
        return {}, set()
    runs = _runs(work, promotion, eligible, {})
    used = discounted_units(runs, promotion.buy, promotion.get)
    unit_off = {run.line: run.unit_off for run in runs}
    shares = {i: count * unit_off[i] for i, count in used.items() if count}
    return shares, set(used)


def _runs(work: Sequence[_Work], promotion: Promotion, lines: Iterable[int],
          rule_amount: Mapping[int, Decimal]) -> list[Run]:
    """The multi-buy's view of ``lines``, laid out dearest first.

    Dearest first, so that the discounted units of each block are its cheapest; equal
    prices keep the canonical line order (see price_basket), never the scan order.
    """
    return sorted((Run(i, _whole_units(work[i].line),
                       percent_of(work[i].product.price, promotion.percent),
                       rule_amount.get(i, ZERO)) for i in lines),
                  key=lambda run: (-work[run.line].product.price, run.line))


@dataclass(frozen=True)
class _Offer:
    """A promotion taken on a pool of lines: what it adds over the rules of the lines it uses."""

    pool: frozenset[int]
    gain: Decimal
    shares: Mapping[int, Decimal]
    used: frozenset[int]


def _offer_on(work: Sequence[_Work], promotion: Promotion, now: dt.datetime,
              pool: frozenset[int], rule_amount: Mapping[int, Decimal]) -> _Offer:
    shares, used = _promotion_shares(work, promotion, now, set(pool))
    if promotion.kind == "fixed_price":
        shares = {i: a for i, a in shares.items() if a > rule_amount.get(i, ZERO)}
        used = set(shares)
    gain = sum(shares.values(), ZERO) - sum((rule_amount.get(i, ZERO) for i in used), ZERO)
    return _Offer(pool, gain, shares, frozenset(used))


def _promotion_offer(work: Sequence[_Work], promotion: Promotion, now: dt.datetime,
                     free: set[int], rule_amount: Mapping[int, Decimal]) -> _Offer | None:
    """What ``promotion`` adds over the sales rules, on the lines where it is worth it.

    A fixed price is a per-line offer: it keeps only the lines where it beats the line's
    rule. A multi-buy pools whole units of several lines: the lines with a rule that stay
    in its pool are the best choice for the customer (:func:`rules.multibuy.best_pool`).
    Returns None when the promotion adds nothing over the rules of the lines it would use.
    """
    pool = frozenset(free)
    if (promotion.kind == "quantity" and promotion.period.contains(now)
            and promotion.buy >= 0 and promotion.get > 0):
        eligible = [i for i in free if work[i].excluded_by is None
                    and promotion.target.matches(work[i].product.item)]
        runs = _runs(work, promotion, eligible, rule_amount)
        pool = pool - frozenset(eligible) | best_pool(runs, promotion.buy, promotion.get)
    offer = _offer_on(work, promotion, now, pool, rule_amount)
    return offer if offer.gain > 0 else None


def _best_rule(rules: Sequence[SalesRule], product: Product,
               now: dt.datetime) -> SalesRule | None:
    best: SalesRule | None = None
    for rule in rules:
        if rule.period.contains(now) and rule.target.matches(product.item):
            if best is None or (rule.percent, rule.code) > (best.percent, best.code):
                best = rule
    return best


def _card_reason(card: CardDiscount) -> str:
    if card.kind == "profile":
        return f"{card.percent}% loyalty profile {card.code}"
    return f"{card.percent}% {card.kind} card {card.code}"


def check_sellable(lines: Sequence[BasketLine], catalogue: Mapping[str, Product]) -> None:
    """What the till refuses before pricing: a fraction of a piece, a line that rounds to
    0.00 although its product has a price, and amounts beyond what a sale can record."""
    gross_total = ZERO
    for line in lines:
        _check(line)
        product = catalogue.get(line.code)
        if product is None or not product.active:
            raise UnknownProduct(line.code)
        if product.unit == PIECE and line.qty != line.qty.to_integral_value():
            raise InvalidQuantity(f"{product.name} ({product.sku}) is sold by the piece: "
                                  f"the quantity must be a whole number, not {line.qty}")
        gross = round_money(product.price * line.qty)
        if gross == 0 and product.price > 0:
            raise InvalidQuantity(f"{line.qty} {product.unit} of {product.name} "
                                  f"({product.sku}) is worth less than a cent")
        gross_total += gross
    if gross_total > MAX_TOTAL:
        raise PricingError(f"the basket is worth more than {MAX_TOTAL}, the most a sale "
                           f"can record")


def price_basket(lines: Sequence[BasketLine], catalogue: Mapping[str, Product],
                 policies: Policies | None = None, cards: Sequence[CardDiscount] = (),
                 vouchers: Sequence[Voucher] = (), now: dt.datetime = EPOCH) -> PricedBasket:
    """Price a basket against ``catalogue`` (code -> product, codes being barcodes or SKUs)."""
    policies = policies or Policies()
    if not lines:
        raise PricingError("a basket needs at least one line")
    scanned: list[_Work] = []
    for line in lines:
        _check(line)
        product = catalogue.get(line.code)
        if product is None or not product.active:
            raise UnknownProduct(line.code)
        exclusion = excluded(product.item, policies.exclusions, now)
        scanned.append(_Work(product, line, round_money(product.price * line.qty),
                             exclusion.code if exclusion else None))
    versions: dict[str, int] = {}
    for exclusion in policies.exclusions:
        if any(w.excluded_by == exclusion.code for w in scanned):
            versions[f"exclusion:{exclusion.code}"] = exclusion.version
    # Steps 3-5 see the lines in canonical order, so every tie is settled by what a line
    # is, never by when it was scanned; lines equal in all of it are interchangeable.
    work = sorted(scanned, key=_Work.canonical_key)

    # Step 3: sales rules and promotions compete (see the module docstring).
    rules = {i: _best_rule(policies.rules, w.product, now) for i, w in enumerate(work)
             if w.excluded_by is None}
    rule_amount = {i: percent_of(work[i].gross, r.percent) for i, r in rules.items()
                   if r is not None}
    free = set(rules)
    pending = sorted(policies.promotions, key=lambda p: p.code)
    while pending:
        best: tuple[_Offer, Promotion] | None = None
        for promotion in pending:  # by code, so equal gains go to the first code
            offer = _promotion_offer(work, promotion, now, free, rule_amount)
            if offer is not None and (best is None or offer.gain > best[0].gain):
                best = (offer, promotion)
        if best is None:
            break
        offer, promotion = best
        pending.remove(promotion)
        free -= offer.used
        for i, amount in sorted(offer.shares.items()):
            if work[i].reduce("promotion", promotion.code, promotion.version, amount,
                              f"promotion {promotion.code}"):
                versions[f"promotion:{promotion.code}"] = promotion.version
    for i in sorted(free):
        rule = rules[i]
        if rule is not None and work[i].reduce("sales_rule", rule.code, rule.version,
                                               rule_amount[i],
                                               f"{rule.percent}% sales rule {rule.code}"):
            versions[f"sales_rule:{rule.code}"] = rule.version

    # Step 4: the best customer card on what is left.
    card = max(cards, key=lambda c: (c.percent, c.kind, c.code), default=None)
    if card is not None and card.percent > 0:
        for w in work:
            if w.excluded_by is None and w.reduce(
                    card.kind, card.code, card.version, percent_of(w.amount, card.percent),
                    _card_reason(card)):
                versions[f"{card.kind}:{card.code}"] = card.version

    # Step 5: vouchers spread over the eligible lines, largest remainder to the cent.
    for voucher in vouchers:
        eligible = [w for w in work if w.excluded_by is None and w.amount > 0]
        base = sum((w.amount for w in eligible), ZERO)
        amount = min(voucher.amount, base)
        if amount <= 0:
            continue
        for w, part in zip(eligible, spread(amount, [w.amount for w in eligible], CENT),
                           strict=True):
            w.reduce("voucher", voucher.code, 0, part, f"voucher {voucher.code}")

    priced = tuple(PricedLine(sku=w.product.sku, code=w.line.code, name=w.product.name,
                              qty=w.line.qty, unit_price=w.product.price, amount=w.amount,
                              vat_rate=w.product.vat_rate, gross=w.gross,
                              excluded_by=w.excluded_by, adjustments=tuple(w.adjustments))
                   for w in scanned)
    by_rate: dict[Decimal, Decimal] = {}
    for p in priced:
        by_rate[p.vat_rate] = by_rate.get(p.vat_rate, ZERO) + p.amount
    vat = tuple(split_vat(gross, rate) for rate, gross in sorted(by_rate.items()))
    total = sum((p.amount for p in priced), ZERO)
    return PricedBasket(lines=priced, total=total, vat=vat, versions=versions)
