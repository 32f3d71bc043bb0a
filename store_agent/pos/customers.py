"""The chain's customers at the store: find, recall, create and edit, online or offline.

Everything answers from the store's copy (store_agent.sync.customer_tables, read through
store_agent.pos.customer_copy). A card or phone the copy does not know (a customer who
signed up at another store a minute ago) is asked of central with the ``find_customer``
request when central is reachable; its answer is kept in the copy so a sale can name the
customer. A customer made or edited here is written to the copy and to the outbox (kind
``customer``) in one transaction: it goes upstream before any sale that names it, and stays
laid over central's record until central confirms it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rules.cards import VIP_MARK, CardError, CardKind
from rules.customers.contact import ContactError, normalise_email, normalise_phone
from rules.customers.record import (
    Consent,
    CustomerInvalid,
    FieldValue,
    clean_changes,
)
from store_agent.pos.customer_copy import (
    PARTNER,
    by_card,
    by_name,
    read_card_number,
    records,
    registry_policy,
    survivor,
    typed,
    view,
)
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync.customer_tables import (
    RECORD,
    apply_cards,
    forget_confirmed,
    overlay,
    record_of,
    write_record,
)

log = logging.getLogger(__name__)

ENTRY_KIND = "customer"
FIND_REQUEST = "find_customer"
SEARCH_LIMIT = 20


class UnknownCustomer(LookupError):
    """No customer with that id (nor one merged into a survivor) in the store's copy."""


class CardTaken(ValueError):
    """A card number another customer holds."""


@dataclass
class Found:
    customers: list[dict[str, Any]]
    by: str
    """What the query was read as: card, mobile, email or name."""
    central: str = "not asked"
    """``not asked`` (the copy knew), ``asked`` or ``unreachable`` (answer from the copy)."""
    problems: dict[str, str] = field(default_factory=dict)


Ask = Callable[[dict[str, Any]], dict[str, Any]]
"""Asks central ``find_customer`` with the body; raises transport.rpc.RequestFailed."""


def _wire(value: FieldValue) -> Any:
    if isinstance(value, Consent):
        return {"granted": value.granted, "at": value.at.astimezone(dt.UTC).isoformat(),
                "store": value.store}
    if isinstance(value, (date, Decimal)):
        return value.isoformat() if isinstance(value, date) else str(value)
    return value


class Customers:
    """The store's customer service (one per agent)."""

    def __init__(self, store: LocalStore, store_code: str,
                 settings: CustomerSettings | None = None, ask: Ask | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(dt.UTC),
                 on_edit: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.store_code = store_code
        self.settings = settings or CustomerSettings()
        self.ask = ask
        self.clock = clock
        self.on_edit = on_edit

    # -- find -------------------------------------------------------------------------------

    def find(self, *, q: str | None = None, card: str | None = None,
             mobile: str | None = None, email: str | None = None, name: str | None = None,
             limit: int = SEARCH_LIMIT) -> Found:
        """Customers by card, mobile, e-mail or name; ``q`` is read as whichever it looks
        like (a card first for digits, then a mobile). ValueError names a bad field."""
        now = self.clock()
        if q is not None:
            return self._guess(q.strip(), limit, now)
        if card is not None:
            number = self._card(card, "card")
            return self._exact("card", {"card": number}, now,
                               lambda conn: by_card(conn, number))
        if mobile is not None:
            phone = self._phone(mobile, "mobile")
            return self._many("mobile", {"mobile": phone}, now, "mobile = ?", phone)
        if email is not None:
            try:
                address = normalise_email(email, "email")
            except ContactError as exc:
                raise CustomerInvalid({"email": exc.message}) from None
            return self._many("email", {"email": address}, now, "email_key = ?",
                              address.lower())
        if name is not None:
            with self.store.read() as conn:
                rows = by_name(conn, name, limit)
                return Found([view(conn, r, self.store_code, now, with_alerts=False)
                              for r in rows], "name")
        raise CustomerInvalid({"q": "give q, card, mobile, email or name"})

    def _guess(self, text: str, limit: int, now: datetime) -> Found:
        if not text:
            raise CustomerInvalid({"q": "is empty"})
        if "@" in text:
            return self.find(email=text)
        compact = re.sub(r"[\s().-]", "", text)
        if text.upper().startswith(VIP_MARK) or (compact.isdigit() and len(compact) == 13):
            try:
                found = self.find(card=text)
            except CustomerInvalid:
                found = Found([], "card")
            if found.customers or not compact.isdigit():
                return found
        if re.fullmatch(r"\+?[0-9]{6,15}", compact):
            try:
                return self.find(mobile=text)
            except CustomerInvalid:
                pass
        if compact.isdigit() or re.fullmatch(PARTNER.pattern, text) and any(
                ch.isdigit() for ch in text):
            with self.store.read() as conn:
                record = by_card(conn, text)
                if record is not None:
                    return Found([view(conn, record, self.store_code, now)], "card")
        return self.find(name=text, limit=limit)

    def _card(self, scanned: str, field_name: str) -> str:
        try:
            with self.store.read() as conn:
                return read_card_number(scanned, conn)[0]
        except CardError as exc:
            raise CustomerInvalid({field_name: str(exc)}) from None

    def _phone(self, raw: str, field_name: str) -> str:
        try:
            return normalise_phone(raw, self.settings.country, field_name)
        except ContactError as exc:
            raise CustomerInvalid({field_name: exc.message}) from None

    def _exact(self, by: str, body: dict[str, Any], now: datetime,
               lookup: Callable[[sqlite3.Connection], dict[str, Any] | None]) -> Found:
        with self.store.read() as conn:
            record = lookup(conn)
            if record is not None:
                return Found([view(conn, record, self.store_code, now)], by)
        return self._central(by, body, now, lookup)

    def _many(self, by: str, body: dict[str, Any], now: datetime, where: str,
              value: str) -> Found:
        with self.store.read() as conn:
            rows = records(conn, f"SELECT {RECORD} FROM customers c WHERE {where} "  # noqa: S608
                           "AND erased = 0 ORDER BY id LIMIT ?", (value, SEARCH_LIMIT))
            if rows:
                return Found([view(conn, r, self.store_code, now) for r in rows], by)
        return self._central(by, body, now, None)

    def _central(self, by: str, body: dict[str, Any], now: datetime,
                 lookup: Callable[[sqlite3.Connection], dict[str, Any] | None] | None
                 ) -> Found:
        """Ask central for a card or phone the copy does not know; keep what it says."""
        if self.ask is None:
            return Found([], by)
        from transport.rpc import RequestFailed  # the store works without a broker too

        try:
            reply = self.ask(body)
        except RequestFailed as exc:
            log.info("find_customer %s: %s", body, exc)
            return Found([], by, central="unreachable")
        with self.store.write() as conn:
            for card in reply.get("cards") or ():
                # An upsert, not a replace: the row keeps central's entry hash of the card
                # if the stream brought it (replica_tables.Table.hash_column).
                conn.execute("INSERT INTO customer_cards (number, customer, kind, active) "
                             "VALUES (?, ?, ?, ?) ON CONFLICT (number) DO UPDATE SET "
                             "customer = excluded.customer, kind = excluded.kind, "
                             "active = excluded.active", (card["number"],
                                                             str(card["customer"]),
                                                             card["kind"],
                                                             int(card["active"])))
            found = None
            if reply.get("found") and reply.get("customer"):
                record = {**reply["customer"], "id": str(reply["customer"]["id"])}
                if record_of(conn, record["id"]) is None:  # the copy's own is never older
                    write_record(conn, record)
                found = record_of(conn, record["id"])
            views = [] if found is None else [view(conn, found, self.store_code, now)]
        return Found(views, by, central="asked")

    def get(self, customer_id: str) -> dict[str, Any]:
        """One customer by id (an old, merged id finds the survivor)."""
        with self.store.read() as conn:
            record = record_of(conn, survivor(conn, customer_id))
            if record is None:
                raise UnknownCustomer(f"no customer {customer_id}")
            return view(conn, record, self.store_code, self.clock())

    def form(self) -> dict[str, Any]:
        """What the till's form shows: the extra questions and the mandatory fields."""
        with self.store.read() as conn:
            policy = registry_policy(conn)
        return {"questions": [{"code": q.code, "field": q.field, "label": q.label,
                               "kind": q.kind, "choices": list(q.choices)}
                              for q in policy.questions],
                "mandatory": sorted(policy.mandatory),
                "card_range": self.settings.card_range is not None}

    # -- create and edit --------------------------------------------------------------------

    def create(self, changes: Mapping[str, object], *, cards: Iterable[str] = (),
               issue_card: bool = False, customer_id: str | None = None) -> dict[str, Any]:
        """A new customer made here (a UUID minted here), with its cards."""
        new_id = customer_id or str(uuid.uuid4())
        try:
            new_id = str(uuid.UUID(new_id))
        except ValueError:
            raise CustomerInvalid({"id": f"{customer_id!r} is not a UUID"}) from None
        if "home_store" not in changes:  # a customer made here is this store's
            changes = {**changes, "home_store": self.store_code}
        return self._edit(new_id, changes, cards, (), issue_card, new=True)

    def edit(self, customer_id: str, changes: Mapping[str, object], *,
             add_cards: Iterable[str] = (), retire_cards: Iterable[str] = (),
             issue_card: bool = False) -> dict[str, Any]:
        return self._edit(customer_id, changes, add_cards, retire_cards, issue_card, new=False)

    def _edit(self, customer_id: str, changes: Mapping[str, object], add: Iterable[str],
              retire: Iterable[str], issue_card: bool, *, new: bool) -> dict[str, Any]:
        now = self.clock()
        problems: dict[str, str] = {}
        wanted: list[tuple[str, CardKind]] = []
        with self.store.read() as conn:
            for i, scanned in enumerate(add):
                try:
                    wanted.append(read_card_number(str(scanned), conn))
                except CardError as exc:
                    problems[f"cards.{i}"] = str(exc)
        if issue_card and self.settings.card_range is None:
            problems["issue_card"] = "this store has no range of cards (TESSERA_CARD_RANGE)"
        with self.store.write() as conn:
            if new:
                if record_of(conn, customer_id) is not None:
                    raise CustomerInvalid({"id": f"customer {customer_id} exists already"})
                current: dict[str, Any] | None = None
            else:
                customer_id = survivor(conn, customer_id)
                current = record_of(conn, customer_id)
                if current is None:
                    raise UnknownCustomer(f"no customer {customer_id}")
                if current.get("erased"):
                    raise CustomerInvalid({"id": "this customer was erased"})
            policy = registry_policy(conn)
            try:
                clean = clean_changes(changes, policy, region=self.settings.country, at=now,
                                      store=self.store_code,
                                      current=typed(current or {}, policy))
            except CustomerInvalid as exc:
                problems.update(exc.problems)
            for number, _kind in wanted:
                row = conn.execute("SELECT customer FROM customer_cards WHERE number = ?",
                                   (number,)).fetchone()
                if row is not None and str(row[0]) != customer_id:
                    problems.setdefault("cards", f"card {number} belongs to another customer")
            if problems:
                raise CustomerInvalid(problems)
            if issue_card and self.settings.card_range is not None:
                used = [str(r[0]) for r in conn.execute(
                    "SELECT number FROM customer_cards WHERE number LIKE ?",
                    (self.settings.card_range.prefix + "%",))]
                try:
                    wanted.append((self.settings.card_range.next_free(used), CardKind.LOYALTY))
                except CardError as exc:
                    raise CustomerInvalid({"issue_card": str(exc)}) from None
            edit = {"customer": customer_id,
                    "stamp": {"at": now.astimezone(dt.UTC).isoformat(),
                              "store": self.store_code, "edit_id": str(uuid.uuid4())},
                    "changes": {name: _wire(value) for name, value in sorted(clean.items())},
                    "add_cards": [{"number": n, "kind": k.value} for n, k in wanted],
                    "retire_cards": sorted({str(n) for n in retire})}
            self._record(conn, edit, current, now)
            record = record_of(conn, customer_id)
            assert record is not None
            result = view(conn, record, self.store_code, now)
        self.on_edit()
        return result

    def _record(self, conn: sqlite3.Connection, edit: dict[str, Any],
                current: dict[str, Any] | None, now: datetime) -> None:
        """The edit in the copy and in the outbox, in the caller's transaction."""
        body = upstream_body(edit)
        forget_confirmed(conn)
        conn.execute("INSERT INTO customer_local_edits (edit_id, customer, at, body) "
                     "VALUES (?, ?, ?, ?)", (edit["stamp"]["edit_id"], edit["customer"],
                                             edit["stamp"]["at"], json.dumps(edit)))
        write_record(conn, overlay(current, edit))
        apply_cards(conn, edit)
        outbox.append(conn, ENTRY_KIND, edit["stamp"]["edit_id"], body, now)


def upstream_body(edit: Mapping[str, Any]) -> dict[str, Any]:
    """The outbox entry of a local edit (protocol.upstream kind ``customer``,
    messages.CustomerEditSchema)."""
    stamp = edit["stamp"]
    return {"customer": edit["customer"], "edit": stamp["edit_id"], "at": stamp["at"],
            "store": stamp["store"], "changes": dict(edit["changes"]),
            "add_cards": list(edit["add_cards"]), "retire_cards": list(edit["retire_cards"])}
