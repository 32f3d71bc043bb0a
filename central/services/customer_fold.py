"""How a customer's edits become its ``customers`` row at central (K1, K4, K5).

Values in the edit log, the field-by-field fold, the aggregates from sales, and the
``customer`` and ``customer_card`` entities recorded into the ``customers`` stream
whenever they change."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from central.models import (
    Customer,
    CustomerCard,
    CustomerEdit,
    CustomerRedirect,
    CustomerSale,
)
from central.services import changelog
from central.services.customer_fields import BUCKET, policy
from protocol.encoding import dumps
from protocol.entities import CUSTOMER_TEXT_FIELDS
from protocol.streams import ALL
from rules.cards import CardKind
from rules.customers import history
from rules.customers.contact import (
    email_key,
    search_key,
)
from rules.customers.history import CardLink, CustomerState, Edit, Stamp
from rules.customers.record import (
    Consent,
    FieldValue,
    Kind,
)
from rules.money import round_money

# -- values on the wire and in the edit log ---------------------------------------------------

def encode(value: FieldValue) -> Any:
    if isinstance(value, Consent):
        return {"granted": value.granted, "at": value.at.isoformat(), "store": value.store}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(name: str, value: Any, specs: Mapping[str, Any]) -> FieldValue:
    if value is None:
        return None
    spec = specs.get(name)
    kind = spec.kind if spec is not None else None
    if kind is Kind.CONSENT or isinstance(value, dict):
        return Consent(bool(value["granted"]), dt.datetime.fromisoformat(value["at"]),
                       str(value["store"]))
    if kind is Kind.DATE:
        return date.fromisoformat(value)
    if kind is Kind.NUMBER:
        return Decimal(value)
    return value  # type: ignore[no-any-return]


def stamp_text(stamp: Stamp) -> str:
    return f"{stamp.at.astimezone(dt.UTC).isoformat()}|{stamp.store}|{stamp.edit_id}"


def _stamp_of(text: str) -> Stamp:
    at, store, edit_id = text.split("|", 2)
    return Stamp(dt.datetime.fromisoformat(at), store, edit_id)


def _edit_of(row: CustomerEdit, specs: Mapping[str, Any]) -> Edit:
    changes = {k: _decode(k, v, specs) for k, v in json.loads(row.changes).items()}
    edit = Edit.of(row.customer_id, Stamp(row.at, row.store, row.edit_id), changes,
                   add_cards=[CardLink(c["number"], CardKind(c["kind"]))
                              for c in json.loads(row.add_cards)],
                   retire_cards=json.loads(row.retire_cards))
    return replace(edit, redacted=tuple(json.loads(row.redacted)))


def state_of(session: Session, customer: Customer,
             specs: Mapping[str, Any] | None = None) -> CustomerState:
    specs = specs if specs is not None else policy(session, mandatory=False).specs()
    edits = frozenset(_edit_of(row, specs) for row in session.scalars(
        select(CustomerEdit).where(CustomerEdit.customer_id == customer.id)))
    merged = frozenset(session.scalars(select(CustomerRedirect.old)
                                       .where(CustomerRedirect.survivor == customer.id)))
    erased = _stamp_of(customer.erased_stamp) if customer.erased_stamp else None
    return CustomerState(customer.id, edits, erased, merged)


def states_of(session: Session, customers: Sequence[Customer],
              specs: Mapping[str, Any]) -> dict[str, CustomerState]:
    """``state_of`` for many customers in two queries (their edits, their redirects)."""
    ids = [c.id for c in customers]
    edits: dict[str, set[Edit]] = {i: set() for i in ids}
    merged: dict[str, set[str]] = {i: set() for i in ids}
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        for row in session.scalars(select(CustomerEdit)
                                   .where(CustomerEdit.customer_id.in_(chunk))):
            edits[row.customer_id].add(_edit_of(row, specs))
        for old, survivor in session.execute(select(CustomerRedirect.old,
                                                    CustomerRedirect.survivor)
                                             .where(CustomerRedirect.survivor.in_(chunk))):
            merged[survivor].add(old)
    return {c.id: CustomerState(c.id, frozenset(edits[c.id]),
                                _stamp_of(c.erased_stamp) if c.erased_stamp else None,
                                frozenset(merged[c.id])) for c in customers}


def card_wire(card: CustomerCard) -> dict[str, Any]:
    return {"number": card.number, "customer": card.customer_id, "kind": card.kind,
            "active": card.active}


def redact(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    kept = {k: v for k, v in changes.items() if not history.is_personal(k)}
    return kept, sorted(k for k in changes if history.is_personal(k))


Aggregates = tuple[Decimal, int, int, Any, Any]
"""(total spend, visits, returns, first purchase, last purchase)."""

NO_SALES: Aggregates = (Decimal("0"), 0, 0, None, None)


def aggregates_of(session: Session, customer_ids: Iterable[str]) -> dict[str, Aggregates]:
    """The sales aggregates of these customers in one grouped query (a return subtracts);
    a customer without sales has ``NO_SALES``."""
    ids = sorted(set(customer_ids))
    rows = session.execute(select(
        CustomerSale.customer_id,
        func.coalesce(func.sum(case((CustomerSale.kind == "return", -CustomerSale.total),
                                    else_=CustomerSale.total)), 0),
        func.count().filter(CustomerSale.kind == "sale"),
        func.count().filter(CustomerSale.kind == "return"),
        func.min(CustomerSale.at).filter(CustomerSale.kind == "sale"),
        func.max(CustomerSale.at).filter(CustomerSale.kind == "sale"),
    ).where(CustomerSale.customer_id.in_(ids)).group_by(CustomerSale.customer_id)).all()
    found = {row[0]: (Decimal(row[1]), int(row[2]), int(row[3]), row[4], row[5])
             for row in rows}
    return {i: found.get(i, NO_SALES) for i in ids}


def _aggregates(session: Session, customer_id: str) -> Aggregates:
    return aggregates_of(session, [customer_id])[customer_id]


def _sales_keys(aggregates: Aggregates) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's keys and the columns that come from sales (all that a sale changes)."""
    spend, visits, returns, first, last = aggregates
    data = {"total_spend": str(spend.quantize(Decimal("0.01"))), "visits": visits,
            "average_basket": (str(round_money(spend / visits)) if visits else None),
            "first_purchase": iso(first), "last_purchase": iso(last)}
    columns = {"total_spend": spend, "visits": visits, "returns": returns,
               "first_purchase": first, "last_purchase": last}
    return data, columns


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def fold(customer_id: str, state: CustomerState, profile: str | None,
         aggregates: Aggregates) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``customer`` entity's data and the ``customers`` columns for a customer's state
    (pure: ``refresh`` and the batch import both build customers with it)."""
    fields = state.fields()
    stamps: dict[str, str] = {}
    for edit_ in state.history():
        for name, _value in edit_.changes:
            stamps[name] = stamp_text(edit_.stamp)
    data: dict[str, Any] = {"id": customer_id}
    for name in CUSTOMER_TEXT_FIELDS:
        value = fields.get(name)
        data[name] = None if value is None else encode(value)
    for channel in ("email", "sms"):
        consent = fields.get(f"consent_{channel}")
        if isinstance(consent, Consent):
            data[f"consent_{channel}"] = consent.granted
            data[f"consent_{channel}_at"] = consent.at.astimezone(dt.UTC).isoformat()
            data[f"consent_{channel}_store"] = consent.store
        else:
            data |= {f"consent_{channel}": None, f"consent_{channel}_at": None,
                     f"consent_{channel}_store": None}
    data["extra"] = {name[len("extra."):]: str(encode(value)) for name, value in fields.items()
                     if name.startswith("extra.")}
    first_name, last_name = fields.get("first_name"), fields.get("last_name")
    key = search_key(first_name if isinstance(first_name, str) else None,
                     last_name if isinstance(last_name, str) else None)
    data["search_key"] = key
    data["profile"] = profile
    sales_data, sales_columns = _sales_keys(aggregates)
    data |= sales_data
    data["erased"] = state.erased is not None
    data["stamps"] = dict(sorted(stamps.items()))
    birth = fields.get("birth_date")
    columns = {
        "first_name": data["first_name"], "last_name": data["last_name"],
        # the column is the mailbox key (lookups and duplicates); the record keeps the address
        "email": email_key(data["email"]) if data["email"] else None,
        "mobile": data["mobile"], "postcode": data["postcode"], "city": data["city"],
        "country": data["country"], "gender": data["gender"],
        "birth_date": birth if isinstance(birth, date) else None,
        "home_store": data["home_store"], "consent_email": data["consent_email"],
        "consent_sms": data["consent_sms"], "search_key": key, **sales_columns}
    return data, columns


def refresh(session: Session, customer: Customer) -> None:
    """Refold the customer from its edits, sales and erasure; record what changed."""
    state = state_of(session, customer)
    data, columns = fold(customer.id, state, customer.profile,
                         _aggregates(session, customer.id))
    for name, value in columns.items():
        setattr(customer, name, value)
    cards = state.cards()
    text = dumps(data).decode()
    if text != customer.data:
        customer.data = text
        customer.updated_at = dt.datetime.now(dt.UTC)
        changelog.record(session, BUCKET, ALL, "customer", customer.id, "upsert", data)
    for number, (link, active) in cards.items():
        row = session.get(CustomerCard, number)
        if row is None:
            row = CustomerCard(number=number, customer_id=customer.id, kind=link.kind.value,
                               active=active)
            session.add(row)
        elif (row.customer_id, row.kind, row.active) == (customer.id, link.kind.value, active):
            continue
        else:
            row.customer_id, row.kind, row.active = customer.id, link.kind.value, active
        session.flush()
        changelog.record(session, BUCKET, ALL, "customer_card", number, "upsert",
                         card_wire(row))
    session.flush()


def refresh_sales(session: Session, customers: Sequence[Customer]) -> None:
    """What new sales change in these customers (locked by the caller): their aggregates.

    Every other key of the record is the fold of edits, cards and redirects, which a sale
    leaves alone; so only the sales keys of the stored record are replaced, from one grouped
    query for all of them, and the changed records go to the stream together. The text is
    the one ``refresh`` writes (same keys, same ``dumps``) without refolding each customer's
    history, which was most of an ingest batch's time. An erased customer, or a row not
    folded yet, takes the whole ``refresh`` as before.
    """
    sums = aggregates_of(session, [c.id for c in customers])
    changed: list[tuple[str, str, str, dict[str, Any] | None]] = []
    for customer in customers:
        if customer.erased_stamp or customer.data == "{}":
            refresh(session, customer)
            continue
        sales_data, sales_columns = _sales_keys(sums[customer.id])
        for name, value in sales_columns.items():
            setattr(customer, name, value)
        data: dict[str, Any] = json.loads(customer.data) | sales_data
        text = dumps(data).decode()
        if text != customer.data:
            customer.data = text
            customer.updated_at = dt.datetime.now(dt.UTC)
            changed.append(("customer", customer.id, "upsert", data))
    changelog.record_many(session, BUCKET, ALL, changed)
    session.flush()
