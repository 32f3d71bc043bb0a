"""The customer registry at central (K1-K5, K10): edits folded field by field, cards,
merges with redirects, erasure, aggregates from sales, and the ``customer`` upstream kind.

A customer is the set of its edits (``rules.customers.history``): every creation or change,
from a till or from head office, is a ``CustomerEdit`` row kept for good; the ``customers``
row is their fold (the later store clock wins field by field; ties by store code then edit
id), with the columns the lists filter on and the ``customer`` entity's wire data, recorded
into the ``customers`` stream whenever it changes. Every write takes the customer's row lock
first, so two edits of one customer (two ingest workers, a till and head office) serialise.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from central.models import (
    Customer,
    CustomerCard,
    CustomerEdit,
    CustomerField,
    CustomerMerge,
    CustomerRedirect,
    CustomerSale,
    CustomerSetting,
    Store,
)
from central.services import changelog
from central.services.errors import Conflict, Invalid, NotFound
from central.services.upstream import Item, Parked, Recorded
from protocol import upstream as upstream_kinds
from protocol.encoding import WireError, dumps
from protocol.entities import CUSTOMER_TEXT_FIELDS
from protocol.streams import ALL, CUSTOMERS
from rules.cards import CardError, CardKind, check_loyalty_card, check_vip_code
from rules.customers import duplicates, history
from rules.customers.contact import (
    ContactError,
    email_key,
    normalise_email,
    normalise_phone,
    search_key,
)
from rules.customers.history import CardLink, CustomerState, Edit, Stamp
from rules.customers.record import (
    Consent,
    CustomerInvalid,
    ExtraQuestion,
    FieldValue,
    Kind,
    RegistryPolicy,
    clean_changes,
)

BUCKET = CUSTOMERS
CENTRAL = "central"
"""The store code of edits made at head office (console, REST, imports)."""
MANDATORY = "mandatory"


# -- the store's country ----------------------------------------------------------------------

@cache
def _zone_countries() -> dict[str, str]:
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    zones: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                zones[parts[2]] = parts[0]
    return zones


def country_of_zone(zone: str, default: str = "IT") -> str:
    return _zone_countries().get(zone, default)


def region_of(store: Store | None, default: str = "IT") -> str:
    """The store's country (from its IANA zone): the default region of phone numbers."""
    if store is None:
        return default
    return _zone_countries().get(store.time_zone or "", default)


# -- policy: extra questions and mandatory fields ---------------------------------------------

def policy(session: Session, *, mandatory: bool = True) -> RegistryPolicy:
    questions = tuple(
        ExtraQuestion(f.code, f.label, f.kind, tuple(json.loads(f.choices)))  # type: ignore[arg-type]
        for f in session.scalars(select(CustomerField).where(CustomerField.active.is_(True))
                                 .order_by(CustomerField.position, CustomerField.code)))
    required: frozenset[str] = frozenset()
    if mandatory:
        row = session.get(CustomerSetting, MANDATORY)
        required = frozenset(json.loads(row.value)) if row is not None else frozenset()
    return RegistryPolicy(questions, required & set(RegistryPolicy(questions).specs()))


def field_wire(row: CustomerField) -> dict[str, Any]:
    return {"code": row.code, "label": row.label, "kind": row.kind,
            "choices": json.loads(row.choices), "position": row.position, "active": row.active}


def save_field(session: Session, data: Mapping[str, Any]) -> CustomerField:
    """Create or change an extra question; bad input is Invalid naming the field."""
    code, label, kind = data.get("code"), data.get("label"), data.get("kind")
    choices = data.get("choices") or []
    problems: dict[str, list[str]] = {}
    if not isinstance(label, str) or not label.strip():
        problems["label"] = ["required"]
    if kind not in ("text", "number", "date", "choice"):
        problems["kind"] = ["one of text, number, date, choice"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        problems["choices"] = ["a list of texts"]
    if not problems:
        try:
            RegistryPolicy((ExtraQuestion(str(code), str(label), kind,  # type: ignore[arg-type]
                                          tuple(choices)),))
        except CustomerInvalid as exc:
            problems["code"] = list(exc.problems.values())
    if problems:
        raise Invalid("invalid extra question", problems)
    row = session.get(CustomerField, code) or CustomerField(code=code)
    row.label, row.kind, row.choices = str(label).strip(), str(kind), json.dumps(choices)
    row.position = int(data.get("position") or 0)
    row.active = bool(data.get("active", True))
    session.add(row)
    session.flush()
    changelog.record(session, BUCKET, ALL, "customer_field", row.code, "upsert", field_wire(row))
    return row


def list_fields(session: Session) -> list[CustomerField]:
    return list(session.scalars(select(CustomerField).order_by(CustomerField.position,
                                                               CustomerField.code)))


def set_mandatory(session: Session, fields: Iterable[str]) -> list[str]:
    names = sorted(set(fields))
    try:
        RegistryPolicy(policy(session, mandatory=False).questions, frozenset(names))
    except CustomerInvalid as exc:
        raise Invalid("invalid mandatory fields",
                      {k: [v] for k, v in exc.problems.items()}) from exc
    row = session.get(CustomerSetting, MANDATORY) or CustomerSetting(key=MANDATORY)
    row.value = json.dumps(names)
    session.add(row)
    changelog.record(session, BUCKET, ALL, "customer_policy", "default", "upsert",
                     {"scope": "default", "mandatory": names})
    return names


# -- values on the wire and in the edit log ---------------------------------------------------

def _encode(value: FieldValue) -> Any:
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


def _stamp_text(stamp: Stamp) -> str:
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


# -- reading ----------------------------------------------------------------------------------

def resolve(session: Session, customer_id: str) -> str:
    """Where an id lives now (a merged customer's id leads to its survivor)."""
    seen = {customer_id}
    while True:
        survivor = session.scalar(select(CustomerRedirect.survivor)
                                  .where(CustomerRedirect.old == customer_id))
        if survivor is None or survivor in seen:
            return customer_id
        seen.add(survivor)
        customer_id = survivor


def get(session: Session, customer_id: str, *, lock: bool = False) -> Customer:
    try:
        customer_id = str(uuidlib.UUID(customer_id))
    except ValueError:
        raise NotFound(f"no customer {customer_id!r}") from None
    query = select(Customer).where(Customer.id == resolve(session, customer_id))
    customer = session.scalar(query.with_for_update() if lock else query)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def by_ids(session: Session, ids: Iterable[str]) -> list[Customer]:
    return list(session.scalars(select(Customer).where(Customer.id.in_(list(ids)))))


def wire(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(customer.data)
    return data


def card_wire(card: CustomerCard) -> dict[str, Any]:
    return {"number": card.number, "customer": card.customer_id, "kind": card.kind,
            "active": card.active}


def cards_of(session: Session, customer_id: str) -> list[CustomerCard]:
    return list(session.scalars(select(CustomerCard).where(
        CustomerCard.customer_id == customer_id).order_by(CustomerCard.number)))


def find(session: Session, *, card: str | None = None, mobile: str | None = None,
         email: str | None = None, region: str = "IT") -> Customer | None:
    """The live customer holding this card, mobile or e-mail (not an erased one)."""
    query = select(Customer).where(Customer.erased_at.is_(None))
    if card is not None:
        query = query.join(CustomerCard, CustomerCard.customer_id == Customer.id).where(
            CustomerCard.number == "".join(card.split()), CustomerCard.active.is_(True))
    elif mobile is not None:
        try:
            query = query.where(Customer.mobile == normalise_phone(mobile, region))
        except ContactError:
            return None
    elif email is not None:
        try:
            query = query.where(Customer.email == email_key(normalise_email(email)))
        except ContactError:
            return None
    else:
        return None
    return session.scalars(query.order_by(Customer.created_at).limit(1)).first()


# -- writing: every change is an edit ---------------------------------------------------------

def _lock_or_create(session: Session, customer_id: str) -> tuple[Customer, bool]:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = dt.datetime.now(dt.UTC)
    created = session.execute(
        insert(Customer).values(id=customer_id, data="{}", search_key="", created_at=now,
                                updated_at=now, total_spend=Decimal("0"), visits=0, returns=0)
        .on_conflict_do_nothing(index_elements=["id"]).returning(Customer.id)).first()
    customer = session.scalar(select(Customer).where(Customer.id == customer_id)
                              .with_for_update().execution_options(populate_existing=True))
    assert customer is not None
    return customer, created is not None


def _check_card(link: Mapping[str, Any]) -> CardLink:
    number, kind = str(link.get("number") or ""), link.get("kind") or "loyalty"
    try:
        card_kind = CardKind(kind)
    except ValueError:
        raise CardError(f"a card is loyalty, partner or vip, not {kind!r}") from None
    if card_kind is CardKind.LOYALTY:
        number = check_loyalty_card(number)
    elif card_kind is CardKind.VIP:
        number = check_vip_code(number)
    elif not number.strip():
        raise CardError("a partner card has a number")
    return CardLink(number.strip(), card_kind)


def _redacted(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    kept = {k: v for k, v in changes.items() if not history.is_personal(k)}
    return kept, sorted(k for k in changes if history.is_personal(k))


def apply_edit(session: Session, customer_id: str, changes: Mapping[str, Any], *,
               at: dt.datetime, store: str, edit_id: str | None = None,
               add_cards: Iterable[Mapping[str, Any]] = (),
               retire_cards: Iterable[str] = (), region: str = "IT",
               author: str | None = None, mandatory: bool = True,
               epoch: str | None = None, seq: int | None = None,
               on_card_taken: str = "refuse") -> tuple[Customer, bool]:
    """Record one edit (idempotent by ``edit_id``) and refold the customer.

    Returns (customer, whether the edit was new). Bad input raises Invalid naming each
    field, and nothing is written. A card another customer holds is a Conflict, or with
    ``on_card_taken="merge"`` (a store's edit) the two customers are merged: the same
    card is the one automatic merge.
    """
    edit_id = edit_id or str(uuidlib.uuid4())
    problems: dict[str, list[str]] = {}
    links: list[CardLink] = []
    for i, given in enumerate(add_cards):
        try:
            links.append(_check_card(given))
        except CardError as exc:
            problems[f"cards[{i}].number"] = [str(exc)]
    target = resolve(session, customer_id)
    customer, _created = _lock_or_create(session, target)
    # Under the customer's lock: the same edit sent twice at once (two epochs of a restored
    # store at two ingest workers) is recorded by the first and seen by the second.
    if session.get(CustomerEdit, edit_id) is not None:
        return get(session, customer_id), False
    rules = policy(session, mandatory=mandatory)
    state = state_of(session, customer, rules.specs())
    try:
        clean = clean_changes(changes, rules, region=region, at=at, store=store,
                              current=state.fields())
    except CustomerInvalid as exc:
        problems.update({k: [v] for k, v in exc.problems.items()})
    if problems:
        raise Invalid("invalid customer", problems)
    taken = []
    for link in links:
        holder = session.scalar(select(CustomerCard.customer_id).where(
            CustomerCard.number == link.number, CustomerCard.active.is_(True)))
        if holder is not None and holder != target:
            if on_card_taken != "merge":
                raise Conflict(f"card {link.number} belongs to another customer",
                               {"cards": [f"{link.number} belongs to customer {holder}"]})
            taken.append(holder)
    encoded = {k: _encode(v) for k, v in clean.items()}
    redacted: list[str] = []
    if customer.erased_stamp:
        encoded, redacted = _redacted(encoded)
    session.add(CustomerEdit(
        edit_id=edit_id, customer_id=target, addressed_to=customer_id, at=at, store=store,
        changes=json.dumps(encoded, sort_keys=True),
        add_cards=json.dumps([{"number": c.number, "kind": c.kind.value} for c in links]),
        retire_cards=json.dumps(sorted(set(retire_cards))), redacted=json.dumps(redacted),
        author=author, store_epoch=epoch, seq=seq))
    session.flush()
    refresh(session, customer)
    for holder in taken:
        merge(session, target, holder, by=author or f"store {store}",
              reason="same card (automatic)")
    return get(session, target), True


def create(session: Session, data: Mapping[str, Any], *, region: str = "IT",
           author: str | None = None, now: dt.datetime | None = None) -> Customer:
    """A new customer from head office: mandatory fields enforced."""
    fields = {k: v for k, v in data.items() if k not in ("id", "cards")}
    customer, _ = apply_edit(session, str(uuidlib.uuid4()), fields,
                             at=now or dt.datetime.now(dt.UTC), store=CENTRAL,
                             add_cards=data.get("cards") or [], region=region, author=author)
    return customer


def edit(session: Session, customer_id: str, changes: Mapping[str, Any], *,
         region: str = "IT", author: str | None = None,
         now: dt.datetime | None = None) -> Customer:
    customer = get(session, customer_id)
    if customer.erased_at is not None:
        raise Conflict(f"customer {customer_id} was erased")
    fields = {k: v for k, v in changes.items() if k not in ("id", "cards")}
    result, _ = apply_edit(session, customer.id, fields, at=now or dt.datetime.now(dt.UTC),
                           store=CENTRAL, add_cards=changes.get("cards") or [], region=region,
                           author=author)
    return result


def add_card(session: Session, customer_id: str, number: str, kind: str = "loyalty", *,
             author: str | None = None, replaces: str | None = None) -> Customer:
    """A card for the customer; ``replaces`` retires a lost one in the same edit."""
    customer = get(session, customer_id)
    if customer.erased_at is not None:
        raise Conflict(f"customer {customer_id} was erased")
    result, _ = apply_edit(session, customer.id, {}, at=dt.datetime.now(dt.UTC),
                           store=CENTRAL, add_cards=[{"number": number, "kind": kind}],
                           retire_cards=[replaces] if replaces else [], author=author,
                           mandatory=False)
    return result


def retire_card(session: Session, customer_id: str, number: str, *,
                author: str | None = None) -> Customer:
    customer = get(session, customer_id)
    held = {c.number for c in cards_of(session, customer.id)}
    if number not in held:
        raise NotFound(f"customer {customer_id} holds no card {number!r}")
    result, _ = apply_edit(session, customer.id, {}, at=dt.datetime.now(dt.UTC),
                           store=CENTRAL, retire_cards=[number], author=author,
                           mandatory=False)
    return result


def _aggregates(session: Session, customer_id: str) -> tuple[Decimal, int, int, Any, Any]:
    row = session.execute(select(
        func.coalesce(func.sum(case((CustomerSale.kind == "return", -CustomerSale.total),
                                    else_=CustomerSale.total)), 0),
        func.count().filter(CustomerSale.kind == "sale"),
        func.count().filter(CustomerSale.kind == "return"),
        func.min(CustomerSale.at).filter(CustomerSale.kind == "sale"),
        func.max(CustomerSale.at).filter(CustomerSale.kind == "sale"),
    ).where(CustomerSale.customer_id == customer_id)).one()
    return Decimal(row[0]), int(row[1]), int(row[2]), row[3], row[4]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def refresh(session: Session, customer: Customer) -> None:
    """Refold the customer from its edits, sales and erasure; record what changed."""
    state = state_of(session, customer)
    fields = state.fields()
    stamps: dict[str, str] = {}
    for edit_ in state.history():
        for name, _value in edit_.changes:
            stamps[name] = _stamp_text(edit_.stamp)
    spend, visits, returns, first, last = _aggregates(session, customer.id)
    data: dict[str, Any] = {"id": customer.id}
    for name in CUSTOMER_TEXT_FIELDS:
        value = fields.get(name)
        data[name] = None if value is None else _encode(value)
    for channel in ("email", "sms"):
        consent = fields.get(f"consent_{channel}")
        if isinstance(consent, Consent):
            data[f"consent_{channel}"] = consent.granted
            data[f"consent_{channel}_at"] = consent.at.astimezone(dt.UTC).isoformat()
            data[f"consent_{channel}_store"] = consent.store
        else:
            data |= {f"consent_{channel}": None, f"consent_{channel}_at": None,
                     f"consent_{channel}_store": None}
    data["extra"] = {name[len("extra."):]: str(_encode(value)) for name, value in fields.items()
                     if name.startswith("extra.")}
    first_name, last_name = fields.get("first_name"), fields.get("last_name")
    key = search_key(first_name if isinstance(first_name, str) else None,
                     last_name if isinstance(last_name, str) else None)
    data["search_key"] = key
    cards = state.cards()
    loyalty = [n for n, (c, active) in cards.items() if active and c.kind is CardKind.LOYALTY]
    data["profile"] = customer.profile
    data["total_spend"] = str(spend.quantize(Decimal("0.01")))
    data["visits"] = visits
    data["average_basket"] = (str((spend / visits).quantize(Decimal("0.01")))
                              if visits else None)
    data["first_purchase"], data["last_purchase"] = _iso(first), _iso(last)
    data["erased"] = state.erased is not None
    data["stamps"] = dict(sorted(stamps.items()))
    customer.first_name = data["first_name"]
    customer.last_name = data["last_name"]
    # the column is the mailbox key (lookups and duplicates); the record keeps the address
    customer.email = email_key(data["email"]) if data["email"] else None
    customer.mobile = data["mobile"]
    customer.postcode, customer.city = data["postcode"], data["city"]
    customer.country, customer.gender = data["country"], data["gender"]
    birth = fields.get("birth_date")
    customer.birth_date = birth if isinstance(birth, date) else None
    customer.home_store = data["home_store"]
    customer.consent_email, customer.consent_sms = data["consent_email"], data["consent_sms"]
    customer.search_key = key
    customer.total_spend, customer.visits, customer.returns = spend, visits, returns
    customer.first_purchase, customer.last_purchase = first, last
    del loyalty
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


# -- merge and erasure ------------------------------------------------------------------------

def merge(session: Session, a: str, b: str, *, by: str, reason: str = "confirmed") -> Customer:
    """One customer from two: the one created first survives with every edit, card, sale
    and consent of both; the other id redirects to it, at central and at every store."""
    first, second = get(session, a), get(session, b)
    if first.id == second.id:
        raise Conflict("a customer cannot be merged with itself")
    for row in sorted((first, second), key=lambda c: c.id):  # one lock order
        session.scalar(select(Customer).where(Customer.id == row.id).with_for_update())
    states = state_of(session, first), state_of(session, second)
    try:
        survivor_state, loser_state = duplicates.survivor_of(*states)
        merged = duplicates.merge(survivor_state, loser_state)
    except history.HistoryError as exc:
        raise Conflict(str(exc)) from exc
    survivor = first if survivor_state.customer_id == first.id else second
    loser = second if survivor is first else first
    session.execute(update(CustomerEdit).where(CustomerEdit.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerCard).where(CustomerCard.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerSale).where(CustomerSale.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerRedirect).where(CustomerRedirect.survivor == loser.id)
                    .values(survivor=survivor.id))
    for old in merged.redirects:
        redirect = session.get(CustomerRedirect, old) or CustomerRedirect(old=old)
        redirect.survivor = survivor.id
        session.add(redirect)
        session.flush()
        changelog.record(session, BUCKET, ALL, "customer_redirect", old, "upsert",
                         {"old": old, "survivor": survivor.id})
    changelog.record(session, BUCKET, ALL, "customer", loser.id, "delete", None)
    session.add(CustomerMerge(survivor=survivor.id, merged=loser.id, by=by, reason=reason))
    session.delete(loser)
    session.flush()
    refresh(session, survivor)
    for card in cards_of(session, survivor.id):  # moved cards name the survivor now
        changelog.record(session, BUCKET, ALL, "customer_card", card.number, "upsert",
                         card_wire(card))
    return survivor


def erase(session: Session, customer_id: str, *, by: str,
          now: dt.datetime | None = None) -> Customer:
    """Anonymise for good (K10): personal values dropped from the record and its history,
    every card retired; sales keep their totals. Later edits never bring the data back."""
    customer = get(session, customer_id, lock=True)
    if customer.erased_stamp:
        return customer
    now = now or dt.datetime.now(dt.UTC)
    stamp = Stamp(now, CENTRAL, str(uuidlib.uuid4()))
    customer.erased_stamp, customer.erased_at = _stamp_text(stamp), now
    for row in session.scalars(select(CustomerEdit)
                               .where(CustomerEdit.customer_id == customer.id)):
        kept, dropped = _redacted(json.loads(row.changes))
        row.changes = json.dumps(kept, sort_keys=True)
        row.redacted = json.dumps(sorted(set(dropped) | set(json.loads(row.redacted))))
    session.add(CustomerMerge(survivor=customer.id, merged=customer.id, by=by,
                              reason="erased on request"))
    session.flush()
    refresh(session, customer)
    return customer


def export(session: Session, customer_id: str) -> dict[str, Any]:
    """Everything held about one customer (K10), as JSON-ready data."""
    customer = get(session, customer_id)
    edits = session.scalars(select(CustomerEdit).where(CustomerEdit.customer_id == customer.id)
                            .order_by(CustomerEdit.at, CustomerEdit.store, CustomerEdit.edit_id))
    sales = session.scalars(select(CustomerSale).where(CustomerSale.customer_id == customer.id)
                            .order_by(CustomerSale.at))
    merges = session.scalars(select(CustomerMerge).where(
        CustomerMerge.survivor == customer.id).order_by(CustomerMerge.at))
    return {
        "customer": wire(customer),
        "cards": [card_wire(c) for c in cards_of(session, customer.id)],
        "history": [{"edit": e.edit_id, "at": _iso(e.at), "store": e.store,
                     "author": e.author, "changes": json.loads(e.changes),
                     "add_cards": json.loads(e.add_cards),
                     "retire_cards": json.loads(e.retire_cards),
                     "redacted": json.loads(e.redacted)} for e in edits],
        "sales": [{"sale": s.sale_uuid, "at": _iso(s.at), "total": str(s.total),
                   "kind": s.kind} for s in sales],
        "merged_from": sorted(session.scalars(select(CustomerRedirect.old).where(
            CustomerRedirect.survivor == customer.id))),
        "audit": [{"merged": m.merged, "by": m.by, "reason": m.reason, "at": _iso(m.at)}
                  for m in merges],
    }


def list_customers(session: Session, page_no: int, size: int, *, q: str | None = None,
                   include_erased: bool = False) -> tuple[list[Customer], int]:
    query = select(Customer)
    if not include_erased:
        query = query.where(Customer.erased_at.is_(None))
    for word in search_key(q).split() if q else ():
        query = query.where((Customer.search_key.like(f"{word}%"))
                            | Customer.search_key.like(f"% {word}%")
                            | (Customer.email == word) | Customer.mobile.like(f"%{word}"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Customer.search_key, Customer.id)
                           .offset((page_no - 1) * size).limit(size))
    return list(rows), int(total)


# -- duplicates ------------------------------------------------------------------------------

def likely_duplicates(session: Session, limit: int = 500) -> list[duplicates.Match]:
    """Pairs of live customers sharing a mobile, an e-mail, or a birth date with a similar
    name (rules.customers.duplicates), strongest first. The database proposes the pairs
    (a self-join on indexed columns), the rules decide."""
    a, b = aliased(Customer), aliased(Customer)
    pairs = session.execute(
        select(a.id, b.id).join(b, and_(a.id < b.id, or_(
            a.mobile == b.mobile, a.email == b.email, a.birth_date == b.birth_date)))
        .where(a.erased_at.is_(None), b.erased_at.is_(None)).limit(limit * 20)).all()
    ids = {i for pair in pairs for i in pair}
    rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    cards: dict[str, set[str]] = {}
    for number, holder in session.execute(select(CustomerCard.number, CustomerCard.customer_id)
                                          .where(CustomerCard.customer_id.in_(ids),
                                                 CustomerCard.active.is_(True))):
        cards.setdefault(holder, set()).add(number)

    def candidate(row: Customer) -> duplicates.Candidate:
        return duplicates.Candidate(row.id, frozenset(cards.get(row.id, ())), row.mobile,
                                    row.email, search_key(row.first_name, row.last_name),
                                    row.birth_date)

    found = [m for x, y in pairs
             if (m := duplicates.compare(candidate(rows[x]), candidate(rows[y]))) is not None]
    return sorted(found, key=lambda m: (-m.score, m.a, m.b))[:limit]


# -- sales that name a customer ---------------------------------------------------------------

def record_sales(session: Session, sales: Iterable[Mapping[str, Any]]) -> None:
    """Add newly ingested sales that name a customer to its aggregates (once per sale id;
    a return, a negative total, subtracts). A customer not known yet gets them on arrival."""
    rows = []
    for sale in sales:
        if sale.get("customer") is None:
            continue
        total = Decimal(sale["total"])
        rows.append({"sale_uuid": str(sale["uuid"]),
                     "customer_id": resolve(session, str(sale["customer"])),
                     "at": sale["created_at"], "total": abs(total),
                     "kind": "return" if total < 0 else "sale"})
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    done = session.execute(insert(CustomerSale).on_conflict_do_nothing(
        index_elements=["sale_uuid"]).returning(CustomerSale.customer_id), rows).scalars().all()
    for customer_id in sorted(set(done)):
        customer = session.scalar(select(Customer).where(Customer.id == customer_id)
                                  .with_for_update())
        if customer is not None:
            refresh(session, customer)


# -- the ``customer`` upstream kind -----------------------------------------------------------

class CustomerHandler:
    """Edits made at stores: applied once by edit id, by the field-by-field rule."""

    kind = "customer"
    after: frozenset[str] = frozenset()

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        body = upstream_kinds.read("customer", entry["body"])
        if body["store"] != store.code:
            raise WireError(f"customer edit names store {body['store']!r} but came from "
                            f"{store.code!r}")
        if str(body["edit"]) != entry["id"]:
            raise WireError(f"customer entry id {entry['id']!r} is not its edit's id")
        return body

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        done = Recorded()
        region = region_of(store)
        for entry, body in items:
            savepoint = session.begin_nested()
            try:
                _, new = apply_edit(
                    session, str(body["customer"]), body["changes"], at=body["at"],
                    store=body["store"], edit_id=str(body["edit"]),
                    add_cards=body["add_cards"], retire_cards=body["retire_cards"],
                    region=region, author=f"store {store.code}", mandatory=False,
                    epoch=epoch, seq=entry["seq"], on_card_taken="merge")
            except (Invalid, Conflict) as exc:
                savepoint.rollback()
                detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
                done.parked.append(Parked(seq=entry["seq"],
                                          reason=f"{exc.message}: {detail or exc.message}",
                                          payload=dumps(entry).decode()))
                continue
            savepoint.commit()
            if new:
                done.applied += 1
            else:
                done.duplicates += 1
        return done

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {seq: edit_id for seq, edit_id in session.execute(
            select(CustomerEdit.seq, CustomerEdit.edit_id).where(
                CustomerEdit.store_epoch == epoch, CustomerEdit.seq.in_(seqs),
                CustomerEdit.store == store.code)).all() if seq is not None}


class FindCustomerHandler:
    """``find_customer``: a customer the store's copy does not hold yet."""

    kind = "find_customer"

    def answer(self, session: Session, store: Store, body: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        customer = find(session, card=body.get("card"), mobile=body.get("mobile"),
                        email=body.get("email"), region=region_of(store))
        if customer is None:
            return {"found": False, "customer": None, "cards": []}
        return {"found": True, "customer": wire(customer),
                "cards": [card_wire(c) for c in cards_of(session, customer.id)]}



# -- imports (K6) -----------------------------------------------------------------------------

IMPORT_KEYS = ("external_id", "card", "card_kind")
"""Columns of an import file that are not record fields: the file's own id for the
customer, a card number and its kind (loyalty by default)."""


def _same(old: FieldValue, new: FieldValue) -> bool:
    if isinstance(old, Consent) and isinstance(new, Consent):
        return old.granted == new.granted  # the date of a repeated yes is not news
    return old == new


def _problems(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{field}: {', '.join(messages)}" for field, messages in errors.items())


def row_handler(*, region: str = "IT", author: str = "import",
                now: Callable[[], dt.datetime] | None = None) -> Callable[[Session, Any], str]:
    """A row handler for ``central.imports.run_import``: one customer per row.

    Matched by ``external_id``, else by the card, else by the mobile: importing the same
    file again finds every customer and, nothing being new, writes nothing (``unchanged``).
    Blank cells leave a field as it is. A row that does not validate is rejected with the
    reason naming each field, and nothing of it is kept.
    """
    from central.imports import RowRejected

    clock = now or (lambda: dt.datetime.now(dt.UTC))

    def handle(session: Session, row: Any) -> str:
        values = {k: v.strip() for k, v in row.values.items() if k and v and v.strip()}
        external = values.pop("external_id", None)
        number = values.pop("card", None)
        kind = values.pop("card_kind", "loyalty")
        cards = [{"number": number, "kind": kind}] if number else []
        customer = None
        if external:
            customer = session.scalar(select(Customer).where(Customer.external_id == external))
        if customer is None and number:
            customer = find(session, card=number)
        if customer is None and values.get("mobile"):
            customer = find(session, mobile=values["mobile"], region=region)
        try:
            if customer is None:
                made, _ = apply_edit(session, str(uuidlib.uuid4()), values, at=clock(),
                                     store=CENTRAL, add_cards=cards, region=region,
                                     author=author)
                made.external_id = external
                return "created"
            if customer.erased_at is not None:
                raise RowRejected(f"customer {customer.id} was erased: not imported again")
            state = state_of(session, customer)
            current = state.fields()
            clean = clean_changes(values, policy(session, mandatory=False), region=region,
                                  at=clock(), store=CENTRAL, current=current)
            changed = {k: values[k] for k, v in clean.items() if not _same(current.get(k), v)}
            held = {n for n, (_link, active) in state.cards().items() if active}
            new_cards = [c for c in cards if "".join(c["number"].split()) not in held]
            if not changed and not new_cards and (not external
                                                  or customer.external_id == external):
                return "unchanged"
            apply_edit(session, customer.id, changed, at=clock(), store=CENTRAL,
                       add_cards=new_cards, region=region, author=author, mandatory=False)
            if external:
                customer.external_id = external
            return "updated"
        except CustomerInvalid as exc:
            raise RowRejected("; ".join(f"{k}: {v}" for k, v in exc.problems.items())) from exc
        except (Invalid, Conflict) as exc:
            raise RowRejected(_problems(exc.errors) or exc.message) from exc

    return handle
