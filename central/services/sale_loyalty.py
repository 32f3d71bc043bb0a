"""The points of ingested sales (SPEC L5): central recomputes, records and compares.

The ``sale`` handler calls :func:`record_sales` in the ingest transaction with the sales
it has just inserted (a duplicate never comes here, and the ledger's natural keys make a
second pass add nothing anyway). Only sales with a ``loyalty`` side cost anything: the
others are filtered out before the first statement.

For each such sale central rebuilds the accrual's sale from the body with
``protocol.loyalty.sale_for_accrual`` (the same reading the store made), with the catalogue
facts of the catalogue version the store had (the change log, as re-pricing reads it), and
computes the points with the profile at the version the store used. The entries go to the
ledger of the sale's customer, or of its survivor if it was merged, in one append per
customer of the batch (``points_ledger.append_many``: a few statements per batch).
Central's figure is authoritative: a difference from the store's
provisional ``points`` is a ``points_drifts`` row ("difference"), never an overwrite. A
sale whose loyalty cannot be recorded (unknown profile version, a bad gift line, no
customer) keeps its sale row and body and gets an "unrecorded" row with the reason: the
stream goes on, an operator sees it.

A gift's points are central's too: the gift's cost in the loyalty programme at the version
of the loyalty stream the store had when it sold (the change log, as for the catalogue).
A store that spent another figure gets a "difference" row and the ledger central's cost; a
line that was no gift at that version makes the sale "unrecorded". Where the log has been
compacted past the store's version, what was superseded is gone: a gift the log no longer
shows at that version keeps the store's figure (the row's reason says so).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import Change, Store, StreamHead
from central.models.loyalty import PointsDrift
from central.services import changelog, points_ledger
from central.services.customers import resolve_many
from central.services.errors import ServiceError
from central.services.loyalty_profiles import profile_at
from central.services.points_ledger import GiftSpend
from protocol.loyalty import LineFacts, facts_from_product, sale_for_accrual
from protocol.streams import ALL, CATALOG, LOYALTY, stream_name
from rules.cards import LoyaltyProfile
from rules.loyalty.accrual_policy import AccrualPolicy
from rules.loyalty.errors import GiftRefused, LoyaltyError
from rules.loyalty.ledger import Entry
from rules.loyalty.levels import Gift, Level, Programme
from rules.money import MoneyError

POINTS_LIMIT = Decimal("1e12")  # Numeric(14, 2): beyond it the row could not be stored


@dataclass
class _Pending:
    """One sale's computed points, waiting for its customer's append."""

    drift: dict[str, Any]
    entries: tuple[Entry, ...]
    central: Decimal
    gift_notes: list[str] = field(default_factory=list)


@dataclass
class _Catalogue:
    """The catalogue facts of the batch's sales, read once per catalogue version."""

    session: Session
    head: int
    products: dict[int, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    parents: dict[int, dict[str, str | None]] = field(default_factory=dict)

    def version_of(self, sale: Mapping[str, Any]) -> int:
        streams = sale.get("streams") or {}
        return int(streams.get(CATALOG, self.head))

    def load(self, version: int, skus: Iterable[str]) -> None:
        state = self.products.setdefault(version, {})
        wanted = sorted(set(skus) - set(state))
        if wanted:
            state.update(dict.fromkeys(wanted))
            for change in self.session.scalars(
                    select(Change).where(Change.stream == CATALOG, Change.entity == "product",
                                         Change.key.in_(wanted), Change.version <= version)
                    .order_by(Change.version)):
                state[change.key] = None if change.op == "delete" or change.data is None \
                    else json.loads(change.data)
        if version not in self.parents:
            parents: dict[str, str | None] = {}
            for change in self.session.scalars(
                    select(Change).where(Change.stream == CATALOG, Change.entity == "category",
                                         Change.version <= version).order_by(Change.version)):
                if change.op == "delete" or change.data is None:
                    parents.pop(change.key, None)
                else:
                    parents[change.key] = json.loads(change.data).get("parent")
            self.parents[version] = parents

    def facts(self, version: int, sku: str) -> LineFacts:
        return facts_from_product(self.products[version].get(sku), self.parents[version])


LOYALTY_STREAM = stream_name(LOYALTY, ALL)


@dataclass
class _Programmes:
    """The loyalty programme (levels, gifts) at each loyalty version the batch's sales had."""

    session: Session
    head: int
    compacted_to: int
    at: dict[int, Programme] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> _Programmes:
        row = session.execute(select(StreamHead.version, StreamHead.compacted_to)
                              .where(StreamHead.stream == LOYALTY_STREAM)).one_or_none()
        return cls(session, 0, 0) if row is None else cls(session, row[0], row[1] or 0)

    def version_of(self, sale: Mapping[str, Any]) -> int:
        streams = sale.get("streams") or {}
        return int(streams.get(LOYALTY_STREAM, self.head))

    def programme(self, version: int) -> Programme:
        if version not in self.at:
            state: dict[tuple[str, str], dict[str, Any]] = {}
            for change in self.session.scalars(
                    select(Change).where(Change.stream == LOYALTY_STREAM,
                                         Change.entity.in_(("loyalty_level", "loyalty_gift")),
                                         Change.version <= version).order_by(Change.version)):
                if change.op == "delete" or change.data is None:
                    state.pop((change.entity, change.key), None)
                else:
                    state[(change.entity, change.key)] = json.loads(change.data)
            levels = tuple(Level(d["code"], Decimal(d["points"]), d.get("name") or "")
                           for (entity, _), d in sorted(state.items())
                           if entity == "loyalty_level")
            codes = {level.code for level in levels}
            # A gift whose level the log no longer shows (compacted) cannot be priced here.
            gifts = tuple(Gift(d["sku"], d["level"],
                               None if d.get("points") is None else Decimal(d["points"]))
                          for (entity, _), d in sorted(state.items())
                          if entity == "loyalty_gift" and d["level"] in codes)
            self.at[version] = Programme(levels, gifts)
        return self.at[version]

    def gift_spends(self, sale: Mapping[str, Any], claimed: Sequence[Mapping[str, Any]]
                    ) -> tuple[list[GiftSpend], list[str]]:
        """Each gift line at central's cost, and what the store spent otherwise."""
        version = self.version_of(sale)
        programme = self.programme(version)
        spends, notes = [], []
        for gift in claimed:
            number, store_points = int(gift["line"]), Decimal(gift["points"])
            if not 0 <= number < len(sale["lines"]):
                spends.append(GiftSpend(number, store_points))  # sale_points names the line
                continue
            sku = str(sale["lines"][number]["sku"])
            try:
                cost = programme.cost(programme.gift(sku))
            except GiftRefused as exc:
                if version < self.compacted_to:
                    spends.append(GiftSpend(number, store_points))
                    notes.append(f"gift {sku} on line {number}: loyalty version {version} is "
                                 f"compacted, the store's {store_points} points kept")
                    continue
                raise LoyaltyError(f"line {number}: {sku} is no gift at loyalty version "
                                   f"{version} ({exc.reason})") from exc
            spends.append(GiftSpend(number, cost))
            if cost != store_points:
                notes.append(f"gift {sku} on line {number} costs {cost} points at loyalty "
                             f"version {version}, the store spent {store_points}")
        return spends, notes


def _reason(exc: Exception) -> str:
    if isinstance(exc, ServiceError) and exc.errors:
        fields = "; ".join(f"{name}: {', '.join(messages)}"
                           for name, messages in sorted(exc.errors.items()))
        return f"{exc.message} ({fields})"
    return str(exc)


def record_sales(session: Session, store: Store, sales: Sequence[Mapping[str, Any]]) -> int:
    """Record the points of newly ingested ``sales``; returns how many got ledger entries."""
    unique: dict[str, Mapping[str, Any]] = {}
    for sale in sales:
        if sale.get("loyalty"):
            unique.setdefault(str(sale["uuid"]), sale)  # the same sale twice in a batch
    if not unique:
        return 0
    loyal = list(unique.values())
    now = dt.datetime.now(dt.UTC)
    survivors = resolve_many(session, {str(s["customer"]) for s in loyal if s.get("customer")})
    catalogue = _Catalogue(session, changelog.heads(session).get(CATALOG, 0))
    programmes = _Programmes.of(session)
    for sale in loyal:
        catalogue.load(catalogue.version_of(sale), (str(line["sku"]) for line in sale["lines"]))
    profiles: dict[tuple[str, int], LoyaltyProfile] = {}
    problems: list[dict[str, Any]] = []
    by_customer: dict[str, list[_Pending]] = {}
    for sale in loyal:
        loyalty = sale["loyalty"]
        uuid = str(sale["uuid"])
        code, version = loyalty["profile"], loyalty["profile_version"]
        row = {"sale_uuid": uuid, "store": store.code, "customer_id": None,
               "profile_code": code, "profile_version": version,
               "store_points": loyalty.get("points"), "central_points": None,
               "sold_at": sale["created_at"], "detected_at": now}
        if row["store_points"] is not None and abs(row["store_points"]) >= POINTS_LIMIT:
            row["store_points"] = None  # kept in the sale's body; the column cannot hold it
        if sale.get("customer") is None:
            problems.append({**row, "kind": "unrecorded",
                             "reason": "the sale has a loyalty side but names no customer"})
            continue
        customer = survivors[str(sale["customer"])]
        row["customer_id"] = customer
        try:
            if (code, version) not in profiles:
                profiles[(code, version)] = profile_at(session, code, version)
            policy = profiles[(code, version)].accrual
            assert isinstance(policy, AccrualPolicy)
            gifts, gift_notes = programmes.gift_spends(sale, loyalty.get("gifts") or ())
            at_version = catalogue.version_of(sale)
            accrual_sale = sale_for_accrual(uuid, sale["lines"],
                                            functools.partial(catalogue.facts, at_version),
                                            [g.line for g in gifts])
            accrual, entries = points_ledger.sale_points(
                customer, uuid, store.code, accrual_sale.lines, sale["created_at"], policy,
                version, gifts)
            if any(abs(e.points) >= POINTS_LIMIT for e in entries) \
                    or abs(accrual.total) >= POINTS_LIMIT:
                raise LoyaltyError(f"points beyond {POINTS_LIMIT} cannot be recorded")
        except (ServiceError, LoyaltyError, MoneyError) as exc:
            problems.append({**row, "kind": "unrecorded", "reason": _reason(exc)})
            continue
        by_customer.setdefault(customer, []).append(
            _Pending(row, entries, accrual.total, gift_notes))
    recorded = 0
    results = points_ledger.append_many(
        session, {c: [e for p in pending for e in p.entries] for c, pending in by_customer.items()},
        now)
    for customer in sorted(by_customer):
        pending = by_customer[customer]
        if isinstance(results.get(customer), ServiceError):
            done = []  # one sale spoils the customer's batch: find it, record the others
            for item in pending:
                try:
                    points_ledger.append(session, customer, item.entries, now)
                    done.append(item)
                except ServiceError as exc:
                    problems.append({**item.drift, "kind": "unrecorded",
                                     "reason": _reason(exc)})
        else:
            done = pending
        recorded += len(done)
        for item in done:
            store_points = item.drift["store_points"]
            reasons = list(item.gift_notes)
            if store_points is not None and store_points != item.central:
                reasons.insert(0, f"central computed {item.central} points, the store "
                                  f"{store_points}")
            if reasons:
                problems.append({**item.drift, "kind": "difference",
                                 "central_points": item.central, "reason": "; ".join(reasons)})
    if problems:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(PointsDrift).on_conflict_do_nothing(
            index_elements=["sale_uuid"]), problems)
    return recorded
