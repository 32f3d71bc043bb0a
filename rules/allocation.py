"""Splitting an amount (points or money) over lines, exactly and without order effects:
the pricing engine's vouchers and loyalty's points and reductions."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal(0)


def spread(amount: Decimal, weights: Sequence[Decimal], unit: Decimal) -> list[Decimal]:
    """Split ``amount`` (a multiple of ``unit``) over ``weights`` in proportion.

    Each part is rounded down to ``unit``; the units left go one by one to the largest
    remainders, the earlier weight first on equal remainders (callers pass their lines in
    their natural key order, so the result never depends on scan order). Parts sum to
    ``amount`` exactly. Zero weights get nothing; all-zero weights get nothing at all.
    When ``amount`` is at most the sum of the weights and each weight is a multiple of
    ``unit`` (a voucher over line amounts), no part exceeds its weight.
    """
    base = sum(weights, ZERO)
    if base <= 0 or amount == 0:
        return [ZERO for _ in weights]
    exact = [amount * w / base for w in weights]
    parts = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    left = int((amount - sum(parts, ZERO)) / unit)
    order = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += unit
    return parts
