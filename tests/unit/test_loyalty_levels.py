"""Levels and gifts (L3): what the till shows, one gift per sale, when a level may go."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.loyalty.errors import GiftRefused, InvalidPolicy
from rules.loyalty.levels import (
    Gift,
    Level,
    Programme,
    check_one_gift,
    gift_options,
    level_removal_blockers,
    take_gift,
)

D = Decimal
# seeds/000: 1 point per EUR 10.00; level 1 = 10 points (EUR 100), level 2 = 20 points...
PROGRAMME = Programme(levels=(Level("L1", D(10)), Level("L2", D(20)), Level("L3", D(30))),
                      gifts=(Gift("MUG", "L1"), Gift("BAG", "L2"), Gift("BALL", "L3", D(64))))


def test_gift_options_show_every_gift_and_why_not() -> None:
    options = gift_options(PROGRAMME, D(25))
    assert [(o.sku, o.points, o.can_take) for o in options] == [
        ("MUG", D(10), True), ("BAG", D(20), True), ("BALL", D(64), False)]
    assert options[2].reason == "not enough points: the customer has 25, the gift needs 64"
    assert PROGRAMME.reached(D(25)) == Level("L2", D(20))
    assert PROGRAMME.reached(D(9)) is None


def test_taking_a_gift_spends_its_points_and_only_one_per_sale() -> None:
    assert take_gift(PROGRAMME, "BAG", D(25)) == D(20)
    with pytest.raises(GiftRefused, match="only one gift per sale"):
        take_gift(PROGRAMME, "MUG", D(25), gifts_in_sale=1)
    assert all(not o.can_take for o in gift_options(PROGRAMME, D(100), gifts_in_sale=1))
    with pytest.raises(GiftRefused, match="not enough points"):
        take_gift(PROGRAMME, "BALL", D(63))
    with pytest.raises(GiftRefused, match="not a gift"):
        take_gift(PROGRAMME, "BREAD", D(100))
    check_one_gift(["MUG"])
    with pytest.raises(GiftRefused, match="only one gift per sale") as info:
        check_one_gift(["MUG", "BAG"])
    assert info.value.sku == "BAG"


def test_level_removal_conditions() -> None:
    blockers = level_removal_blockers(PROGRAMME, "L2", [D(0), D(9), D(10), D(45)])
    assert [b.condition for b in blockers] == ["gifts_on_level", "balances_at_first_level"]
    assert blockers[0].gifts == ("BAG",) and blockers[1].customers == 2
    assert "BAG" in blockers[0].message and "10 points or more" in blockers[1].message
    no_gifts = Programme(levels=PROGRAMME.levels, gifts=(Gift("MUG", "L1"),))
    assert level_removal_blockers(no_gifts, "L2", [D(9), D(-3)]) == ()
    only_points = level_removal_blockers(no_gifts, "L3", [D(10)])
    assert [b.condition for b in only_points] == ["balances_at_first_level"]


@pytest.mark.parametrize(("levels", "gifts", "field"), [
    ((Level("L1", D(0)),), (), "levels[0].points"),
    ((Level("L1", D(10)), Level("L1", D(20))), (), "levels[1].code"),
    ((Level("L1", D(10)), Level("L2", D(10))), (), "levels[1].points"),
    ((Level("", D(10)),), (), "levels[0].code"),
    ((Level("L1", D(10)),), (Gift("MUG", "L9"),), "gifts[0].level"),
    ((Level("L1", D(10)),), (Gift("MUG", "L1"), Gift("MUG", "L1")), "gifts[1].sku"),
    ((Level("L1", D(10)),), (Gift("MUG", "L1", D(-1)),), "gifts[0].points"),
])
def test_bad_programmes_name_the_field(levels: tuple[Level, ...], gifts: tuple[Gift, ...],
                                       field: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        Programme(levels=levels, gifts=gifts)
    assert info.value.field == field
