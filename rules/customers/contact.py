"""Contact details in one form: phones in E.164, e-mails normalised, names as a search key.

Phones go through phonenumbers with the store's country as the default region, e-mails
through email-validator with deliverability checks off (no DNS from a till or a request).
The name key folds case, accents and punctuation so "Müller", "MULLER", "Ștefan"/"Ştefan"
(comma or cedilla) and "D'Amico"/"D’Amico"/"damico" meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# phonenumbers and email_validator are imported where they are used: a store agent holds
# this module from its start, and a till that never takes a phone or an address need not
# carry their ~2 MB.


class ContactError(ValueError):
    """A phone or e-mail that cannot be read; ``field`` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalise_phone(raw: str, default_region: str, field: str = "mobile") -> str:
    """``raw`` in E.164 (``+393471234567``); a number without ``+`` is read in
    ``default_region`` (ISO 3166 alpha-2, the store's country)."""
    text = raw.strip()
    if not text:
        raise ContactError(field, "is empty")
    e164, wrong_region = _e164(text, default_region.upper())
    if e164 is not None:
        return e164
    if wrong_region is None:
        raise ContactError(field, f"{raw!r} is not a phone number")
    raise ContactError(field, f"{raw!r} is not a valid phone number for {wrong_region}")


@lru_cache(maxsize=4096)
def _e164(text: str, region: str) -> tuple[str | None, str | None]:
    """(the number in E.164, None), or (None, None) when ``text`` is no phone number, or
    (None, the region it belongs to) when it is not a valid one. Cached: an import reads
    each mobile twice (to match the customer, then as a field of the record), and parsing
    is most of a row's cost."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, None
    if not phonenumbers.is_valid_number(number):
        return None, phonenumbers.region_code_for_number(number) or region
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def normalise_email(raw: str, field: str = "email") -> str:
    """The address as email-validator normalises it (domain lower-cased, Unicode NFC)."""
    from email_validator import EmailNotValidError, validate_email

    text = raw.strip()
    if not text:
        raise ContactError(field, "is empty")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ContactError(field, f"{raw!r} is not an e-mail address: {exc}") from None
    return str(result.normalized)


def email_key(email: str) -> str:
    """What two addresses must share to be the same mailbox for duplicate detection."""
    return email.strip().lower()


_APOSTROPHES = re.compile("['’‘`´ʼ]")
_SEPARATORS = re.compile(r"[\s\-‐‑–—_.,/]+")
_NOT_WORD = re.compile(r"[^0-9a-z ]")
_LETTERS = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "ı": "i", "ð": "d", "þ": "th",
                          "æ": "ae", "œ": "oe", "ß": "ss"})


def search_key(*parts: str | None) -> str:
    """Names folded for accent- and case-insensitive search: lower-case ASCII words
    separated by one space (``search_key("Ștefan", "D'Amico") == "stefan damico"``).

    Each word is folded on its own, and remembered: names repeat, and a store folds a
    million of them when it takes the chain's customers (:func:`fold` is the same on the
    whole text, tests/unit/test_customer_record.py shows it).
    """
    words = " ".join(p for p in parts if p).split()
    return " ".join(w for w in map(_fold_word, words) if w)


@lru_cache(maxsize=65_536)
def _fold_word(word: str) -> str:
    return fold(word)


def fold(text: str) -> str:
    """``text`` folded as :func:`search_key` folds names, in one go."""
    text = unicodedata.normalize("NFKD", text.casefold()).translate(_LETTERS)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _APOSTROPHES.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    return " ".join(_NOT_WORD.sub("", text).split())


def name_matches(query: str, key: str) -> bool:
    """Every word of ``query`` begins a word of ``key`` (both folded): "mul st" finds
    "stefan muller". A store's index does the same with ``LIKE 'word%'`` on the key."""
    words = key.split()
    return all(any(w.startswith(q) for w in words) for q in search_key(query).split())
