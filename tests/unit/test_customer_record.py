"""Customer record (K1-K3): contact details normalised, every problem named by its field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rules.customers.contact import (
    ContactError,
    fold,
    name_matches,
    normalise_email,
    normalise_phone,
    search_key,
)
from rules.customers.record import (
    Consent,
    CustomerInvalid,
    ExtraQuestion,
    RegistryPolicy,
    clean_changes,
)

AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
POLICY = RegistryPolicy(
    questions=(ExtraQuestion("shirt_size", "Shirt size", "choice", ("S", "M", "L")),
               ExtraQuestion("shoe_size", "Shoe size", "number"),
               ExtraQuestion("wedding", "Wedding day", "date"),
               ExtraQuestion("favourite", "Favourite brand", "text")),
    mandatory=frozenset({"last_name", "mobile"}),
)


def clean(changes: dict[str, object], current: dict[str, object] | None = None,
          region: str = "IT") -> dict[str, object]:
    return dict(clean_changes(changes, POLICY, region=region, at=AT, store="kiosk-1",
                              current=current or {}))  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("347 123 4567", "IT", "+393471234567"),
    ("+40 721 234 567", "IT", "+40721234567"),
    ("0721 234 567", "RO", "+40721234567"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("0039 347 1234567", "IT", "+393471234567"),
])
def test_phones_are_stored_in_e164_read_in_the_stores_region(raw: str, region: str,
                                                             e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["12", "abc", "+39 12", "347 123 4567 8901 234"])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(ContactError) as caught:
        normalise_phone(raw, "IT")
    assert caught.value.field == "mobile"


def test_emails_are_normalised_without_dns() -> None:
    assert normalise_email("  Anna.Rossi@Example.COM ") == "Anna.Rossi@example.com"
    assert normalise_email("nobody@domain-that-does-not-exist.invalid.example") \
        == "nobody@domain-that-does-not-exist.invalid.example"
    for bad in ("a@b", "no at", "x@@y.com", "a b@c.com"):
        with pytest.raises(ContactError, match="not an e-mail"):
            normalise_email(bad)


@pytest.mark.parametrize(("a", "b"), [
    ("Müller", "MULLER"), ("Ștefan", "Ştefan"), ("Ștefan", "stefan"),
    ("D'Amico", "D’Amico"), ("D'Amico", "damico"), ("Jean-Luc", "jean luc"),
    ("Łukasz Øster", "lukasz oster"), ("Strauß", "STRAUSS"),
])
def test_names_fold_to_one_search_key(a: str, b: str) -> None:
    assert search_key(a) == search_key(b)


@given(st.lists(st.text(), max_size=3))
@example(["D' Amico", "a \u0301b", "x\u00a0y ¼ ˜z"])
def test_names_folded_word_by_word_fold_as_the_whole_text(parts: list[str]) -> None:
    assert search_key(*parts) == fold(" ".join(p for p in parts if p))


def test_name_search_finds_by_word_prefixes_in_any_order() -> None:
    key = search_key("Ștefan", "Müller-D'Amico")
    assert key == "stefan muller damico"
    assert name_matches("mül ste", key)
    assert name_matches("DAMI", key)
    assert not name_matches("stefano", key)


def test_a_new_customer_is_cleaned_field_by_field() -> None:
    result = clean({"first_name": "  Anna  Maria ", "last_name": "Rossi",
                    "mobile": "347 123 4567", "email": "ANNA@Example.com",
                    "birth_date": "1990-05-01", "gender": "Female", "country": "it",
                    "language": "IT", "consent_sms": True, "extra.shirt_size": "m",
                    "extra.shoe_size": "42,5", "extra.wedding": "2030-06-01",
                    "observation": "No cheques", "home_store": "kiosk-1", "postcode": ""})
    assert result == {
        "first_name": "Anna Maria", "last_name": "Rossi", "mobile": "+393471234567",
        "email": "ANNA@example.com", "birth_date": date(1990, 5, 1), "gender": "female",
        "country": "IT", "language": "it", "consent_sms": Consent(True, AT, "kiosk-1"),
        "extra.shirt_size": "M", "extra.shoe_size": Decimal("42.5"),
        "extra.wedding": date(2030, 6, 1), "observation": "No cheques",
        "home_store": "kiosk-1", "postcode": None}


def test_the_customers_country_reads_a_phone_before_the_stores() -> None:
    assert clean({"last_name": "Pop", "country": "RO",
                  "mobile": "0721 234 567"})["mobile"] == "+40721234567"


def test_every_problem_is_reported_with_its_field() -> None:
    with pytest.raises(CustomerInvalid) as caught:
        clean({"email": "anna@", "mobile": "12", "birth_date": "2099-01-01",
               "extra.hat_size": "L", "nickname": "Ann", "extra.shirt_size": "XXL",
               "extra.shoe_size": "big", "gender": "n/a", "consent_email": "yes",
               "country": "Italy", "first_name": "x" * 81})
    problems = caught.value.problems
    assert set(problems) == {"email", "mobile", "birth_date", "extra.hat_size", "nickname",
                             "extra.shirt_size", "extra.shoe_size", "gender", "consent_email",
                             "country", "first_name", "last_name"}
    assert problems["extra.hat_size"] == "unknown extra question"
    assert problems["nickname"] == "unknown field"
    assert problems["last_name"] == "is mandatory"
    assert "S, M, L" in problems["extra.shirt_size"]
    assert "not a plausible date" in problems["birth_date"]


def test_mandatory_fields_are_checked_on_the_resulting_record() -> None:
    current = {"last_name": "Rossi", "mobile": "+393471234567"}
    assert clean({"city": "Milano"}, current) == {"city": "Milano"}
    with pytest.raises(CustomerInvalid) as caught:
        clean({"mobile": " "}, current)
    assert caught.value.problems == {"mobile": "is mandatory"}


def test_a_policy_naming_unknown_fields_is_refused() -> None:
    with pytest.raises(CustomerInvalid) as caught:
        RegistryPolicy(questions=(ExtraQuestion("Bad Code", "x", "text"),
                                  ExtraQuestion("size", "x", "choice")),
                       mandatory=frozenset({"fax", "extra.size"}))
    assert set(caught.value.problems) == {"extra.Bad Code", "extra.size", "fax"}
