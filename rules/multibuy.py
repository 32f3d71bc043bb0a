"""Which lines a multi-buy pools: the choice that leaves the customer best off.

A multi-buy ("3 for 2", "second at half price") lays the whole units of the lines it pools
out dearest first and cuts them into blocks of ``buy + get``; in every complete block the
``get`` last (cheapest) units are discounted. A line with a sales rule loses its rule as
soon as one of its units is in a complete block, even a unit that only qualifies. So
whether a line is better in the pool or on its rule depends on the other lines, and the
greedy answers (the line with the best rule leaves first, the line whose own share is
smaller than its rule leaves) are wrong on some baskets.

:func:`best_pool` finds the exact best choice by dynamic programming over the lines,
cheapest first. Seen from the cheapest end, a unit's place in its block depends only on
how many units come after it and on the total number of units modulo the block size; so
for each possible total modulo the block, the state is how many units were laid out after
the current line (exactly below one block, modulo the block above). That is
``lines x 2 blocks`` states per total, so the cost is linear in the lines and does not
depend on the quantities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Run:
    """The whole units of one line as the multi-buy sees them."""

    line: int
    units: int
    unit_off: Decimal
    """What the multi-buy takes off one discounted unit of the line (already rounded)."""
    rule: Decimal
    """What the line's sales rule takes off (0: no rule, the line always stays)."""


def _discounted_before(position: int, buy: int, get: int) -> int:
    """How many of the units laid out before ``position`` sit on a discounted place."""
    block = buy + get
    return position // block * get + max(0, position % block - buy)


def discounted_units(runs: Sequence[Run], buy: int, get: int) -> dict[int, int]:
    """Per line the multi-buy uses, how many of its units are discounted (maybe none).

    ``runs`` are the pooled lines in the order their units are laid out, dearest first.
    A line is used when one of its units is in a complete block, qualifying units included.
    """
    block = buy + get
    complete = sum(run.units for run in runs) // block * block
    used: dict[int, int] = {}
    position = 0
    for run in runs:
        if position >= complete:
            break
        if run.units:
            end = min(position + run.units, complete)
            used[run.line] = (_discounted_before(end, buy, get)
                              - _discounted_before(position, buy, get))
            position += run.units
    return used


def best_pool(runs: Sequence[Run], buy: int, get: int) -> frozenset[int]:
    """The lines of ``runs`` that should stay in the multi-buy; the others keep their rule.

    ``runs`` are in the order the units are laid out (dearest first, ties already settled
    by the caller). The choice maximises what the multi-buy takes off the lines it uses
    minus the rules those lines give up. Among equally good choices the one that keeps
    the rule on the cheapest lines (then the next cheapest...) wins, so a tie keeps the
    rule. Lines without a rule always stay.
    """
    block = buy + get
    cheapest_first = [run for run in reversed(runs) if run.units > 0]
    best: tuple[Decimal, tuple[bool, ...]] | None = None
    for remainder in range(block):
        choice = _best_for_remainder(cheapest_first, buy, get, remainder)
        if choice is not None and (best is None or choice > best):
            best = choice
    assert best is not None  # keeping every line is always possible for its own remainder
    _value, kept_rule = best
    leaving = {run.line for run, keeps in zip(cheapest_first, kept_rule, strict=True) if keeps}
    return frozenset(run.line for run in runs if run.line not in leaving)


def _best_for_remainder(cheapest_first: Sequence[Run], buy: int, get: int,
                        remainder: int) -> tuple[Decimal, tuple[bool, ...]] | None:
    """The best choice whose total of units is ``remainder`` modulo the block, if any.

    The ``remainder`` last units are the incomplete block, which nothing discounts and
    which uses no line. Returns (value, per line in ``cheapest_first``: keeps its rule).
    """
    block = buy + get

    def after(state: int, units: int) -> int:
        # A state is the exact count of units laid out after the line while it is below a
        # block, then ``block`` + that count modulo the block: congruent to the count and
        # above the incomplete block, which is all that the places of the units depend on.
        count = state + units
        return count if count < block else block + count % block

    def value_in(run: Run, state: int) -> Decimal:
        """What keeping ``run`` in the pool is worth when ``state`` units come after it."""
        first, end = max(state, remainder), state + run.units
        if end <= remainder:
            return ZERO  # wholly in the incomplete block: not used, keeps its rule
        # Counted from the start, the units ``first`` to ``end`` places from the end are
        # at total - end to total - first; any total congruent to the real one will do.
        total = remainder + (end // block + 1) * block
        discounted = (_discounted_before(total - first, buy, get)
                      - _discounted_before(total - end, buy, get))
        return discounted * run.unit_off - run.rule

    states = range(2 * block)
    # to_go[k][state]: the best value of the lines from k on, None where none fits.
    to_go: list[list[Decimal | None]] = [[None] * len(states)
                                         for _ in range(len(cheapest_first) + 1)]
    to_go[-1][remainder] = ZERO
    to_go[-1][block + remainder] = ZERO
    for k in range(len(cheapest_first) - 1, -1, -1):
        run = cheapest_first[k]
        for state in states:
            options = []
            rest_in = to_go[k + 1][after(state, run.units)]
            if rest_in is not None:
                options.append(value_in(run, state) + rest_in)
            rest_out = to_go[k + 1][state]
            if run.rule > 0 and rest_out is not None:
                options.append(rest_out)
            to_go[k][state] = max(options, default=None)
    total = to_go[0][0]
    if total is None:
        return None
    kept_rule: list[bool] = []
    state = 0
    for k, run in enumerate(cheapest_first):
        rest_out = to_go[k + 1][state]
        if run.rule > 0 and rest_out is not None and rest_out == to_go[k][state]:
            kept_rule.append(True)
        else:
            kept_rule.append(False)
            state = after(state, run.units)
    return total, tuple(kept_rule)
