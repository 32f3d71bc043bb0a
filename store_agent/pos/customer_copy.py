"""Reading the store's copy of the chain's customers (store_agent.sync.customer_tables).

Head office's policy, survivors of merges, the view the till shows (cards, observation,
alerts), and the lookups by card or name that ``store_agent.pos.customers`` builds on."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from rules.cards import VIP_MARK, CardError, CardKind, check_loyalty_card, check_vip_code
from rules.conditions import ConditionError
from rules.customers.aggregates import Aggregates
from rules.customers.alerts import (
    customer_catalogue,
    customer_facts,
    make_alert,
    matching_alerts,
    observation,
)
from rules.customers.contact import search_key
from rules.customers.history import HistoryError, resolve
from rules.customers.record import (
    EXTRA_PREFIX,
    Consent,
    CustomerInvalid,
    ExtraQuestion,
    FieldValue,
    Kind,
    RegistryPolicy,
)
from store_agent.pos.receipts import store_zone
from store_agent.sync.customer_tables import RECORD, record_from, record_of

log = logging.getLogger(__name__)

PARTNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _./-]{2,39}")
"""A partner's card number as the till accepts it."""


def registry_policy(conn: sqlite3.Connection) -> RegistryPolicy:
    """Head office's extra questions (active, in their order) and mandatory fields."""
    questions = []
    for row in conn.execute("SELECT data FROM customer_fields WHERE active = 1 "
                            "ORDER BY position, code"):
        data = json.loads(row[0])
        questions.append(ExtraQuestion(data["code"], data.get("label") or data["code"],
                                       data["kind"], tuple(data.get("choices") or ())))
    row = conn.execute("SELECT data FROM customer_policies WHERE scope = 'default'").fetchone()
    mandatory = frozenset(json.loads(row[0]).get("mandatory") or ()) if row else frozenset()
    try:
        return RegistryPolicy(tuple(questions), mandatory)
    except CustomerInvalid as exc:  # a policy central should not have sent: keep selling
        log.warning("customer policy from central refused (%s): without it", exc)
        specs = RegistryPolicy(tuple(questions)).specs() if questions else {}
        return RegistryPolicy(tuple(questions) if specs else (),
                              frozenset(m for m in mandatory if m in specs))


def survivor(conn: sqlite3.Connection, customer_id: str) -> str:
    redirects = {str(r[0]): str(r[1]) for r in conn.execute(
        "WITH RECURSIVE chain(old, survivor) AS (SELECT old, survivor FROM customer_redirects "
        "WHERE old = ? UNION SELECT r.old, r.survivor FROM customer_redirects r JOIN chain c "
        "ON r.old = c.survivor) SELECT old, survivor FROM chain", (customer_id,))}
    try:
        return resolve(customer_id, redirects)
    except HistoryError:
        return customer_id


def typed(record: Mapping[str, Any], policy: RegistryPolicy) -> dict[str, FieldValue]:
    """The wire record as rules.customers values (dates, numbers, consents)."""
    specs = policy.specs()
    values: dict[str, FieldValue] = {}
    raw = {**{k: v for k, v in record.items() if k in specs},
           **{EXTRA_PREFIX + k: v for k, v in (record.get("extra") or {}).items()}}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None or value is None or value == "":
            continue
        try:
            if spec.kind is Kind.CONSENT:
                given = value if isinstance(value, Mapping) else {
                    "granted": value, "at": record.get(f"{name}_at"),
                    "store": record.get(f"{name}_store") or ""}
                values[name] = Consent(bool(given["granted"]),
                                       datetime.fromisoformat(str(given["at"])),
                                       str(given["store"]))
            elif spec.kind is Kind.DATE:
                values[name] = date.fromisoformat(str(value))
            elif spec.kind is Kind.NUMBER:
                values[name] = Decimal(str(value))
            elif isinstance(value, str):
                values[name] = value
        except (ValueError, KeyError, ArithmeticError):
            continue  # central's value is central's business; the till shows the rest
    return values


def _aggregates(record: Mapping[str, Any]) -> Aggregates:
    def when(name: str) -> datetime | None:
        raw = record.get(name)
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:
            return None
    return Aggregates(total_spend=Decimal(str(record.get("total_spend") or "0")),
                      visits=int(record.get("visits") or 0),
                      first_purchase=when("first_purchase"), last_purchase=when("last_purchase"))


def cards_of(conn: sqlite3.Connection, customer_id: str) -> list[dict[str, Any]]:
    return [{"number": r[0], "kind": r[1], "active": bool(r[2])} for r in conn.execute(
        "SELECT number, kind, active FROM customer_cards WHERE customer = ? ORDER BY number",
        (customer_id,))]


def alerts_for(conn: sqlite3.Connection, record: Mapping[str, Any], policy: RegistryPolicy,
               active_cards: Iterable[str], now: datetime, zone: tzinfo) -> list[str]:
    """The messages of the alerts matching this customer, in head office's order."""
    catalogue = customer_catalogue(policy)
    alerts = []
    for row in conn.execute("SELECT data FROM customer_alerts WHERE active = 1"):
        data = json.loads(row[0])
        try:
            alerts.append(make_alert(data["code"], int(data["position"]), data["condition"],
                                     data["message"], catalogue))
        except (ConditionError, ValueError, KeyError) as exc:
            log.warning("customer alert %s cannot be read here: %s", data.get("code"), exc)
    today = now.astimezone(zone).date()
    facts = customer_facts(typed(record, policy), active_cards, _aggregates(record), today,
                           zone)
    matched = []
    for alert in alerts:
        try:
            if matching_alerts([alert], facts, today):
                matched.append(alert)
        except ConditionError as exc:
            log.warning("customer alert %s not evaluated: %s", alert.code, exc)
    return [a.message for a in sorted(matched, key=lambda a: (a.position, a.code))]


def view(conn: sqlite3.Connection, record: Mapping[str, Any], store_code: str,
         now: datetime, *, with_alerts: bool = True) -> dict[str, Any]:
    """A customer as the till shows it: the record, cards, observation, alerts."""
    policy = registry_policy(conn)
    customer_id = str(record["id"])
    cards = cards_of(conn, customer_id)
    active = [c["number"] for c in cards if c["active"]]
    pending = conn.execute("SELECT 1 FROM customer_local_edits e JOIN outbox o ON "
                           "o.kind = 'customer' AND o.ref = e.edit_id WHERE e.customer = ? "
                           "LIMIT 1", (customer_id,)).fetchone() is not None
    result = {k: v for k, v in record.items() if k not in ("stamps", "search_key")}
    result.update(id=customer_id, cards=cards, extra=dict(record.get("extra") or {}),
                  observation=observation(typed(record, policy)),
                  erased=bool(record.get("erased")), pending_upstream=pending)
    if with_alerts:
        result["alerts"] = alerts_for(conn, record, policy, active, now,
                                      store_zone(conn, store_code))
    return result


def by_card(conn: sqlite3.Connection, number: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT customer FROM customer_cards WHERE number = ? AND active = 1",
                       (number,)).fetchone()
    return None if row is None else record_of(conn, survivor(conn, str(row[0])))


def records(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The records a query selecting customer_tables.RECORD finds."""
    return [record_from(r) for r in conn.execute(sql, params)]


def name_query(text: str) -> str | None:
    """The FTS5 query for ``text``: every folded word as a prefix (None: nothing to find)."""
    words = search_key(text).split()
    return " ".join(f'"{w}"*' for w in words) if words else None


def by_name(conn: sqlite3.Connection, text: str, limit: int) -> list[dict[str, Any]]:
    query = name_query(text)
    if query is None:
        return []
    return records(conn, f"SELECT {RECORD} FROM customer_names f JOIN customers c "  # noqa: S608
                 "ON c.n = f.rowid "
                 "WHERE customer_names MATCH ? AND c.erased = 0 LIMIT ?", (query, limit))


def _partner_number(conn: sqlite3.Connection, number: str) -> bool:
    """Whether a partner programme this store follows lists ``number`` (alone or in a
    range of numbers of its length), or a customer holds it as a partner's card."""
    return conn.execute(
        "SELECT 1 FROM partner_cards WHERE active = 1 AND (first = ? OR "
        "(length(first) = ? AND first <= ? AND last >= ?)) UNION ALL "
        "SELECT 1 FROM customer_cards WHERE number = ? AND kind = 'partner' LIMIT 1",
        (number, len(number), number, number, number)).fetchone() is not None


def read_card_number(scanned: str, conn: sqlite3.Connection | None = None
                     ) -> tuple[str, CardKind]:
    """A scanned card as stored: a chain card (13 digits, check digit), a VIP card, or a
    partner's number (CardError says what is wrong). With ``conn``, 13 digits that fail the
    check digit are still a partner's card when a programme of the store's copy lists them
    (partners issue 13-digit numbers that are no EAN)."""
    text = scanned.strip()
    if text.upper().startswith(VIP_MARK):
        return check_vip_code(text), CardKind.VIP
    compact = "".join(text.split())
    if compact.isdigit() and len(compact) == 13:
        try:
            return check_loyalty_card(compact), CardKind.LOYALTY
        except CardError:
            if conn is not None and _partner_number(conn, compact):
                return compact, CardKind.PARTNER
            raise
    if not PARTNER.fullmatch(text):
        raise CardError(f"{scanned!r} is not a card number")
    return text, CardKind.PARTNER


def customer_for_sale(conn: sqlite3.Connection, customer_id: str) -> str | None:
    """The id a sale should name for ``customer_id`` (its survivor), if held here."""
    found = survivor(conn, customer_id)
    row = conn.execute("SELECT 1 FROM customers WHERE id = ?", (found,)).fetchone()
    return found if row is not None else None
