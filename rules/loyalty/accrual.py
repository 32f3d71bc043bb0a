"""Points earned by a sale (SPEC L2, seeds/002 "Maturazione punti"), line by line.

The seed's example, profile ``AccrualPolicy(threshold=1, step=1, points_per_step=1,
bonus_threshold=25, bonus_points=5)`` ("1 point per EUR 1.00, whole points; 5 points
more on reaching EUR 25.00"): a single EUR 100.00 purchase earns 100 + 4 x 5 = 120 points;
the same EUR 100.00 spent as ten purchases of EUR 10.00 earns 10 x 10 = 100 (the seed's
"pt. 100, or more if a single purchase exceeds EUR 25.00").

How each option applies, in order (``B`` is the sale's basis):

1. **Documents.** Receipts earn; invoices only with ``earn_on_invoices``, suspended sales
   settled later only with ``earn_on_suspended`` (otherwise every line earns 0).
2. **Lines that never earn**: a gift line (its points were spent), a gift-card or
   e-wallet purchase (stored value, not goods), a line paid with points; a line of a
   pricing exclusion (tobacco) unless the exclusion's code is in ``earning_exclusions``;
   with ``max_discount_percent=50`` a line whose discounts (vouchers aside) exceed 50% of
   its gross; with ``exclude_offers`` a line a promotion or sales rule reduced.
3. **Basis.** ``B`` = what the customer pays for the earning lines. With
   ``reduce_by_voucher`` it loses the vouchers' value x ``voucher_multiplier`` (default 4):
   EUR 60.00 of goods with a EUR 5.00 voucher (paid EUR 55.00) has basis 55 - 20 = 35.
   The reduction is spread over the lines in proportion, so each line has its own basis.
4. **Standard points** from ``B``. Whole points: ``B`` below ``threshold`` earns 0;
   reaching it earns ``points_per_step``, and so does each full ``step`` beyond it
   (threshold 10, step 5, 1 point: EUR 9.99 -> 0, EUR 10.00 -> 1, EUR 14.99 -> 1,
   EUR 15.00 -> 2). Fractional points (``whole_points_only=False``, to the hundredth,
   rounded down): beyond the threshold each part of a step counts (EUR 12.50 -> 1.50);
   below it, from ``fractional_threshold`` on, the fraction ``B / threshold`` of a
   step's points (fractional threshold 2: EUR 5.00 -> 0.50, EUR 1.99 -> 0).
   With ``points_from_products`` the standard points are instead each line's product
   "points generated" x quantity (2 x a product generating 3 points -> 6, any price).
5. **Bonus**: ``bonus_points`` for every whole multiple of ``bonus_threshold`` in ``B``
   (threshold 25, 5 points: EUR 24.99 -> 0, EUR 25.00 -> 5, EUR 100.00 -> 20).
6. **Grid** (``apply_grid``): each earning line gets its basis x the ``points_per_euro``
   of the most specific grid entry matching its category (or an ancestor) and brand,
   rounded down to the unit (a EUR 12.00 line of a 0.5 point/EUR brand -> 6 more).

Sale-level points (standard from spend, bonus) are split over the earning lines in
proportion to their basis, whole units to the largest remainders, equal remainders to the
lower line number: every line has its own points, so a return can give back exactly a
line's points, and the result does not depend on the order the lines come in.
With ``exclude_balance`` the points are computed (for the receipt and external
procedures) but :attr:`Accrual.books_balance` is False: nothing goes to the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from rules.allocation import spread
from rules.loyalty.accrual_policy import AccrualPolicy, GridEntry
from rules.loyalty.errors import LoyaltyError
from rules.money import CENT, round_money
from rules.pricing import PricedLine, Product

ZERO = Decimal(0)
HUNDRED = Decimal(100)
LineKind = Literal["goods", "gift", "gift_card", "ewallet"]
DocumentKind = Literal["receipt", "invoice", "suspended"]
OFFER_KINDS = frozenset({"promotion", "sales_rule"})
"""Adjustments that put a line "on offer" (cards and vouchers do not)."""


@dataclass(frozen=True)
class SaleLine:
    """What accrual needs of one sale line; ``line`` is its number in the sale."""

    line: int
    sku: str
    qty: Decimal
    amount: Decimal
    """What the customer pays for the line, every reduction (vouchers too) taken."""
    gross: Decimal
    """Before any reduction."""
    voucher: Decimal = ZERO
    """The part of the sale's vouchers the pricing engine spread on this line."""
    on_offer: bool = False
    excluded_by: str | None = None
    categories: tuple[str, ...] = ()
    brand: str | None = None
    product_points: Decimal | None = None
    kind: LineKind = "goods"
    paid_with_points: bool = False

    @property
    def discount_percent(self) -> Decimal:
        """Reductions other than vouchers, in % of the gross."""
        if self.gross <= 0:
            return ZERO
        return (self.gross - self.amount - self.voucher) * HUNDRED / self.gross


@dataclass(frozen=True)
class Sale:
    """A sale (or an invoice, or a suspended sale settled) as accrual sees it."""

    document_id: str
    lines: tuple[SaleLine, ...]
    document: DocumentKind = "receipt"
    voucher_value: Decimal | None = None
    """Vouchers used on the sale; None: the sum of the lines' voucher parts."""


@dataclass(frozen=True)
class LinePoints:
    line: int
    points: Decimal
    basis: Decimal
    grid: Decimal = ZERO
    reason: str | None = None
    """Why the line earns nothing (None when it takes part in accrual)."""


@dataclass(frozen=True)
class Accrual:
    document_id: str
    lines: tuple[LinePoints, ...]
    basis: Decimal
    standard: Decimal
    bonus: Decimal
    grid: Decimal
    books_balance: bool
    reason: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.points for line in self.lines), ZERO)


def line_from_priced(number: int, priced: PricedLine, product: Product, *,
                     kind: LineKind = "goods", paid_with_points: bool = False,
                     product_points: Decimal | None = None) -> SaleLine:
    """A sale line from the pricing engine's answer for it (and its product)."""
    voucher = sum((a.amount for a in priced.adjustments if a.kind == "voucher"), ZERO)
    return SaleLine(line=number, sku=priced.sku, qty=priced.qty, amount=priced.amount,
                    gross=priced.gross, voucher=voucher,
                    on_offer=any(a.kind in OFFER_KINDS for a in priced.adjustments),
                    excluded_by=priced.excluded_by, categories=product.categories,
                    brand=product.brand, product_points=product_points, kind=kind,
                    paid_with_points=paid_with_points)


def not_earning(line: SaleLine, policy: AccrualPolicy) -> str | None:
    """Why ``line`` earns nothing under ``policy``, or None."""
    if line.kind == "gift":
        return "gift"
    if line.kind in ("gift_card", "ewallet"):
        return f"{line.kind.replace('_', ' ')} purchase"
    if line.paid_with_points:
        return "paid with points"
    if line.excluded_by is not None and line.excluded_by not in policy.earning_exclusions:
        return f"excluded ({line.excluded_by})"
    if (policy.max_discount_percent is not None
            and line.discount_percent > policy.max_discount_percent):
        return f"discount above {policy.max_discount_percent}%"
    if policy.exclude_offers and line.on_offer:
        return "on offer"
    return None


def standard_points(basis: Decimal, policy: AccrualPolicy) -> Decimal:
    """Threshold, step and points per step (or their fractional form) on ``basis``."""
    p, t = policy.points_per_step, policy.threshold
    if basis >= t:
        steps = (basis - t) / policy.step
        if policy.whole_points_only:
            steps = steps.to_integral_value(rounding=ROUND_DOWN)
        points = p * (1 + steps)
    elif (not policy.whole_points_only and policy.fractional_threshold is not None
          and basis >= policy.fractional_threshold and basis > 0):
        points = p * basis / t
    else:
        return ZERO
    return points.quantize(policy.unit, rounding=ROUND_DOWN)


def bonus_points(basis: Decimal, policy: AccrualPolicy) -> Decimal:
    """``bonus_points`` for each whole multiple of ``bonus_threshold`` in ``basis``."""
    if policy.bonus_threshold is None or basis <= 0:
        return ZERO
    multiples = (basis / policy.bonus_threshold).to_integral_value(rounding=ROUND_DOWN)
    return multiples * policy.bonus_points


def grid_entry(line: SaleLine, grid: Sequence[GridEntry]) -> GridEntry | None:
    matching = [e for e in grid if e.matches(line.categories, line.brand)]
    return max(matching, key=lambda e: e.rank(line.categories), default=None)


def _document_reason(sale: Sale, policy: AccrualPolicy) -> str | None:
    if sale.document == "invoice" and not policy.earn_on_invoices:
        return "invoices do not earn points in this profile"
    if sale.document == "suspended" and not policy.earn_on_suspended:
        return "suspended sales do not earn points in this profile"
    return None


def accrue(sale: Sale, policy: AccrualPolicy) -> Accrual:
    """The points ``sale`` earns under ``policy``, per line (see the module docstring)."""
    numbers = [line.line for line in sale.lines]
    if len(set(numbers)) != len(numbers):
        raise LoyaltyError(f"sale {sale.document_id!r} repeats a line number")
    lines = sorted(sale.lines, key=lambda line: line.line)
    books = not policy.exclude_balance
    reason = _document_reason(sale, policy)
    if reason is not None:
        return Accrual(sale.document_id,
                       tuple(LinePoints(line.line, ZERO, ZERO, reason=reason) for line in lines),
                       ZERO, ZERO, ZERO, ZERO, books, reason)
    reasons = {line.line: not_earning(line, policy) for line in lines}
    earning = [line for line in lines if reasons[line.line] is None]
    raw = [max(line.amount, ZERO) for line in earning]
    total_raw = sum(raw, ZERO)
    reduction = ZERO
    if policy.reduce_by_voucher:
        vouchers = sale.voucher_value
        if vouchers is None:
            vouchers = sum((line.voucher for line in sale.lines), ZERO)
        reduction = min(round_money(vouchers * policy.voucher_multiplier), total_raw)
    bases = [r - part for r, part in zip(raw, spread(reduction, raw, CENT), strict=True)]
    basis = total_raw - reduction
    unit = policy.unit

    if policy.points_from_products:
        standard_parts = [((line.product_points or ZERO) * line.qty).quantize(
            unit, rounding=ROUND_DOWN) for line in earning]
        standard_parts = [max(part, ZERO) for part in standard_parts]
        standard = sum(standard_parts, ZERO)
        bonus = bonus_points(basis, policy)
        shared = spread(bonus, bases, unit)
    else:
        standard = standard_points(basis, policy)
        bonus = bonus_points(basis, policy)
        standard_parts = [ZERO for _ in earning]
        shared = spread(standard + bonus, bases, unit)

    grid_parts: list[Decimal] = []
    for line, line_basis in zip(earning, bases, strict=True):
        entry = grid_entry(line, policy.grid) if policy.apply_grid else None
        extra = ZERO if entry is None else (line_basis * entry.points_per_euro).quantize(
            unit, rounding=ROUND_DOWN)
        grid_parts.append(extra)

    earned = {line.line: LinePoints(line.line, own + share + extra, line_basis, extra)
              for line, own, share, extra, line_basis
              in zip(earning, standard_parts, shared, grid_parts, bases, strict=True)}
    result = tuple(earned.get(line.line) or LinePoints(line.line, ZERO, ZERO,
                                                        reason=reasons[line.line])
                   for line in lines)
    return Accrual(sale.document_id, result, basis, standard, bonus,
                   sum(grid_parts, ZERO), books)
