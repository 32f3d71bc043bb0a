"""A loyalty profile as one concept (rules.cards.LoyaltyProfile): which profile a new card
joins, its discount level priced like a card (never on excluded lines), and its accrual and
redemption options on the wire (protocol.loyalty) rebuilding exactly the same policies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.loyalty import (
    accrual_from_wire,
    accrual_to_wire,
    redemption_from_wire,
    redemption_to_wire,
)
from rules.cards import LoyaltyProfile, profile_for_new_card
from rules.loyalty.accrual_policy import AccrualPolicy, GridEntry
from rules.loyalty.errors import InvalidPolicy
from rules.loyalty.redemption import GiftDiscount, MarkupBand, PointsValuePolicy
from rules.policies import CardDiscount, Exclusion, Period, Policies, Target
from rules.pricing import BasketLine, Product, price_basket

D = Decimal
NOW = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
BASE = LoyaltyProfile("BASE", "Standard", "29", default=True)
GOLD = LoyaltyProfile("GOLD", "Gold", "2901", ("2950",), discount_percent=D(5), version=3)
STAFF = LoyaltyProfile("STAFF", "Staff", "040", ean_prefix="2955", discount_percent=D(10))
PROFILES = (BASE, GOLD, STAFF)


@pytest.mark.parametrize(("number", "expected"), [
    pytest.param("2955000000017", "STAFF", id="ean-profile-prefix-beats-the-card-prefix"),
    pytest.param("2901000000015", "GOLD", id="longest-card-prefix"),
    pytest.param("2950000000012", "GOLD", id="alternative-prefix"),
    pytest.param("2900000000018", "BASE", id="card-prefix"),
    pytest.param("8000000000014", "BASE", id="no-prefix-the-default"),
])
def test_the_profile_a_new_cards_holder_joins(number: str, expected: str) -> None:
    found = profile_for_new_card(number, PROFILES)
    assert found is not None and found.code == expected


def test_without_a_default_an_unknown_card_joins_no_profile() -> None:
    assert profile_for_new_card("8000000000014", (GOLD, STAFF)) is None


CATALOGUE = {
    "FOOD": Product("FOOD", "Food", D("10.00"), D("10"), categories=("food",)),
    "CIG": Product("CIG", "Cigarettes", D("5.50"), D("22"), categories=("tobacco",)),
}
TOBACCO = Exclusion("TOBACCO", 1, Target("category", frozenset({"tobacco"})), Period())


def test_the_profile_discount_is_priced_like_a_card_never_on_excluded_lines() -> None:
    card = GOLD.card_discount()
    assert card == CardDiscount("profile", "GOLD", 3, D(5))
    priced = price_basket([BasketLine("FOOD", D(1)), BasketLine("CIG", D(1))], CATALOGUE,
                          Policies(exclusions=(TOBACCO,)), [card], now=NOW)
    assert [str(line.amount) for line in priced.lines] == ["9.50", "5.50"]
    assert priced.versions["profile:GOLD"] == 3
    assert BASE.card_discount() is None  # no discount level: nothing to price


def test_the_better_of_the_profile_and_another_card_wins() -> None:
    partner = CardDiscount("partner", "UNION", 1, D(8))
    priced = price_basket([BasketLine("FOOD", D(1))], CATALOGUE, Policies(),
                          [partner, STAFF.card_discount()], now=NOW)  # type: ignore[list-item]
    assert str(priced.lines[0].amount) == "9.00"  # staff 10% beats the union's 8%


decimals = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@given(threshold=decimals, step=decimals, per_step=st.integers(0, 20),
       bonus=st.none() | decimals, flags=st.lists(st.booleans(), min_size=7, max_size=7),
       multiplier=decimals)
def test_accrual_options_round_trip_through_the_wire(threshold: Decimal, step: Decimal,
                                                      per_step: int, bonus: Decimal | None,
                                                      flags: list[bool],
                                                      multiplier: Decimal) -> None:
    policy = AccrualPolicy(
        threshold=threshold, step=step, points_per_step=D(per_step), bonus_threshold=bonus,
        bonus_points=D(5) if bonus else D(0), exclude_offers=flags[0], apply_grid=flags[1],
        grid=(GridEntry(D("0.5"), category="food"), GridEntry(D(1), brand="acme")),
        reduce_by_voucher=flags[2], voucher_multiplier=multiplier,
        points_from_products=flags[3], exclude_balance=flags[4], earn_on_invoices=flags[5],
        earn_on_suspended=flags[6], earning_exclusions=frozenset({"TOBACCO"}))
    assert accrual_from_wire(accrual_to_wire(policy)) == policy


def test_redemption_options_round_trip_through_the_wire() -> None:
    policy = PointsValuePolicy(
        bands=(MarkupBand(D(30), up_to=D(100)), MarkupBand(D(35), D(100), D(200)),
               MarkupBand(D(40), above=D(200))),
        discount_levels=3, on_sale_price=True, release="discount",
        discounts=(GiftDiscount(D(50)), GiftDiscount(D(100), D(90))))
    assert redemption_from_wire(redemption_to_wire(policy)) == policy


@pytest.mark.parametrize(("data", "field"), [
    pytest.param({"threshold": 1.5}, "accrual.threshold", id="float-refused"),
    pytest.param({"step": "abc"}, "accrual.step", id="not-a-decimal"),
    pytest.param({"step": "NaN"}, "accrual.step", id="not-finite"),
    pytest.param({"step": ["1"]}, "accrual.step", id="not-a-number-at-all"),
    pytest.param({"exclude_offers": "yes"}, "accrual.exclude_offers", id="not-a-flag"),
    pytest.param({"grid": [{"points_per_euro": "1"}]}, "accrual.grid[0]", id="grid-names-nothing"),
])
def test_bad_accrual_options_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        accrual_from_wire(data)
    assert caught.value.field == field


@pytest.mark.parametrize(("data", "field"), [
    pytest.param({"bands": [{"ratio": "-1"}]}, "redemption.bands[0].ratio", id="negative"),
    pytest.param({"bands": [{"ratio": "30", "up_to": "100"}, {"ratio": "35", "above": "90"}]},
                 "redemption.bands[1]", id="overlap"),
    pytest.param({"bands": [{"ratio": "30"}] * 4}, "redemption.bands", id="four-bands"),
    pytest.param({"discount_levels": 6}, "redemption.discount_levels", id="six-levels"),
])
def test_bad_redemption_options_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        redemption_from_wire(data)
    assert caught.value.field == field
