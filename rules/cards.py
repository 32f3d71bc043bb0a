"""Customer cards (K4, L1, V5): the chain's EAN-13 loyalty cards, partner cards, VIP cards.

A chain card is ``prefix + running number + check digit`` in 13 digits; the prefix (a
profile's main or one of its alternatives) tells which loyalty profile a new holder joins.
A partner card is whatever another organisation printed (seeds/004: a union card), known
by its programme's prefixes. A VIP card is ``#VIP#`` followed by letters or digits.
Which customer holds a card is the registry's business; here only the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from rules.barcodes import ean_check_digit
from rules.policies import CardDiscount

EAN13 = 13
VIP_MARK = "#VIP#"
_VIP = re.compile(r"#VIP#[A-Za-z0-9]{1,32}")
_PARTNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _./-]{2,39}")


class CardError(ValueError):
    """A card number that cannot be issued or read; says what is wrong with it."""


class CardKind(Enum):
    LOYALTY = "loyalty"
    PARTNER = "partner"
    VIP = "vip"


@dataclass(frozen=True)
class LoyaltyProfile:
    """A loyalty profile (SPEC L1): its cards, and the options its members get.

    ``prefix``/``alternative_prefixes`` tell a chain card's profile; ``ean_prefix`` (the
    seed's "Codice profilo") assigns a new card's holder to this profile whatever the
    default; ``default`` marks the profile new customers join otherwise.
    ``discount_percent`` is the profile's discount level, priced as a card
    (:meth:`card_discount`). ``version`` grows with every change of the profile, so a sale
    records the version it was computed with. The accrual and redemption options live in
    :mod:`rules.loyalty` (``AccrualPolicy``, ``PointsValuePolicy``); the profile carries
    them when the caller has them (central, the store), ``None`` otherwise.
    """

    code: str
    name: str
    prefix: str
    alternative_prefixes: tuple[str, ...] = ()
    ean_prefix: str | None = None
    default: bool = False
    discount_percent: Decimal = Decimal(0)
    version: int = 1
    accrual: object | None = None
    """A ``rules.loyalty.AccrualPolicy`` (typed loosely: cards do not depend on loyalty)."""
    redemption: object | None = None
    """A ``rules.loyalty.PointsValuePolicy``."""

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix, *self.alternative_prefixes)

    def card_discount(self) -> CardDiscount | None:
        """The profile's discount level as the pricing engine takes it (None: no discount)."""
        if self.discount_percent <= 0:
            return None
        return CardDiscount("profile", self.code, self.version, self.discount_percent)


@dataclass(frozen=True)
class PartnerProgramme:
    """Another organisation's cards accepted by the chain (seeds/004)."""

    code: str
    name: str
    prefixes: tuple[str, ...] = ()
    """Empty: the programme's cards are known only from its imported member list."""
    ean: bool = False
    """Its cards are EAN-13: a wrong check digit is a misread, refused."""


def _prefix_digits(prefix: str) -> str:
    if not (prefix.isascii() and prefix.isdigit()) or not 1 <= len(prefix) <= 10:
        raise CardError(f"a card prefix is 1 to 10 digits, not {prefix!r}")
    return prefix


def loyalty_card_number(prefix: str, serial: int) -> str:
    """The EAN-13 of card ``serial`` under ``prefix`` (zero-padded, check digit added)."""
    width = EAN13 - 1 - len(_prefix_digits(prefix))
    if not 0 <= serial < 10**width:
        raise CardError(f"serial {serial} does not fit the {width} digits after {prefix}")
    body = prefix + str(serial).zfill(width)
    return body + str(ean_check_digit(body))


@dataclass(frozen=True)
class CardRange:
    """Serials ``first`` to ``last`` inclusive under ``prefix`` (a store's block of cards
    for customers made offline, or a print run)."""

    prefix: str
    first: int
    last: int

    def __post_init__(self) -> None:
        loyalty_card_number(self.prefix, self.first)
        loyalty_card_number(self.prefix, self.last)
        if self.last < self.first:
            raise CardError("a range ends after it starts")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __iter__(self) -> Iterator[str]:
        return (loyalty_card_number(self.prefix, s) for s in range(self.first, self.last + 1))

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        serial = self.serial_of(number)
        return serial is not None and self.first <= serial <= self.last

    def serial_of(self, number: str) -> int | None:
        if len(number) != EAN13 or not number.startswith(self.prefix) or not number.isdigit():
            return None
        if ean_check_digit(number[:-1]) != int(number[-1]):
            return None
        return int(number[len(self.prefix):-1])

    def overlaps(self, other: CardRange) -> bool:
        return (self.prefix == other.prefix and self.first <= other.last
                and other.first <= self.last)

    def next_free(self, used: Iterable[str]) -> str:
        """The lowest number of the range not in ``used`` (a store issuing offline)."""
        taken = {s for s in (self.serial_of(n) for n in used) if s is not None}
        for serial in range(self.first, self.last + 1):
            if serial not in taken:
                return loyalty_card_number(self.prefix, serial)
        raise CardError(f"the range {self.prefix} {self.first}-{self.last} is used up")


def check_loyalty_card(scanned: str) -> str:
    """A scanned or typed chain card: 13 digits with the right check digit."""
    number = "".join(scanned.split())
    if not (number.isascii() and number.isdigit()) or len(number) != EAN13:
        raise CardError(f"a loyalty card is 13 digits, not {scanned!r}")
    if ean_check_digit(number[:-1]) != int(number[-1]):
        raise CardError(f"{number} has a wrong check digit (misread or mistyped)")
    return number


def check_profiles(profiles: Iterable[LoyaltyProfile]) -> None:
    """Refuse two profiles claiming the same prefix: a card would belong to both."""
    owner: dict[str, str] = {}
    for profile in profiles:
        for prefix in profile.prefixes:
            _prefix_digits(prefix)
            if prefix in owner and owner[prefix] != profile.code:
                raise CardError(f"prefix {prefix} belongs to {owner[prefix]} and {profile.code}")
            owner[prefix] = profile.code


def profile_for_card(number: str, profiles: Iterable[LoyaltyProfile]) -> LoyaltyProfile | None:
    """The profile whose prefix (main or alternative) the card starts with; the longest
    prefix wins (``2901`` before ``29``); ``None`` when no profile claims it."""
    best: tuple[int, LoyaltyProfile] | None = None
    for profile in profiles:
        for prefix in profile.prefixes:
            if number.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), profile)
    return None if best is None else best[1]


def profile_for_new_card(number: str,
                         profiles: Iterable[LoyaltyProfile]) -> LoyaltyProfile | None:
    """The profile a new card's holder joins: the profile whose EAN profile prefix the card
    starts with (longest first), ignoring the default; else the profile of its card prefix;
    else the default profile (None when there is none)."""
    listed = list(profiles)
    by_ean = [p for p in listed if p.ean_prefix and number.startswith(p.ean_prefix)]
    if by_ean:
        return max(by_ean, key=lambda p: len(p.ean_prefix or ""))
    found = profile_for_card(number, listed)
    if found is not None:
        return found
    return next((p for p in listed if p.default), None)


def check_vip_code(code: str) -> str:
    """A VIP card code: ``#VIP#`` then 1-32 letters or digits (uniqueness is the
    registry's check)."""
    text = code.strip()
    if not _VIP.fullmatch(text):
        raise CardError(f"a VIP card is {VIP_MARK} followed by letters or digits, not {code!r}")
    return text


@dataclass(frozen=True)
class VipTerms:
    rate: Decimal
    """Discount in percent, above 0 and at most 100."""
    ends_on: date

    def __post_init__(self) -> None:
        if not Decimal(0) < self.rate <= Decimal(100):
            raise CardError(f"a VIP rate is above 0 and at most 100, not {self.rate}")

    def rate_on(self, today: date) -> Decimal | None:
        """The rate on ``today`` (the last day included), ``None`` once it has ended."""
        return self.rate if today <= self.ends_on else None


@dataclass(frozen=True)
class ReadCard:
    number: str
    kind: CardKind
    profile: LoyaltyProfile | None = None
    programme: PartnerProgramme | None = None


def read_card(scanned: str, profiles: Iterable[LoyaltyProfile],
              programmes: Iterable[PartnerProgramme]) -> ReadCard:
    """What a scanned code is: a VIP card, a chain card (its profile), or a partner card
    (its programme when a prefix says so). A chain or EAN partner card with a wrong check
    digit is refused rather than looked up."""
    text = scanned.strip()
    if text.upper().startswith(VIP_MARK):
        return ReadCard(check_vip_code(text), CardKind.VIP)
    compact = "".join(text.split())
    profile = profile_for_card(compact, profiles) if compact.isdigit() else None
    if profile is not None and len(compact) == EAN13:
        return ReadCard(check_loyalty_card(compact), CardKind.LOYALTY, profile=profile)
    partner = list(programmes)
    for programme in sorted(partner, key=lambda p: -max((len(x) for x in p.prefixes),
                                                         default=0)):
        if any(compact.startswith(prefix) for prefix in programme.prefixes):
            if programme.ean:
                compact = check_loyalty_card(compact)
            return ReadCard(compact, CardKind.PARTNER, programme=programme)
    if profile is not None:
        raise CardError(f"{compact} starts like a {profile.code} card but is not 13 digits")
    if not _PARTNER.fullmatch(text):
        raise CardError(f"{scanned!r} is not a card number")
    return ReadCard(text, CardKind.PARTNER)
