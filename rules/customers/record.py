"""The customer record's fields (K1), head office's extra questions (K2) and mandatory
fields (K3), and the one validation that central and the till both run.

A record is a flat mapping of field name to value; an extra question ``shoe_size`` is the
field ``extra.shoe_size``, so edits, merges, conditions and exports treat both alike.
``clean_changes`` reads raw input (JSON or form text), returns the values to store, and
reports every problem at once, each naming its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Literal

from rules.customers.contact import ContactError, normalise_email, normalise_phone


@dataclass(frozen=True)
class Consent:
    """A yes or no to marketing on one channel, with when and at which store it was said."""

    granted: bool
    at: datetime
    store: str


FieldValue = str | Decimal | date | bool | Consent | None


class Kind(Enum):
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    NUMBER = "number"
    CHOICE = "choice"
    COUNTRY = "country"
    LANGUAGE = "language"
    CODE = "code"
    CONSENT = "consent"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    max_length: int = 80
    choices: tuple[str, ...] = ()
    personal: bool = True
    """Erasure blanks every personal field; the others (home store) stay for statistics."""


STANDARD_FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("first_name", Kind.TEXT),
    FieldSpec("last_name", Kind.TEXT),
    FieldSpec("email", Kind.EMAIL, 254),
    FieldSpec("mobile", Kind.PHONE),
    FieldSpec("address", Kind.TEXT, 200),
    FieldSpec("postcode", Kind.TEXT, 16),
    FieldSpec("city", Kind.TEXT),
    FieldSpec("country", Kind.COUNTRY),
    FieldSpec("language", Kind.LANGUAGE),
    FieldSpec("birth_date", Kind.DATE),
    FieldSpec("gender", Kind.CHOICE, choices=("female", "male", "other")),
    FieldSpec("home_store", Kind.CODE, 40, personal=False),
    FieldSpec("provenance", Kind.TEXT),
    FieldSpec("grouping", Kind.TEXT),
    FieldSpec("observation", Kind.TEXT, 500),
    FieldSpec("consent_email", Kind.CONSENT),
    FieldSpec("consent_sms", Kind.CONSENT),
)}

EXTRA_PREFIX = "extra."
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_STORE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class ExtraQuestion:
    """A question head office adds to every store's customer form (shirt size...)."""

    code: str
    label: str
    kind: Literal["text", "number", "date", "choice"]
    choices: tuple[str, ...] = ()

    @property
    def field(self) -> str:
        return EXTRA_PREFIX + self.code

    def spec(self) -> FieldSpec:
        kinds = {"text": Kind.TEXT, "number": Kind.NUMBER, "date": Kind.DATE,
                 "choice": Kind.CHOICE}
        return FieldSpec(self.field, kinds[self.kind], 200, self.choices)


class CustomerInvalid(ValueError):
    """Input that cannot be stored; ``problems`` maps each field to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


@dataclass(frozen=True)
class RegistryPolicy:
    """What head office configured: the extra questions and the mandatory fields."""

    questions: tuple[ExtraQuestion, ...] = ()
    mandatory: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        seen: set[str] = set()
        for question in self.questions:
            if not _CODE.fullmatch(question.code):
                problems[question.field] = "a code is a-z, 0-9 and _, starting with a letter"
            elif question.code in seen:
                problems[question.field] = "is defined twice"
            elif question.kind == "choice" and not question.choices:
                problems[question.field] = "a choice question needs its answers"
            seen.add(question.code)
        for name in sorted(self.mandatory - set(self.specs())):
            problems[name] = "cannot be mandatory: there is no such field"
        if problems:
            raise CustomerInvalid(problems)

    def specs(self) -> dict[str, FieldSpec]:
        return STANDARD_FIELDS | {q.field: q.spec() for q in self.questions}


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_changes(changes: Mapping[str, object], policy: RegistryPolicy, *,
                  region: str, at: datetime, store: str,
                  current: Mapping[str, FieldValue] | None = None) -> dict[str, FieldValue]:
    """The values to store for ``changes`` made at ``store`` (whose country is ``region``)
    at ``at``; a blank clears a field. ``current`` is the record as it stands, so the
    mandatory fields are checked on the result. Raises CustomerInvalid with every problem."""
    specs = policy.specs()
    current = current or {}
    problems: dict[str, str] = {}
    clean: dict[str, FieldValue] = {}
    country = changes.get("country", current.get("country"))
    phone_region = country if isinstance(country, str) and len(country.strip()) == 2 else region
    for name, raw in changes.items():
        spec = specs.get(name)
        if spec is None:
            problems[name] = ("unknown extra question" if name.startswith(EXTRA_PREFIX)
                              else "unknown field")
            continue
        try:
            clean[name] = None if is_blank(raw) else _read(spec, raw, phone_region.strip(),
                                                           at, store)
        except (ContactError, ValueError) as exc:
            problems[name] = exc.message if isinstance(exc, ContactError) else str(exc)
    result = {**current, **clean}
    for name in sorted(policy.mandatory):
        if name not in problems and is_blank(result.get(name)):
            problems[name] = "is mandatory"
    if problems:
        raise CustomerInvalid(problems)
    return clean


def _read(spec: FieldSpec, raw: object, region: str, at: datetime, store: str) -> FieldValue:
    if spec.kind is Kind.CONSENT:
        if isinstance(raw, Consent):
            return raw
        if isinstance(raw, bool):
            return Consent(raw, at, store)
        raise ValueError("is yes (true) or no (false)")
    if spec.kind is Kind.DATE:
        return _date(raw, at, past=spec.name == "birth_date")
    if spec.kind is Kind.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal)):
            raise ValueError("is a number written as text, e.g. \"42.5\"")
        try:
            number = Decimal(str(raw).strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError(f"{raw!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{raw!r} is not a number")
        return number
    if not isinstance(raw, str):
        raise ValueError(f"is text, not {type(raw).__name__}")
    text = " ".join(raw.split())
    if len(text) > spec.max_length:
        raise ValueError(f"is at most {spec.max_length} characters")
    if spec.kind is Kind.EMAIL:
        return normalise_email(text, spec.name)
    if spec.kind is Kind.PHONE:
        return normalise_phone(text, region, spec.name)
    if spec.kind is Kind.CHOICE:
        for choice in spec.choices:
            if choice.lower() == text.lower():
                return choice
        raise ValueError(f"is one of {', '.join(spec.choices)}, not {text!r}")
    if spec.kind is Kind.COUNTRY:
        import phonenumbers  # not at the top: see rules.customers.contact

        if text.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{text!r} is not an ISO country code (IT, RO, FR...)")
        return text.upper()
    if spec.kind is Kind.LANGUAGE:
        if not _LANGUAGE.fullmatch(text.lower()):
            raise ValueError(f"{text!r} is not a two-letter language code (it, ro, fr...)")
        return text.lower()
    if spec.kind is Kind.CODE and not _STORE_CODE.fullmatch(text):
        raise ValueError(f"{text!r} is not a store code")
    return text


def _date(raw: object, at: datetime, *, past: bool) -> date:
    if isinstance(raw, datetime):
        raise ValueError("is a date without a time")
    if isinstance(raw, date):
        day = raw
    elif isinstance(raw, str):
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)") from None
    else:
        raise ValueError(f"is a date (YYYY-MM-DD), not {type(raw).__name__}")
    if past and (day > at.date() or day.year < 1900):
        raise ValueError(f"{day.isoformat()} is not a plausible date")
    return day
