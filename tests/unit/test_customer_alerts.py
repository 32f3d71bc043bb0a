"""Aggregates, customer facts, alerts in their order (K8) and the multi-criteria list (K9)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.conditions import (
    ConditionError,
    CriteriaFilter,
    Criterion,
    CriterionError,
    evaluate,
    parse,
    to_criteria,
    to_node,
    to_text,
)
from rules.customers.aggregates import EMPTY, Aggregates, SaleFact
from rules.customers.alerts import (
    customer_catalogue,
    customer_facts,
    make_alert,
    matching_alerts,
    observation,
)
from rules.customers.record import Consent, ExtraQuestion, RegistryPolicy

T0 = datetime(2024, 6, 1, 22, 30, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")
TODAY = date(2025, 3, 31)
POLICY = RegistryPolicy(questions=(ExtraQuestion("shirt_size", "Shirt", "choice", ("S", "M")),))
CATALOGUE = customer_catalogue(POLICY)


def sale(n: int, total: str, days: int = 0, kind: str = "sale") -> SaleFact:
    return SaleFact(f"s{n}", T0 + timedelta(days=days), Decimal(total), kind)  # type: ignore[arg-type]


def test_aggregates_from_sales_and_returns() -> None:
    facts = [sale(1, "100.00"), sale(2, "50.50", 10), sale(3, "20.00", 20, "return"),
             sale(1, "100.00")]  # a replayed sale counts once
    totals = Aggregates.of(facts)
    assert totals.total_spend == Decimal("130.50")
    assert (totals.visits, totals.returns) == (2, 1)
    assert totals.average_basket == Decimal("65.25")
    assert totals.first_purchase == T0 and totals.last_purchase == T0 + timedelta(days=10)
    assert EMPTY.average_basket is None
    with pytest.raises(ValueError, match="different contents"):
        Aggregates.of([sale(1, "1.00"), sale(1, "2.00")])
    with pytest.raises(ValueError, match="positive"):
        sale(9, "-1.00")


@given(st.lists(st.tuples(st.decimals("0", "9999.99", places=2), st.integers(0, 400),
                          st.booleans()), max_size=20), st.randoms(use_true_random=False))
def test_aggregates_do_not_depend_on_order_or_split(rows: list[tuple[Decimal, int, bool]],
                                                    rnd: random.Random) -> None:
    facts = [sale(i, str(total), days, "return" if ret else "sale")
             for i, (total, days, ret) in enumerate(rows)]
    whole = Aggregates.of(facts)
    shuffled = facts[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(facts))
    assert Aggregates.of(shuffled) == whole
    assert Aggregates.of(shuffled[:cut]).combine(Aggregates.of(shuffled[cut:])) == whole
    assert whole.combine(EMPTY) == whole == EMPTY.combine(whole)


def anna_facts(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"last_name": "Rossi", "birth_date": date(2000, 4, 1),
                               "postcode": "20121", "home_store": "kiosk-1",
                               "consent_sms": Consent(True, T0, "kiosk-1")}
    totals = Aggregates.of([sale(1, "900.00"), sale(2, "150.00", 30)])
    return customer_facts(base | fields, ["2901000000014"], totals, TODAY, ROME)  # type: ignore[arg-type]


def test_facts_derive_age_cards_and_purchase_dates_in_the_stores_zone() -> None:
    facts = anna_facts()
    assert facts["age"] == 24                          # 25 tomorrow
    assert facts["birth_year"] == 2000
    assert facts["has_card"] is True and facts["has_phone"] is False
    assert facts["consent_sms"] is True
    assert facts["first_purchase"] == date(2024, 6, 2)  # 22:30 UTC is past midnight in Rome
    assert facts["total_spend"] == Decimal("1050.00") and facts["visits"] == 2


def test_matching_alerts_come_back_in_their_order() -> None:
    alerts = [
        make_alert("spend", 2, "total_spend >= 1000", "Thank them: a top customer", CATALOGUE),
        make_alert("mail", 1, "email is empty", "Ask for the e-mail address", CATALOGUE),
        make_alert("young", 3, "age < 18", "Minor: no alcohol", CATALOGUE),
        make_alert("sms", 0, "not consent_sms", "Ask for SMS consent", CATALOGUE),
    ]
    facts = anna_facts()
    assert [a.message for a in matching_alerts(alerts, facts, TODAY)] == [
        "Ask for the e-mail address", "Thank them: a top customer"]
    assert [a.code for a in matching_alerts(alerts, anna_facts(email="a@b.it"), TODAY)] == [
        "spend"]
    assert observation({"observation": "No cheques from this customer"}) \
        == "No cheques from this customer"
    assert observation({"observation": "  "}) is None
    with pytest.raises(ConditionError) as caught:
        make_alert("bad", 1, "total_spen >= 1000", "x", CATALOGUE)
    assert caught.value.field == "total_spen"
    with pytest.raises(ConditionError):
        make_alert("bad", 1, 'extra.shirt_size = "XL"', "x", CATALOGUE)


def test_the_seed_examples_as_rows_are_the_same_tree_as_the_text() -> None:
    # seeds/000: "Codice postale uguale a 75017"; "AnnoNascita maggiore di 1986, minore di 1996"
    postcode = CriteriaFilter((Criterion("postcode", "equals", "75017"),))
    assert to_node(postcode, CATALOGUE) == parse('postcode = "75017"')
    years = CriteriaFilter((Criterion("birth_year", "greater_than", "1986"),
                            Criterion("birth_year", "less_than", "1996")))
    node = to_node(years, CATALOGUE)
    assert node == parse("birth_year > 1986 and birth_year < 1996")
    assert node is not None and evaluate(node, {"birth_year": 1990}, TODAY)
    assert to_node(CriteriaFilter(()), CATALOGUE) is None


def test_every_operator_round_trips_through_rows() -> None:
    rows = CriteriaFilter((
        Criterion("home_store", "in", ("kiosk-1", "market")),
        Criterion("has_card", "is_true"), Criterion("has_phone", "is_false"),
        Criterion("total_spend", "at_least", "1000,50"), Criterion("visits", "between",
                                                                   ("2", "10")),
        Criterion("last_purchase", "before", "6 months ago"),
        Criterion("first_purchase", "after", "2024-01-01"),
        Criterion("postcode", "starts_with", "20"), Criterion("email", "is_empty"),
        Criterion("city", "is_not_empty"), Criterion("cards", "contains", "2901000000014"),
        Criterion("gender", "not_in", ("male",)), Criterion("consent_sms", "equals", "yes"),
    ), "any")
    node = to_node(rows, CATALOGUE)
    assert node is not None
    back = to_criteria(node)
    assert back is not None and to_node(back, CATALOGUE) == node
    assert parse(to_text(node)) == node
    assert to_criteria(parse("(has_card and visits > 1) or email is empty")) is None


@pytest.mark.parametrize(("row", "words"), [
    (Criterion("fax", "equals", "1"), "unknown field"),
    (Criterion("visits", "roughly", "1"), "unknown operator"),
    (Criterion("visits", "at_least", "many"), "not a number"),
    (Criterion("last_purchase", "before", "last spring"), "not a date"),
    (Criterion("last_purchase", "before", "42"), "not a date"),
    (Criterion("postcode", "greater_than", "20"), "postcode is text"),
    (Criterion("visits", "between", ("1",)), "two values"),
    (Criterion("gender", "equals", "robot"), "one of female, male, other"),
    (Criterion("home_store", "in", ()), "at least one value"),
])
def test_bad_rows_name_the_row_and_the_field(row: Criterion, words: str) -> None:
    rows = CriteriaFilter((Criterion("has_card", "is_true"), row))
    with pytest.raises(CriterionError) as caught:
        to_node(rows, CATALOGUE)
    assert caught.value.row == 1 and caught.value.field == row.field
    assert words in str(caught.value) and str(caught.value).startswith("row 2")
