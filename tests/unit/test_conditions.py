"""The condition language: parsing, printing, checking against a catalogue, evaluation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions import (
    Catalogue,
    ConditionError,
    Field,
    FieldType,
    compile_condition,
    evaluate,
    parse,
    to_text,
)
from rules.conditions.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    DateValue,
    Flag,
    InList,
    IsEmpty,
    Node,
    Not,
    Number,
    Or,
    RelativeDate,
    Text,
    TextMatch,
    Value,
    months_back,
)
from rules.conditions.parser import KEYWORDS

CATALOGUE = Catalogue.of([
    Field("email", FieldType.TEXT), Field("postcode", FieldType.TEXT),
    Field("store", FieldType.TEXT), Field("total_spend", FieldType.MONEY),
    Field("visits", FieldType.NUMBER), Field("age", FieldType.NUMBER),
    Field("last_purchase", FieldType.DATE), Field("has_card", FieldType.BOOLEAN),
    Field("cards", FieldType.LIST),
    Field("extra.shirt_size", FieldType.TEXT, choices=("S", "M", "L")),
])
TODAY = date(2025, 3, 31)
ANNA = {"email": "", "postcode": "20121", "store": "kiosk-1", "total_spend": Decimal("1250.50"),
        "visits": 7, "age": 24, "last_purchase": date(2024, 8, 1), "has_card": True,
        "cards": ["2900000000015"], "extra.shirt_size": "m"}


@pytest.mark.parametrize(("text", "expected"), [
    ("email is empty", True),
    ("email is not empty", False),
    ("total_spend >= 1000", True),
    ("total_spend >= 1250.51", False),
    ("last_purchase before 6 months ago", True),   # 6 months before 31 Mar is 30 Sep
    ("last_purchase after 2024-07-31", True),
    ("last_purchase before 8 months ago", False),  # 31 Jul
    ('postcode starts with "20"', True),
    ("postcode starts with '75'", False),
    ("has_card", True),
    ("not has_card", False),
    ("age between 18 and 30", True),
    ("age not between 18 and 23", True),
    ('store in ("kiosk-1", "market")', True),
    ('store not in ("KIOSK-1")', False),           # text compares without case
    ('cards contains "2900000000015"', True),
    ('extra.shirt_size = "M"', True),
    ("visits > 5 AND (email is empty OR NOT has_card)", True),
    ("visits > 10 or total_spend < 100", False),
    ("not (visits > 10 or total_spend < 100)", True),
    ("last_purchase <= today", True),
])
def test_worked_conditions(text: str, expected: bool) -> None:
    condition = compile_condition(text, CATALOGUE)
    assert evaluate(condition.node, ANNA, TODAY) is expected


def test_a_missing_value_makes_comparisons_false_and_not_negates_plainly() -> None:
    node = parse("total_spend >= 0")
    assert evaluate(node, {}, TODAY) is False
    assert evaluate(Not(node), {}, TODAY) is True
    assert evaluate(parse("email is empty"), {"email": "   "}, TODAY) is True
    assert evaluate(parse("cards is empty"), {"cards": []}, TODAY) is True


def test_and_binds_tighter_than_or() -> None:
    assert parse("has_card or visits > 1 and age < 3") == Or((
        Flag("has_card"), And((Compare("visits", ">", Number(Decimal(1))),
                               Compare("age", "<", Number(Decimal(3)))))))


def test_months_back_clamps_to_the_end_of_the_month() -> None:
    assert months_back(date(2025, 3, 31), 1) == date(2025, 2, 28)
    assert months_back(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert months_back(date(2025, 1, 15), 13) == date(2023, 12, 15)


@pytest.mark.parametrize(("text", "position", "field", "words"), [
    ("total_spend >=", 14, None, "expected a value"),
    ("total_spend >= 1000 and", 23, None, "expected a field"),
    ("(has_card", 9, None, "expected ')'"),
    ('email = "open', 8, None, "not closed"),
    ("emial is empty", 0, "emial", "unknown field emial"),
    ("visits # 3", 7, None, "unexpected character"),
    ("has_card and visits is", 22, None, "expected 'empty'"),
    ("email > 3", 0, "email", "email is text"),
    ('total_spend = "a lot"', 0, "total_spend", "compares with a number"),
    ("total_spend > 10.005", 0, "total_spend", "at most 2 decimals"),
    ("visits", 0, "visits", "'on its own' works on boolean"),
    ('extra.shirt_size = "XXL"', 0, "extra.shirt_size", "one of S, M, L"),
    ("age between 30 and 18", 0, "age", "smaller value first"),
    ("last_purchase before 2024-02-30", 21, None, "not a date"),
    ("last_purchase before 6 fortnights ago", 23, None, "unexpected"),
    ('   visits  "x"', 11, "visits", "expected an operator after visits"),
    ("", 0, None, "empty"),
])
def test_errors_name_the_position_and_the_field(text: str, position: int, field: str | None,
                                                 words: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(text, CATALOGUE)
    assert words in caught.value.message
    assert caught.value.position == position
    assert caught.value.field == field
    assert f"column {position + 1}" in str(caught.value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ConditionError, match="nested"):
        parse("(" * 500 + "has_card" + ")" * 500)
    with pytest.raises(ConditionError, match="nested"):
        parse("not " * 500 + "has_card")


def test_keywords_cannot_name_fields() -> None:
    with pytest.raises(ValueError, match="word of the language"):
        Catalogue.of([Field("months", FieldType.NUMBER)])


# --- properties -------------------------------------------------------------------------

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,6})?", fullmatch=True).filter(
    lambda n: n.lower() not in KEYWORDS and n.split(".")[0].lower() not in KEYWORDS)
values: st.SearchStrategy[Value] = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=3,
                min_value=-10**9, max_value=10**9).map(Number),
    st.text(max_size=12).map(Text),
    st.booleans().map(Boolean),
    st.dates().map(DateValue),
    st.builds(RelativeDate, st.integers(0, 9999),
              st.sampled_from(["day", "week", "month", "year"])),
)
leaves: st.SearchStrategy[Node] = st.one_of(
    st.builds(Compare, names, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), values),
    st.builds(Between, names, values, values),
    st.builds(InList, names, st.lists(values, min_size=1, max_size=3).map(tuple)),
    st.builds(TextMatch, names, st.sampled_from(["starts with", "ends with", "contains"]),
              st.text(max_size=8).map(Text)),
    st.builds(IsEmpty, names),
    st.builds(Flag, names),
)
trees: st.SearchStrategy[Node] = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
), max_leaves=12)


@settings(max_examples=400)
@given(trees)
def test_printing_then_parsing_gives_the_same_tree(node: Node) -> None:
    assert parse(to_text(node)) == node


ALPHABET = st.sampled_from(list("ab_.()'\"\\,=<>!- 0123456789") + sorted(KEYWORDS) + ["é", "\n"])


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=25).map(" ".join),
                 st.lists(ALPHABET, max_size=40).map("".join)))
def test_garbage_raises_only_the_languages_error(text: str) -> None:
    try:
        node = compile_condition(text, CATALOGUE).node
    except ConditionError:
        return
    evaluate(node, ANNA, TODAY)
    assert parse(to_text(node)) == node
