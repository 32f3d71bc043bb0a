"""The store's gift rule (why a gift cannot be taken now, in the order the till shows it)
and the receipt's points trailer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.loyalty.levels import Gift, Level, Programme
from rules.receipt_text import loyalty_lines
from store_agent.pos.loyalty import Standing, gift_refusal

D = Decimal
PROGRAMME = Programme((Level("L1", D(10)), Level("L2", D(50))),
                      (Gift("mug", "L1"), Gift("vase", "L2", D(45))))


def standing(balance: str, spent: str = "0") -> Standing:
    return Standing(D(balance), None, D(spent), D(0), max(D(0), D(balance) - D(spent)))


@pytest.mark.parametrize(("sku", "known", "taken", "found", "reason"), [
    ("mug", standing("30"), None, True, None),
    ("mug", standing("10"), None, True, None),  # exactly the level's points
    ("mug", standing("30"), None, False, "not sold at this store"),
    ("mug", standing("30"), "vase", True, "only one gift per sale: vase"),
    ("vase", standing("49"), None, True, "level L2 not reached"),
    # The level is reached on the balance; what may be spent is the offline allowance.
    ("vase", standing("60", "20"), None, True, "not enough points: the gift costs 45, "
                                               "the customer may spend 40 now"),
    ("vase", standing("60", "15"), None, True, None),
    ("mug", standing("-5"), None, True, "level L1 not reached"),
])
def test_why_a_gift_cannot_be_taken_now(sku: str, known: Standing, taken: str | None,
                                        found: bool, reason: str | None) -> None:
    said = gift_refusal(PROGRAMME, PROGRAMME.gift(sku), known, product_known=found,
                        taken=taken)
    if reason is None:
        assert said is None
    else:
        assert said is not None and reason in said


def test_the_receipt_says_the_points_earned_spent_and_the_balance_known() -> None:
    assert loyalty_lines({}) == [] and loyalty_lines({"loyalty": None}) == []
    assert loyalty_lines({"loyalty": {"points": "12", "gifts": [], "balance": "42.00"}}) == [
        "Points earned: 12", "Points balance: 42"]
    assert loyalty_lines({"loyalty": {"points": "0.50", "balance": None, "gifts": [
        {"line": 1, "points": "10.00"}]}}) == ["Points earned: 0.5", "Points spent: 10"]
