"""A profile's accrual options (seeds/002 "Maturazione punti"), validated once.

Each option is described where :mod:`rules.loyalty.accrual` applies it, with an example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from rules.loyalty.errors import InvalidPolicy, check_decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class GridEntry:
    """Extra points per euro of a line's basis for a category, a brand or both.

    ``category`` matches the line's category or any of its ancestors; an entry naming
    both a category and a brand is more specific than one naming either.
    """

    points_per_euro: Decimal
    category: str | None = None
    brand: str | None = None

    def matches(self, categories: tuple[str, ...], brand: str | None) -> bool:
        return ((self.category is None or self.category in categories)
                and (self.brand is None or self.brand == brand))

    def rank(self, categories: tuple[str, ...]) -> tuple[int, int, Decimal]:
        """Most specific first: both named, then the nearest category, then the highest rate."""
        depth = categories.index(self.category) if self.category is not None else len(categories)
        both = int(self.category is not None and self.brand is not None)
        return (both, -depth, self.points_per_euro)


@dataclass(frozen=True)
class AccrualPolicy:
    """How a profile's customers earn points (SPEC L2).

    ``threshold``/``step``/``points_per_step``: reaching ``threshold`` earns
    ``points_per_step``, and so does every full ``step`` beyond it.
    ``bonus_threshold``/``bonus_points``: ``bonus_points`` more for every multiple.
    ``whole_points_only`` (default) or fractional points, with ``fractional_threshold``
    the spend from which a fraction is earned below ``threshold``.
    ``max_discount_percent``: a line discounted more earns nothing. ``exclude_offers``:
    lines on offer earn nothing. ``apply_grid``/``grid``: extra points by category/brand.
    ``reduce_by_voucher``/``voucher_multiplier``: the basis loses the vouchers' value times
    the multiplier. ``points_from_products``: a line earns its product's "points
    generated" times its quantity instead of the spend rules. ``exclude_balance``: points
    are computed (receipt, export) but not booked. ``earn_on_invoices`` and
    ``earn_on_suspended``: those documents earn too (plain receipts always do).
    ``earning_exclusions``: codes of pricing exclusions (tobacco...) whose lines still earn.
    """

    threshold: Decimal = Decimal(1)
    step: Decimal = Decimal(1)
    points_per_step: Decimal = Decimal(1)
    bonus_threshold: Decimal | None = None
    bonus_points: Decimal = ZERO
    whole_points_only: bool = True
    fractional_threshold: Decimal | None = None
    max_discount_percent: Decimal | None = None
    exclude_offers: bool = False
    apply_grid: bool = False
    grid: tuple[GridEntry, ...] = ()
    reduce_by_voucher: bool = False
    voucher_multiplier: Decimal = Decimal(4)
    points_from_products: bool = False
    exclude_balance: bool = False
    earn_on_invoices: bool = False
    earn_on_suspended: bool = False
    earning_exclusions: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def unit(self) -> Decimal:
        """The smallest amount of points: 1, or a hundredth with fractional points."""
        return Decimal(1) if self.whole_points_only else Decimal("0.01")

    def validate(self) -> None:
        whole = self.whole_points_only
        check_decimal(self.threshold, "threshold", positive=True)
        check_decimal(self.step, "step", positive=True)
        check_decimal(self.points_per_step, "points_per_step", minimum=ZERO, whole=whole)
        if self.bonus_threshold is not None:
            check_decimal(self.bonus_threshold, "bonus_threshold", positive=True)
        check_decimal(self.bonus_points, "bonus_points", minimum=ZERO, whole=whole)
        if self.bonus_points > 0 and self.bonus_threshold is None:
            raise InvalidPolicy("bonus_threshold", "bonus points need a bonus threshold")
        if self.fractional_threshold is not None:
            if whole:
                raise InvalidPolicy("fractional_threshold",
                                    "needs fractional points (whole_points_only off)")
            check_decimal(self.fractional_threshold, "fractional_threshold", minimum=ZERO,
                          maximum=self.threshold)
        if self.max_discount_percent is not None:
            check_decimal(self.max_discount_percent, "max_discount_percent", minimum=ZERO,
                          maximum=HUNDRED)
        check_decimal(self.voucher_multiplier, "voucher_multiplier", minimum=ZERO)
        if not isinstance(self.grid, tuple):
            raise InvalidPolicy("grid", "must be a tuple of grid entries")
        seen: set[tuple[str | None, str | None]] = set()
        for i, entry in enumerate(self.grid):
            name = f"grid[{i}]"
            if entry.category is None and entry.brand is None:
                raise InvalidPolicy(name, "names neither a category nor a brand")
            check_decimal(entry.points_per_euro, f"{name}.points_per_euro", minimum=ZERO)
            if (entry.category, entry.brand) in seen:
                raise InvalidPolicy(name, "repeats the category and brand of another entry")
            seen.add((entry.category, entry.brand))
        if not isinstance(self.earning_exclusions, frozenset):
            raise InvalidPolicy("earning_exclusions", "must be a frozenset of exclusion codes")
