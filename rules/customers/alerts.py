"""What conditions may say about a customer (the catalogue), the facts they are evaluated
on, and customer alerts (K8): the till shows the matching messages in their order.

The same catalogue serves the multi-criteria list (K9) and marketing segments; central
loads facts from its tables, a store from its copy, and both call ``customer_facts`` so a
condition means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo

from rules.conditions import Catalogue, Field, FieldType, compile_condition, evaluate
from rules.conditions.nodes import Node
from rules.customers.aggregates import Aggregates
from rules.customers.record import Consent, FieldValue, Kind, RegistryPolicy

DERIVED = (
    Field("age", FieldType.NUMBER, "Age in whole years"),
    Field("birth_year", FieldType.NUMBER, "Year of birth"),
    Field("has_card", FieldType.BOOLEAN, "Holds an active card"),
    Field("has_phone", FieldType.BOOLEAN, "Has a mobile number"),
    Field("has_email", FieldType.BOOLEAN, "Has an e-mail address"),
    Field("cards", FieldType.LIST, "Active card numbers"),
    Field("total_spend", FieldType.MONEY, "Total spend (returns subtracted)"),
    Field("visits", FieldType.NUMBER, "Number of sales"),
    Field("average_basket", FieldType.MONEY, "Average basket"),
    Field("first_purchase", FieldType.DATE, "First purchase"),
    Field("last_purchase", FieldType.DATE, "Last purchase"),
)

_TYPES = {Kind.DATE: FieldType.DATE, Kind.NUMBER: FieldType.NUMBER,
          Kind.CONSENT: FieldType.BOOLEAN}


def customer_catalogue(policy: RegistryPolicy) -> Catalogue:
    """Every field a customer condition may name: the record's, the extra questions',
    and the derived and aggregate ones."""
    fields = [Field(spec.name, _TYPES.get(spec.kind, FieldType.TEXT), spec.name, spec.choices)
              for spec in policy.specs().values()]
    return Catalogue.of([*fields, *DERIVED])


def age_on(birth: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


def customer_facts(fields: Mapping[str, FieldValue], active_cards: Iterable[str],
                   aggregates: Aggregates, today: date, zone: tzinfo) -> dict[str, object]:
    """The mapping conditions read; purchase times become dates in ``zone``."""
    facts: dict[str, object] = {}
    for name, value in fields.items():
        facts[name] = value.granted if isinstance(value, Consent) else value
    birth = fields.get("birth_date")
    if isinstance(birth, date):
        facts["age"] = age_on(birth, today)
        facts["birth_year"] = birth.year
    cards = sorted(active_cards)
    facts["cards"] = cards
    facts["has_card"] = bool(cards)
    facts["has_phone"] = bool(fields.get("mobile"))
    facts["has_email"] = bool(fields.get("email"))
    facts["total_spend"] = aggregates.total_spend
    facts["visits"] = aggregates.visits
    facts["average_basket"] = aggregates.average_basket
    first, last = aggregates.first_purchase, aggregates.last_purchase
    facts["first_purchase"] = first.astimezone(zone).date() if first else None
    facts["last_purchase"] = last.astimezone(zone).date() if last else None
    return facts


@dataclass(frozen=True)
class Alert:
    code: str
    position: int
    """Where head office put it in the list; smaller first."""
    condition: Node
    message: str


def make_alert(code: str, position: int, text: str, message: str,
               catalogue: Catalogue) -> Alert:
    """An alert checked when saved: the condition parses and fits the catalogue."""
    if not message.strip():
        raise ValueError("an alert needs a message")
    return Alert(code, position, compile_condition(text, catalogue).node, message.strip())


def matching_alerts(alerts: Sequence[Alert], facts: Mapping[str, object],
                    today: date) -> list[Alert]:
    """The alerts whose condition holds, in their order (then by code, so it is stable)."""
    ordered = sorted(alerts, key=lambda a: (a.position, a.code))
    return [alert for alert in ordered if evaluate(alert.condition, facts, today)]


def observation(fields: Mapping[str, FieldValue]) -> str | None:
    """The note the till shows in red and bold when the customer is recalled."""
    note = fields.get("observation")
    return note if isinstance(note, str) and note.strip() else None

