"""Central prices every received sale again, with the same engine and the same versions.

The change log is the history: the state of any entity at stream version V is its latest
change at or below V. A sale records the versions of the streams its store had applied, so
central rebuilds exactly the catalogue, prices, policies and cards the till used, prices the
basket with ``rules.pricing`` and records any difference as drift, never overwriting the
store's figures. The customer's loyalty profile (its discount level is priced like a card)
is the one the sale's ``loyalty`` side names, at the version it names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Change, Sale, SaleDrift
from central.services import loyalty_profiles
from central.services.catalog import page
from central.services.errors import NotFound
from protocol.streams import (
    CATALOG,
    LOYALTY,
    PARTNERS,
    POLICIES,
    PRICES,
    STORE_CONFIG,
    Scope,
    stream_name,
    streams_of,
)
from rules.cards import LoyaltyProfile
from rules.context import UnknownCard, pricing_inputs
from rules.pricing import BasketLine, PricingError, price_basket

log = logging.getLogger(__name__)


def _latest(rows: Iterable[Change]) -> dict[str, dict[str, Any] | None]:
    state: dict[str, dict[str, Any] | None] = {}
    for change in rows:  # in version order: the last one wins
        state[change.key] = None if change.op == "delete" or change.data is None \
            else json.loads(change.data)
    return state


class LogCache:
    """Entity states read from the change log, kept for one pass over a batch of sales.

    The state of an entity at stream version V never changes once V is committed (changes
    are appended above the head), so sales that name the same versions share every read:
    the catalogue, prices and policies are loaded once per batch, not once per sale.
    Compaction only removes superseded changes below versions no store is sent any more;
    one pass is one transaction, so it sees the log as the uncached reads would.
    """

    def __init__(self) -> None:
        self.reads: dict[tuple[Any, ...], Any] = {}


class LogView:
    """The synchronised data as a store saw it at given stream versions."""

    def __init__(self, session: Session, versions: dict[str, int],
                 cache: LogCache | None = None) -> None:
        self.session = session
        self.versions = versions
        self.cache = cache if cache is not None else LogCache()

    def entities(self, stream: str, entity: str,
                 key_prefix: str | None = None) -> dict[str, dict[str, Any] | None]:
        version = self.versions.get(stream, 0)
        cache_key = ("entities", stream, version, entity, key_prefix)
        if cache_key in self.cache.reads:
            cached: dict[str, dict[str, Any] | None] = self.cache.reads[cache_key]
            return cached
        query = (select(Change).where(Change.stream == stream, Change.entity == entity,
                                      Change.version <= version)
                 .order_by(Change.version))
        if key_prefix is not None:
            query = query.where(Change.key.startswith(key_prefix, autoescape=True))
        state = _latest(self.session.scalars(query))
        self.cache.reads[cache_key] = state
        return state

    def entity(self, stream: str, entity: str, key: str) -> dict[str, Any] | None:
        version = self.versions.get(stream, 0)
        cache_key = ("entity", stream, version, entity, key)
        if cache_key in self.cache.reads:
            cached: dict[str, Any] | None = self.cache.reads[cache_key]
            return cached
        change = self.session.scalar(
            select(Change).where(Change.stream == stream, Change.entity == entity,
                                 Change.key == key, Change.version <= version)
            .order_by(Change.version.desc()).limit(1))
        data: dict[str, Any] | None = None
        if change is not None and change.op != "delete" and change.data is not None:
            data = json.loads(change.data)
        self.cache.reads[cache_key] = data
        return data


class LogSource:
    """``rules.context.PricingSource`` over the change log at a sale's versions."""

    def __init__(self, view: LogView, store: str, group: str | None) -> None:
        self.view = view
        self.streams = streams_of(PRICES, store, group)

    def product(self, code: str) -> Mapping[str, Any] | None:
        return self.view.entity(CATALOG, "product", code)

    def category_parents(self) -> Mapping[str, str | None]:
        return {k: (v or {}).get("parent") for k, v in
                self.view.entities(CATALOG, "category").items()}

    def prices(self, sku: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return [(stream, row) for stream in self.streams
                for row in self.view.entities(stream, "price", f"{sku}|").values() if row]

    def policies(self) -> Iterable[Mapping[str, Any]]:
        return [p for p in self.view.entities(POLICIES, "policy").values() if p]

    def vip_card(self, number: str) -> Mapping[str, Any] | None:
        return self.view.entity(PARTNERS, "vip_card", number)

    def partner_cards(self, number: str) -> Iterable[tuple[str, str, str]]:
        return [(key.split("|")[0], card["first"], card["last"])
                for key, card in self.view.entities(PARTNERS, "partner_card").items()
                if card and card.get("active", True)]

    def partner_programme(self, code: str) -> Mapping[str, Any] | None:
        return self.view.entity(PARTNERS, "partner_programme", code)

    def loyalty_profiles(self) -> Iterable[Mapping[str, Any]]:
        return [p for p in self.view.entities(LOYALTY, "loyalty_profile").values() if p]


def sale_profile(session: Session, body: Mapping[str, Any]) -> LoyaltyProfile | None:
    """The loyalty profile the store priced the sale's customer with: the one its
    ``loyalty`` side names, at that version (a profile changed since gives its old discount
    level); None when the sale carries no loyalty side."""
    side = body.get("loyalty") or {}
    if not side.get("profile"):
        return None
    try:
        return loyalty_profiles.profile_at(session, str(side["profile"]),
                                           int(side["profile_version"]))
    except NotFound as exc:
        raise PricingError(str(exc)) from exc


def reprice(session: Session, sale: Sale, cache: LogCache | None = None) -> SaleDrift | None:
    """Price ``sale`` again; record and return drift if central gets another result.

    ``cache`` shares change-log reads between the sales of one pass.
    """
    body = json.loads(sale.body)
    sale.repriced = True
    versions = body.get("streams")
    if not versions:
        return None  # an agent that does not report its versions cannot be checked
    view = LogView(session, {k: int(v) for k, v in versions.items()}, cache)
    store = sale.store.code
    config = view.entity(stream_name(STORE_CONFIG, Scope("store", store)), "store", store) or {}
    group = config.get("group")
    now = dt.datetime.fromisoformat(body["created_at"])
    problems: list[dict[str, Any]] = []
    central_total: Decimal | None = None
    try:
        skus = [line["sku"] for line in body["lines"]]
        inputs = pricing_inputs(LogSource(view, store, group), skus,
                                list(body.get("cards") or []), store, group, now,
                                sale_profile(session, body))
        for sku in skus:
            if sku not in inputs.catalogue:
                raise PricingError(f"product {sku!r} unknown at catalog version "
                                   f"{view.versions.get('catalog', 0)}")
        # Loyalty gift lines are not the engine's: each is worth 0 (docs/protocol.md).
        gifts = {int(g["line"]) for g in (body.get("loyalty") or {}).get("gifts") or ()}
        paid = [(i, line) for i, line in enumerate(body["lines"]) if i not in gifts]
        for index in sorted(gifts):
            line = body["lines"][index]
            if Decimal(line["amount"]) != 0:
                problems.append({"line": index + 1, "sku": line["sku"],
                                 "store_amount": line["amount"], "central_amount": "0.00"})
        priced = price_basket([BasketLine(code=line["sku"], qty=Decimal(line["qty"]))
                               for _i, line in paid], inputs.catalogue, inputs.policies,
                              inputs.cards, now=now) if paid else None
        central_total = Decimal("0.00") if priced is None else priced.total
        for (index, theirs), ours in zip(paid, priced.lines if priced else (), strict=True):
            if Decimal(theirs["amount"]) != ours.amount:
                problems.append({"line": index + 1, "sku": ours.sku,
                                 "store_amount": theirs["amount"],
                                 "central_amount": str(ours.amount),
                                 "central_adjustments": [
                                     {"kind": a.kind, "code": a.code, "amount": str(a.amount)}
                                     for a in ours.adjustments]})
        if central_total != Decimal(body["total"]):
            problems.append({"total": {"store": body["total"], "central": str(central_total)}})
    except (PricingError, UnknownCard, KeyError, ValueError) as exc:
        problems.append({"error": f"central could not price the sale: {exc}"})
    if not problems:
        return None
    drift = SaleDrift(sale=sale, store_total=sale.total, central_total=central_total,
                      details=json.dumps(problems))
    session.add(drift)
    log.warning("drift on sale %s of %s: %s", sale.uuid, store, problems)
    return drift


def reprice_pending(session: Session, limit: int = 200) -> int:
    """Reprice sales not yet checked; safe with several workers on PostgreSQL."""
    query = select(Sale).where(Sale.repriced.is_(False)).order_by(Sale.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Sale)
    sales = session.scalars(query).unique().all()
    cache = LogCache()
    for sale in sales:
        try:
            with session.begin_nested():
                reprice(session, sale, cache)
        except Exception as exc:  # noqa: BLE001 - one odd sale must not stop the others
            # The savepoint rolled back: record that central could not check this sale (as
            # drift, so that someone looks) and go on with the next.
            log.exception("re-pricing sale %s failed", sale.uuid)
            with session.begin_nested():
                sale.repriced = True
                session.add(SaleDrift(sale=sale, store_total=sale.total, central_total=None,
                                      details=json.dumps([{"error": "central could not check "
                                                           f"the sale: {exc!r}"}])))
    return len(sales)


def list_drift(session: Session, page_no: int, size: int,
               store: str | None = None) -> tuple[list[SaleDrift], int]:
    query = select(SaleDrift).order_by(SaleDrift.id.desc())
    if store:
        from central.models import Store
        query = query.join(Sale).join(Store).where(Store.code == store)
    return page(session, query, page_no, size)
