"""The customer registry at central (K1-K5): reading customers, and every change an edit.

A customer is the set of its edits (``rules.customers.history``): every creation or change,
from a till or from head office, is a ``CustomerEdit`` row kept for good; the ``customers``
row is their fold (customer_fold: the later store clock wins field by field; ties by store
code then edit id), with the columns the lists filter on and the ``customer`` entity's wire
data, recorded into the ``customers`` stream whenever it changes. Every write takes the
customer's row lock first, so two edits of one customer (two ingest workers, a till and head
office) serialise. Around this core: customer_fields (extra questions, mandatory fields),
customer_merges (merge, erasure, export, duplicates), customer_upstream (the ``customer``
kind, ``find_customer``) and customer_imports (K6).
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import (
    Customer,
    CustomerCard,
    CustomerEdit,
    CustomerRedirect,
    CustomerSale,
    Store,
)
from central.services import loyalty_profiles
from central.services.customer_fields import policy
from central.services.customer_fold import encode, redact, refresh, refresh_sales, state_of
from central.services.errors import Conflict, Invalid, NotFound
from rules.cards import (
    CardError,
    CardKind,
    check_loyalty_card,
    check_vip_code,
    profile_for_new_card,
)
from rules.customers.contact import (
    ContactError,
    email_key,
    normalise_email,
    normalise_phone,
    search_key,
)
from rules.customers.history import CardLink
from rules.customers.record import CustomerInvalid, clean_changes

CENTRAL = "central"
"""The store code of edits made at head office (console, REST, imports)."""


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


def resolve_many(session: Session, customer_ids: Iterable[str]) -> dict[str, str]:
    """``resolve`` for many ids at once: one query per link of the longest redirect chain
    (usually one), not one per id; every id maps to where it lives now."""
    where = {i: i for i in customer_ids}
    pending = set(where.values())
    seen: dict[str, set[str]] = {i: {i} for i in where}
    while pending:
        links = dict(session.execute(select(CustomerRedirect.old, CustomerRedirect.survivor)
                                     .where(CustomerRedirect.old.in_(sorted(pending)))).all())
        pending = set()
        for first, now in where.items():
            survivor = links.get(now)
            if survivor is not None and survivor not in seen[first]:
                seen[first].add(survivor)
                where[first] = survivor
                pending.add(survivor)
    return where


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


class CardKindError(CardError):
    """A card of a kind that does not exist (the error names the card's ``kind``)."""


def check_card(link: Mapping[str, Any]) -> CardLink:
    number, kind = str(link.get("number") or ""), link.get("kind") or "loyalty"
    try:
        card_kind = CardKind(kind)
    except (ValueError, TypeError):
        raise CardKindError(f"a card is loyalty, partner or vip, not {kind!r}") from None
    if card_kind is CardKind.LOYALTY:
        number = check_loyalty_card(number)
    elif card_kind is CardKind.VIP:
        number = check_vip_code(number)
    elif not number.strip():
        raise CardError("a partner card has a number")
    return CardLink(number.strip(), card_kind)


def loyalty_rules(session: Session) -> list[Any]:
    """The loyalty profiles as ``profile_for`` takes them (a batch reads them once)."""
    return [loyalty_profiles.rules_profile(row) for row in loyalty_profiles.list_profiles(session)]


def _profile_for(session: Session, numbers: list[str]) -> str | None:
    return profile_for(numbers, loyalty_rules(session)) if numbers else None


def profile_for(numbers: list[str], profiles: list[Any]) -> str | None:
    """The loyalty profile a new holder of these chain cards joins (SPEC L1: by the
    first card's prefix, else the default profile); None without a card or a profile."""
    if not numbers:
        return None
    found = profile_for_new_card(numbers[0], profiles)
    return None if found is None else found.code


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
            links.append(check_card(given))
        except CardKindError as exc:
            problems[f"cards[{i}].kind"] = [str(exc)]
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
    if customer.profile is None and not customer.erased_stamp:
        customer.profile = _profile_for(session, [c.number for c in links
                                                  if c.kind is CardKind.LOYALTY])
    encoded = {k: encode(v) for k, v in clean.items()}
    redacted: list[str] = []
    if customer.erased_stamp:
        encoded, redacted = redact(encoded)
    session.add(CustomerEdit(
        edit_id=edit_id, customer_id=target, addressed_to=customer_id, at=at, store=store,
        changes=json.dumps(encoded, sort_keys=True),
        add_cards=json.dumps([{"number": c.number, "kind": c.kind.value} for c in links]),
        retire_cards=json.dumps(sorted(set(retire_cards))), redacted=json.dumps(redacted),
        author=author, store_epoch=epoch, seq=seq))
    session.flush()
    refresh(session, customer)
    if taken:
        # the merge builds on this module, so it is imported here, not at the top
        from central.services.customer_merges import merge
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



# -- sales that name a customer ---------------------------------------------------------------

def record_sales(session: Session, sales: Iterable[Mapping[str, Any]]) -> None:
    """Add newly ingested sales that name a customer to its aggregates (once per sale id;
    a return, a negative total, subtracts). A customer not known yet gets them on arrival."""
    named = [sale for sale in sales if sale.get("customer") is not None]
    if not named:
        return
    survivors = resolve_many(session, {str(sale["customer"]) for sale in named})
    rows = []
    for sale in named:
        total = Decimal(sale["total"])
        rows.append({"sale_uuid": str(sale["uuid"]),
                     "customer_id": survivors[str(sale["customer"])],
                     "at": sale["created_at"], "total": abs(total),
                     "kind": "return" if total < 0 else "sale"})
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    done = session.execute(insert(CustomerSale).on_conflict_do_nothing(
        index_elements=["sale_uuid"]).returning(CustomerSale.customer_id), rows).scalars().all()
    # One lock query for the batch, in id order (as every batch takes them: no deadlock);
    # a customer not known yet has no row and gets its sales when it arrives.
    touched = session.scalars(select(Customer).where(Customer.id.in_(sorted(set(done))))
                              .order_by(Customer.id).with_for_update()
                              .execution_options(populate_existing=True)).all()
    refresh_sales(session, touched)
