"""Cards (K4, L1, V5): chain EAN-13 ranges, profile prefixes, partner and VIP cards."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.barcodes import barcode_kind
from rules.cards import (
    CardError,
    CardKind,
    CardRange,
    LoyaltyProfile,
    PartnerProgramme,
    VipTerms,
    check_loyalty_card,
    check_profiles,
    check_vip_code,
    loyalty_card_number,
    profile_for_card,
    read_card,
)

GOLD = LoyaltyProfile("GOLD", "Gold", "2901", ("2950",))
BASE = LoyaltyProfile("BASE", "Standard", "29")
UNION = PartnerProgramme("ABCDEF", "Union card ABCDEF", ("990",))
PROFILES = (BASE, GOLD)


def test_a_card_number_is_prefix_running_number_and_check_digit() -> None:
    number = loyalty_card_number("2901", 42)
    assert number == "2901000000428"  # 2+27+0+3+0+0+0+0+0+0+4+6 = 42: check digit 8
    assert len(number) == 13
    assert barcode_kind(number) == "ean13"  # the shop's own EAN check agrees
    assert loyalty_card_number("4006381333", 93) == "4006381333931"  # a known EAN-13


def test_a_range_lists_its_numbers_and_knows_them() -> None:
    cards = CardRange("2901", 10, 14)
    numbers = list(cards)
    assert len(cards) == 5 == len(set(numbers))
    assert all(n in cards for n in numbers)
    assert loyalty_card_number("2901", 15) not in cards
    assert cards.serial_of(numbers[2]) == 12
    assert cards.next_free(numbers[:2]) == numbers[2]
    with pytest.raises(CardError, match="used up"):
        cards.next_free(numbers)
    assert cards.overlaps(CardRange("2901", 14, 20))
    assert not cards.overlaps(CardRange("2950", 10, 14))


@pytest.mark.parametrize(("prefix", "serial"), [("29", -1), ("2901", 10**8), ("29a", 1),
                                                ("", 1), ("12345678901", 1)])
def test_numbers_that_do_not_fit_are_refused(prefix: str, serial: int) -> None:
    with pytest.raises(CardError):
        loyalty_card_number(prefix, serial)


@given(st.sampled_from(["2", "29", "2901", "123456"]), st.integers(0, 10**6 - 1),
       st.integers(0, 11), st.integers(1, 9))
def test_any_single_digit_error_is_caught(prefix: str, serial: int, where: int,
                                          shift: int) -> None:
    number = loyalty_card_number(prefix, serial)
    assert check_loyalty_card(number) == number
    wrong = number[:where] + str((int(number[where]) + shift) % 10) + number[where + 1:]
    with pytest.raises(CardError, match="check digit"):
        check_loyalty_card(wrong)


def test_the_longest_prefix_main_or_alternative_assigns_the_profile() -> None:
    assert profile_for_card(loyalty_card_number("2901", 1), PROFILES) == GOLD
    assert profile_for_card(loyalty_card_number("2950", 1), PROFILES) == GOLD
    assert profile_for_card(loyalty_card_number("2977", 1), PROFILES) == BASE
    assert profile_for_card(loyalty_card_number("3100", 1), PROFILES) is None
    check_profiles(PROFILES)
    with pytest.raises(CardError, match="belongs to"):
        check_profiles([*PROFILES, LoyaltyProfile("VIPX", "x", "2950")])


def test_reading_a_scanned_code() -> None:
    chain = loyalty_card_number("2950", 7)
    assert read_card(f" {chain[:6]} {chain[6:]} ", PROFILES, [UNION]) == \
        type(read_card(chain, PROFILES, [UNION]))(chain, CardKind.LOYALTY, profile=GOLD)
    assert read_card("#VIP#ANNA01", PROFILES, [UNION]).kind is CardKind.VIP
    union = read_card("990-1234-55", PROFILES, [UNION])
    assert union.kind is CardKind.PARTNER and union.programme == UNION
    unknown = read_card("MEMBER-77", PROFILES, [UNION])
    assert unknown.kind is CardKind.PARTNER and unknown.programme is None
    with pytest.raises(CardError, match="check digit"):
        read_card(chain[:-1] + str((int(chain[-1]) + 1) % 10), PROFILES, [UNION])
    with pytest.raises(CardError, match="not 13 digits"):
        read_card("29011", PROFILES, [UNION])
    with pytest.raises(CardError):
        read_card("#VIP#", PROFILES, [UNION])
    with pytest.raises(CardError, match="not a card number"):
        read_card("=1+2", PROFILES, [UNION])


def test_an_ean_partner_card_with_a_wrong_check_digit_is_refused() -> None:
    shop = PartnerProgramme("COOP", "Coop", ("40",), ean=True)
    assert read_card("4006381333931", PROFILES, [shop]).programme == shop
    with pytest.raises(CardError, match="check digit"):
        read_card("4006381333932", PROFILES, [shop])


def test_vip_cards() -> None:
    assert check_vip_code(" #VIP#A7 ") == "#VIP#A7"
    for bad in ("VIP123", "#VIP#", "#VIP#a b", "#vip#12"):
        with pytest.raises(CardError, match="#VIP#"):
            check_vip_code(bad)
    terms = VipTerms(Decimal("15"), date(2025, 6, 30))
    assert terms.rate_on(date(2025, 6, 30)) == Decimal("15")
    assert terms.rate_on(date(2025, 7, 1)) is None
    with pytest.raises(CardError):
        VipTerms(Decimal("0"), date(2025, 6, 30))
