"""Customer imports at central (K6): the row handlers that ``central.imports.run_import``
calls, for a file of customers and (through ``partner_members``) a partner's member list.

Each row is a ``Plan``: record fields, the file's own id for the customer, its cards. A
plan is matched to a customer (by external id, card or mobile, in an order the import
chooses) so that importing the same file again finds every customer and, nothing being
new, writes nothing (``unchanged``).

``CustomerWriter.many`` applies a whole batch in one round of queries: the cards, external
ids and mobiles of the batch looked up together, the matched customers' edits read
together, the new customers, their first edits, their cards and their change-log entries
inserted together (``changelog.record_many``). A plan the fast path cannot decide alone (a
customer that really changes, a card held by someone, two rows of the batch naming the
same customer) takes ``CustomerWriter.one``, the edit-by-edit path of the registry
(``customers.apply_edit``) in its own savepoint, after the batch's bulk writes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from central.imports import RowRejected, Statistics
from central.models import Customer, CustomerCard, CustomerEdit
from central.services import changelog
from central.services.customer_fields import BUCKET, policy
from central.services.customer_fold import NO_SALES, encode, fold, state_of, states_of
from central.services.customers import (
    CENTRAL,
    apply_edit,
    check_card,
    find,
    loyalty_rules,
    profile_for,
)
from central.services.errors import Conflict, Invalid
from central.tabular import Row
from protocol.encoding import dumps
from protocol.streams import ALL
from rules.cards import CardError, CardKind
from rules.customers.contact import ContactError, normalise_phone
from rules.customers.history import CardLink, CustomerState, Edit, Stamp
from rules.customers.record import (
    Consent,
    CustomerInvalid,
    FieldValue,
    clean_changes,
)

IMPORT_KEYS = ("external_id", "card", "card_kind")
"""Columns of an import file that are not record fields: the file's own id for the
customer, a card number and its kind (loyalty by default)."""

BY_EXTERNAL_ID, BY_CARD, BY_MOBILE = "external_id", "card", "mobile"
CUSTOMERS_ORDER = (BY_EXTERNAL_ID, BY_CARD, BY_MOBILE)
EXTERNAL_ID_LENGTH = 80  # Customer.external_id
CARD_LENGTH = 64  # CustomerCard.number


@dataclass
class Plan:
    """One row to apply: record fields (text as typed), the file's id, its cards, and the
    fields used only if the customer is created (a member list's holder as the name)."""

    values: dict[str, str]
    external: str | None = None
    cards: list[CardLink] = field(default_factory=list)
    if_new: dict[str, str] = field(default_factory=dict)
    card_column: str = "card"
    """The file's column of the card (what a refusal names)."""


def _loyalty(cards: Sequence[CardLink]) -> list[str]:
    return [c.number for c in cards if c.kind is CardKind.LOYALTY]


def _same(old: FieldValue, new: FieldValue) -> bool:
    if isinstance(old, Consent) and isinstance(new, Consent):
        return old.granted == new.granted  # the date of a repeated yes is not news
    return old == new


def _problems(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(messages)}" for name, messages in errors.items())


def _invalid(exc: CustomerInvalid) -> RowRejected:
    return RowRejected("; ".join(f"{k}: {v}" for k, v in exc.problems.items()))


def card_link(column: str, number: str, kind: str) -> CardLink:
    """A card from a file's cell, checked as the registry checks it; RowRejected naming
    ``column`` otherwise."""
    if len(number) > CARD_LENGTH:
        raise RowRejected(f"{column}: at most {CARD_LENGTH} characters")
    try:
        return check_card({"number": number, "kind": kind})
    except CardError as exc:
        raise RowRejected(f"{column}: {exc}") from exc


def plan_of(row: Row) -> Plan:
    """A customers file's row (the record's fields, extra.{code}, external_id, card,
    card_kind); blank cells leave a field as it is."""
    values = {k: v.strip() for k, v in row.values.items() if k and v and v.strip()}
    external = values.pop("external_id", None)
    number = values.pop("card", None)
    kind = values.pop("card_kind", "loyalty")
    if external is not None and len(external) > EXTERNAL_ID_LENGTH:
        raise RowRejected(f"external_id: at most {EXTERNAL_ID_LENGTH} characters")
    cards = [card_link("card", number, kind)] if number else []
    return Plan(values, external, cards)


class CustomerWriter:
    """Applies plans to the registry, one (``one``) or a batch (``many``) at a time.

    ``order`` is how a plan finds its customer (the first key that matches wins);
    ``mandatory`` whether a created customer must have head office's mandatory fields.
    """

    def __init__(self, *, region: str = "IT", author: str = "import",
                 order: Sequence[str] = CUSTOMERS_ORDER, mandatory: bool = True,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.region, self.author, self.order, self.mandatory = region, author, order, mandatory
        self.clock = now or (lambda: dt.datetime.now(dt.UTC))
        self.statistics = Statistics("customers", "customer_cards", "customer_edits", "changes")

    # -- one row: the registry's own edit path ---------------------------------------------

    def _find(self, session: Session, plan: Plan) -> Customer | None:
        for key in self.order:
            customer = None
            if key == BY_EXTERNAL_ID and plan.external:
                customer = session.scalar(select(Customer)
                                          .where(Customer.external_id == plan.external))
            elif key == BY_CARD:
                for card in plan.cards:
                    customer = customer or find(session, card=card.number)
            elif key == BY_MOBILE and plan.values.get("mobile"):
                customer = find(session, mobile=plan.values["mobile"], region=self.region)
            if customer is not None:
                return customer
        return None

    def one(self, session: Session, plan: Plan) -> str:
        """Apply one plan (``created``, ``updated``, ``unchanged``) or raise RowRejected."""
        cards = [{"number": c.number, "kind": c.kind.value} for c in plan.cards]
        customer = self._find(session, plan)
        try:
            if customer is None:
                values = {**{k: v for k, v in plan.if_new.items() if k not in plan.values},
                          **plan.values}
                made, _ = apply_edit(session, str(uuidlib.uuid4()), values, at=self.clock(),
                                     store=CENTRAL, add_cards=cards, region=self.region,
                                     author=self.author, mandatory=self.mandatory)
                made.external_id = plan.external
                return "created"
            if customer.erased_at is not None:
                raise RowRejected(f"customer {customer.id} was erased: not imported again")
            state = state_of(session, customer)
            news, new_cards = self._news(session, plan, state)
            changed = {k: plan.values[k] for k in news}
            if not changed and not new_cards and (not plan.external
                                                  or customer.external_id == plan.external):
                return "unchanged"
            apply_edit(session, customer.id, changed, at=self.clock(), store=CENTRAL,
                       add_cards=[{"number": c.number, "kind": c.kind.value}
                                  for c in new_cards],
                       region=self.region, author=self.author, mandatory=False)
            if plan.external:
                customer.external_id = plan.external
            return "updated"
        except CustomerInvalid as exc:
            raise _invalid(exc) from exc
        except (Invalid, Conflict) as exc:
            errors = {(plan.card_column if k == "cards" or k.startswith("cards[") else k): v
                      for k, v in exc.errors.items()}
            raise RowRejected(_problems(errors) or exc.message) from exc

    def _news(self, session: Session, plan: Plan, state: CustomerState, loose: Any = None,
              at: dt.datetime | None = None) -> tuple[dict[str, FieldValue], list[CardLink]]:
        """What ``plan`` would change in a customer as ``state`` holds it: the fields'
        new values (cleaned) and the cards it does not hold yet."""
        current = state.fields()
        clean = clean_changes(plan.values, loose or policy(session, mandatory=False),
                              region=self.region, at=at or self.clock(), store=CENTRAL,
                              current=current)
        changed = {k: v for k, v in clean.items() if not _same(current.get(k), v)}
        held = {n for n, (_link, active) in state.cards().items() if active}
        return changed, [c for c in plan.cards if c.number not in held]

    # -- a batch ---------------------------------------------------------------------------

    def many(self, session: Session, plans: Sequence[Plan]) -> list[str | RowRejected]:
        """Apply a batch of plans; each gets its outcome or its RowRejected, in order."""
        now = self.clock()
        profiles = loyalty_rules(session)
        loose = policy(session, mandatory=False)
        strict = policy(session, mandatory=True) if self.mandatory else loose
        numbers = {c.number for p in plans for c in p.cards}
        externals = {p.external for p in plans if p.external}
        mobiles: dict[int, str] = {}
        for i, plan in enumerate(plans):
            if plan.values.get("mobile"):
                try:
                    mobiles[i] = normalise_phone(plan.values["mobile"], self.region)
                except ContactError:
                    pass  # the record's validation names the field
        holders: dict[str, tuple[str, bool]] = {}  # card -> (customer, usable for a match)
        for number, holder, active, erased in session.execute(
                select(CustomerCard.number, CustomerCard.customer_id, CustomerCard.active,
                       Customer.erased_at).outerjoin(Customer,
                                                     Customer.id == CustomerCard.customer_id)
                .where(CustomerCard.number.in_(numbers))):
            holders[number] = (holder, bool(active) and erased is None)
        by_external = dict(session.execute(select(Customer.external_id, Customer.id)
                                           .where(Customer.external_id.in_(externals))).all())
        by_mobile: dict[str, str] = {}
        for mobile, customer_id in session.execute(
                select(Customer.mobile, Customer.id)
                .where(Customer.mobile.in_(set(mobiles.values())), Customer.erased_at.is_(None))
                .order_by(Customer.created_at.desc(), Customer.id.desc())):
            by_mobile[mobile] = customer_id  # the earliest created wins, as ``find``

        def match(i: int, plan: Plan) -> str | None:
            for key in self.order:
                if key == BY_EXTERNAL_ID and plan.external in by_external:
                    return by_external[plan.external]
                if key == BY_CARD:
                    for card in plan.cards:
                        found = holders.get(card.number)
                        if found is not None and found[1]:
                            return found[0]
                if key == BY_MOBILE and mobiles.get(i) in by_mobile:
                    return by_mobile[mobiles[i]]
            return None

        matched = {i: match(i, p) for i, p in enumerate(plans)}
        # Locked, as ``apply_edit`` locks the one it changes (sales' aggregates wait).
        known = {c.id: c for c in session.scalars(select(Customer).where(
            Customer.id.in_({m for m in matched.values() if m is not None}))
            .order_by(Customer.id).with_for_update())}
        states = states_of(session, list(known.values()), loose.specs())
        results: list[str | RowRejected | None] = [None] * len(plans)
        later: list[int] = []
        claimed: set[tuple[str, str]] = set()
        new_customers: list[dict[str, Any]] = []
        new_edits: list[dict[str, Any]] = []
        new_cards: list[dict[str, Any]] = []
        entries: list[tuple[str, str, str, dict[str, Any] | None]] = []
        for i, plan in enumerate(plans):
            keys = {("card", c.number) for c in plan.cards}
            keys |= {("external", plan.external)} if plan.external else set()
            keys |= {("mobile", mobiles[i])} if i in mobiles else set()
            customer_id = matched[i]
            keys |= {("customer", customer_id)} if customer_id else set()
            if keys & claimed:  # another row of this batch: after it, one by one
                later.append(i)
                continue
            claimed |= keys
            try:
                if customer_id is not None:
                    customer = known[customer_id]
                    if customer.erased_at is not None:
                        raise RowRejected(f"customer {customer.id} was erased: "
                                          "not imported again")
                    changed, cards = self._news(session, plan, states[customer_id], loose, now)
                    if not changed and not cards and (not plan.external
                                                      or customer.external_id == plan.external):
                        results[i] = "unchanged"
                    elif any(c.number in holders for c in cards):
                        later.append(i)  # a card someone holds (or held): the registry decides
                    else:
                        edit = self._edit(new_edits, customer_id, now, changed, cards)
                        state = replace(states[customer_id],
                                        edits=states[customer_id].edits | {edit})
                        if customer.profile is None:  # as apply_edit: its first chain card
                            customer.profile = profile_for(_loyalty(cards), profiles)
                        data, columns = fold(customer_id, state, customer.profile, (
                            customer.total_spend, customer.visits, customer.returns,
                            customer.first_purchase, customer.last_purchase))
                        for name, value in columns.items():
                            setattr(customer, name, value)
                        if plan.external:
                            customer.external_id = plan.external
                        text = dumps(data).decode()
                        if text != customer.data:
                            customer.data, customer.updated_at = text, dt.datetime.now(dt.UTC)
                            entries.append(("customer", customer_id, "upsert", data))
                        self._cards(new_cards, entries, customer_id, state, cards)
                        results[i] = "updated"
                    continue
                if any(c.number in holders for c in plan.cards):
                    later.append(i)  # a card someone holds (or held): the registry decides
                    continue
                values = {**{k: v for k, v in plan.if_new.items() if k not in plan.values},
                          **plan.values}
                clean = clean_changes(values, strict, region=self.region, at=now,
                                      store=CENTRAL, current={})
            except CustomerInvalid as exc:
                results[i] = _invalid(exc)
                continue
            except RowRejected as exc:
                results[i] = exc
                continue
            customer_id = str(uuidlib.uuid4())
            edit = self._edit(new_edits, customer_id, now, clean, plan.cards)
            state = CustomerState(customer_id, frozenset({edit}))
            profile = profile_for(_loyalty(plan.cards), profiles)
            data, columns = fold(customer_id, state, profile, NO_SALES)
            wall = dt.datetime.now(dt.UTC)
            new_customers.append({"id": customer_id, **columns, "profile": profile,
                                  "external_id": plan.external, "data": dumps(data).decode(),
                                  "erased_at": None, "erased_stamp": None,
                                  "created_at": wall, "updated_at": wall})
            entries.append(("customer", customer_id, "upsert", data))
            self._cards(new_cards, entries, customer_id, state, plan.cards)
            results[i] = "created"
        if new_customers:
            session.execute(insert(Customer), new_customers)
        session.flush()  # the matched customers' new columns
        if new_edits:
            session.execute(insert(CustomerEdit), new_edits)
        if new_cards:
            session.execute(insert(CustomerCard), new_cards)
        # new customers' ids were just made; their cards have no row (``holders``): no
        # entry of theirs is in the log yet
        fresh = {("customer", c["id"]) for c in new_customers}
        fresh |= {("customer_card", c["number"]) for c in new_cards}
        changelog.record_many(session, BUCKET, ALL, entries, new=fresh)
        self.statistics.grew(len(new_customers) + len(new_cards))
        for i in later:
            try:
                with session.begin_nested():
                    results[i] = self.one(session, plans[i])
            except RowRejected as exc:
                results[i] = exc
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


    def _edit(self, rows: list[dict[str, Any]], customer_id: str, at: dt.datetime,
              changes: Mapping[str, FieldValue], cards: Sequence[CardLink]) -> Edit:
        """A new edit of head office (as ``apply_edit`` records it), its row added to
        ``rows``."""
        edit_id = str(uuidlib.uuid4())
        edit = Edit.of(customer_id, Stamp(at, CENTRAL, edit_id), changes, add_cards=cards)
        rows.append({
            "edit_id": edit_id, "customer_id": customer_id, "addressed_to": customer_id,
            "at": at, "store": CENTRAL, "author": self.author, "store_epoch": None,
            "seq": None, "received_at": dt.datetime.now(dt.UTC),
            "changes": json.dumps({k: encode(v) for k, v in changes.items()}, sort_keys=True),
            "add_cards": json.dumps([{"number": c.number, "kind": c.kind.value}
                                     for c in edit.add_cards]),
            "retire_cards": "[]", "redacted": "[]"})
        return edit

    @staticmethod
    def _cards(rows: list[dict[str, Any]], entries: list[Any], customer_id: str,
               state: CustomerState, added: Sequence[CardLink]) -> None:
        """The ``customer_cards`` rows and change-log entries of the cards just added."""
        numbers = {c.number for c in added}
        for number, (link, active) in state.cards().items():
            if number in numbers:
                rows.append({"number": number, "customer_id": customer_id,
                             "kind": link.kind.value, "active": active})
                entries.append(("customer_card", number, "upsert", {
                    "number": number, "customer": customer_id, "kind": link.kind.value,
                    "active": active}))


class CustomerRows:
    """The row handler of a customers file: per row (``__call__``) or per batch."""

    def __init__(self, writer: CustomerWriter) -> None:
        self.writer = writer
        self.statistics = (writer.statistics,)

    def __call__(self, session: Session, row: Row) -> str:
        return self.writer.one(session, plan_of(row))

    def batch(self, session: Session, rows: Sequence[Row]) -> list[str | RowRejected]:
        results: list[str | RowRejected | None] = [None] * len(rows)
        plans: list[tuple[int, Plan]] = []
        for i, row in enumerate(rows):
            try:
                plans.append((i, plan_of(row)))
            except RowRejected as exc:
                results[i] = exc
        for (i, _plan), outcome in zip(plans, self.writer.many(session, [p for _, p in plans]),
                                       strict=True):
            results[i] = outcome
        return results  # type: ignore[return-value]


def row_handler(*, region: str = "IT", author: str = "import",
                now: Callable[[], dt.datetime] | None = None) -> CustomerRows:
    """The handler of a customers file for ``central.imports.run_import``.

    Matched by ``external_id``, else by the card, else by the mobile. Blank cells leave a
    field as it is. A row that does not validate is rejected with the reason naming each
    column, and nothing of it is kept.
    """
    return CustomerRows(CustomerWriter(region=region, author=author, now=now))
