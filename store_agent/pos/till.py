"""Sales at the till: priced from the local copy, committed with their outbox entry.

A sale is identified by the UUID the till minted. Replaying the same UUID with the same
request returns the original result; the same UUID with another request is a conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocol.encoding import dumps
from rules.cards import LoyaltyProfile
from rules.money import round_money
from rules.pricing import BasketLine, PricedBasket, Product, check_sellable, price_basket
from rules.receipt_text import loyalty_lines
from store_agent.fiscal.fiscaliser import Fiscaliser
from store_agent.pos import loyalty
from store_agent.pos.cashiers import check_sale_cashier
from store_agent.pos.catalogue import (
    load_products,
    pricing_inputs,
    store_group,
    stream_versions,
)
from store_agent.pos.customer_copy import customer_for_sale
from store_agent.pos.receipts import check_address, effective_profile, queue_email
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync.customer_tables import record_of


class SaleConflict(Exception):
    """The UUID is already used by a different sale."""


class UnknownSaleCustomer(ValueError):
    """The sale names a customer the store's copy does not hold."""


class PaymentShort(ValueError):
    """The payments do not cover the total."""


@dataclass(frozen=True)
class SaleOutcome:
    sale: dict[str, Any]
    created: bool


def request_fingerprint(request: dict[str, Any]) -> str:
    """Hash of the canonical request, so equal requests match however they were spelled."""
    canonical = {
        # "gift" only when set: older sales keep their fingerprint
        "lines": [{"code": line["code"], "qty": str(Decimal(line["qty"]).normalize()),
                   **({"gift": True} if line.get("gift") else {})}
                  for line in request["lines"]],
        "payments": [{"method": p["method"], "amount": str(Decimal(p["amount"]).normalize())}
                     for p in request.get("payments") or []],
        "till": request.get("till"),
        "cashier": request.get("cashier"),
        "cards": sorted(request.get("cards") or []),
    }
    if request.get("customer"):  # only when given: older sales keep their fingerprint
        canonical["customer"] = str(request["customer"])
    if request.get("email"):  # only when given: older sales keep their fingerprint
        canonical["email"] = str(request["email"]).strip().lower()
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def basket_lines(request: dict[str, Any]) -> list[BasketLine]:
    return [BasketLine(code=line["code"], qty=Decimal(line["qty"])) for line in request["lines"]]


def priced_lines(priced: PricedBasket) -> list[dict[str, Any]]:
    return [{"sku": p.sku, "barcode": None if p.code == p.sku else p.code, "name": p.name,
             "qty": str(p.qty), "unit_price": str(p.unit_price), "gross": str(p.gross),
             "amount": str(p.amount), "vat_rate": str(p.vat_rate),
             "excluded_by": p.excluded_by,
             "adjustments": [{"kind": a.kind, "code": a.code, "version": a.version,
                              "amount": str(a.amount), "reason": a.reason}
                             for a in p.adjustments]} for p in priced.lines]


def vat_parts(priced: PricedBasket) -> list[dict[str, str]]:
    return [{"rate": str(v.rate), "gross": str(v.gross), "net": str(v.net), "vat": str(v.vat)}
            for v in priced.vat]


@dataclass(frozen=True)
class Rung:
    """A basket as the till rang it up: its view (lines in the request's order, totals,
    VAT, versions), the engine's products, the indexes of its gift lines and the customer's
    loyalty profile it was priced with (read once for the prices and the points)."""

    view: dict[str, Any]
    catalogue: dict[str, Product]
    gifts: list[int]
    profile: LoyaltyProfile | None = None


def gift_line(product: Product, code: str, qty: Decimal) -> dict[str, Any]:
    """A loyalty gift line: the product at 0 (standard release), its price shown and taken
    off by a ``gift`` adjustment, so the receipt says what the gift is worth (its version
    and points are the sale's loyalty side's: :func:`_label_gifts`)."""
    gross = round_money(product.price * qty)
    return {"sku": product.sku, "barcode": None if code == product.sku else code,
            "name": product.name, "qty": str(qty), "unit_price": str(product.price),
            "gross": str(gross), "amount": "0.00", "vat_rate": str(product.vat_rate),
            "excluded_by": None, "gift": True,
            "adjustments": [{"kind": "gift", "code": product.sku,
                             "version": 0, "amount": str(gross),
                             "reason": "loyalty gift"}]}


def _price(conn: sqlite3.Connection, store_code: str, request: dict[str, Any],
           now: dt.datetime, customer: str | None = None) -> tuple[Rung, dict[str, int]]:
    """Price the request; with ``customer``, their loyalty profile's discount level (the
    profile ``loyalty.sale_loyalty`` records on the sale) is priced like a card."""
    lines = basket_lines(request)
    gifts = loyalty.check_gift_lines(request["lines"])
    profile = None if customer is None else loyalty.customer_profile(
        conn, record_of(conn, customer) or {})
    inputs = pricing_inputs(conn, [line.code for line in lines], request.get("cards") or [],
                            store_code, now, profile)
    check_sellable(lines, inputs.catalogue)
    paid = [line for i, line in enumerate(lines) if i not in gifts]
    if paid:
        view = basket_view(price_basket(paid, inputs.catalogue, inputs.policies, inputs.cards,
                                        now=now))
    else:  # nothing but a gift
        view = {"lines": [], "total": "0.00", "discount": "0.00", "vat": [], "versions": {}}
    priced = iter(view["lines"])
    view["lines"] = [gift_line(inputs.catalogue[line.code], line.code, line.qty)
                     if i in gifts else next(priced) for i, line in enumerate(lines)]
    return Rung(view, inputs.catalogue, gifts, profile), stream_versions(conn)


def basket(store: LocalStore, store_code: str, request: dict[str, Any],
           now: dt.datetime, *, with_loyalty: bool = True) -> dict[str, Any]:
    """Price a basket from the local copy (no write); with a customer, at their profile's
    discount level and with its ``loyalty`` (the points it would earn, the gift checked as
    the sale would check it). ``with_loyalty`` False: the prices only (the customer
    display: the customer's discount level included)."""
    with store.read() as conn:
        customer = _customer(conn, request)
        rung, _streams = _price(conn, store_code, request, now, customer)
        if not with_loyalty:
            return rung.view
        points = loyalty.sale_loyalty(conn, customer, rung.profile, "basket",
                                      rung.view["lines"], rung.catalogue, rung.gifts)
        _label_gifts(rung.view["lines"], points)
        return {**rung.view, "loyalty": points}


def price_now(store: LocalStore, store_code: str, code: str, now: dt.datetime) -> Decimal:
    """The unit price of ``code`` in force in this store at ``now`` (before discounts)."""
    with store.read() as conn:
        group = store_group(conn, store_code)
        return load_products(conn, [code], store_code, group, now)[code].price


def basket_view(priced: PricedBasket) -> dict[str, Any]:
    return {"lines": priced_lines(priced), "total": str(priced.total),
            "discount": str(priced.discount), "vat": vat_parts(priced),
            "versions": dict(priced.versions)}


def _label_gifts(lines: list[dict[str, Any]], points: dict[str, Any] | None) -> None:
    for gift in (points or {}).get("gifts") or ():
        adjustment = lines[gift["line"]]["adjustments"][0]
        adjustment.update(version=points["profile_version"] if points else 0,
                          reason=f"loyalty gift ({gift['points']} points)")


def _customer(conn: sqlite3.Connection, request: dict[str, Any]) -> str | None:
    if not request.get("customer"):
        return None
    customer = customer_for_sale(conn, str(request["customer"]))
    if customer is None:
        raise UnknownSaleCustomer(f"no customer {request['customer']} at this store")
    return customer


def has_sale(store: LocalStore, sale_uuid: str) -> bool:
    with store.read() as conn:
        return conn.execute("SELECT 1 FROM sales WHERE uuid = ?", (sale_uuid,)).fetchone() \
            is not None


def record_sale(store: LocalStore, store_code: str, request: dict[str, Any],
                now: dt.datetime, fiscal: Fiscaliser | None = None) -> SaleOutcome:
    """Price and commit a sale with its outbox entry (and its fiscal job, with a fiscal
    device), or return the original on replay."""
    sale_uuid = str(request["uuid"])
    fingerprint = request_fingerprint(request)
    with store.write() as conn:
        existing = conn.execute("SELECT request_hash, result FROM sales WHERE uuid = ?",
                                (sale_uuid,)).fetchone()
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise SaleConflict(f"sale {sale_uuid} already exists with other content")
            return SaleOutcome(sale=json.loads(existing["result"]), created=False)
        check_sale_cashier(conn, request.get("cashier"))
        customer = _customer(conn, request)
        rung, streams = _price(conn, store_code, request, now, customer)
        points = loyalty.sale_loyalty(conn, customer, rung.profile, sale_uuid,
                                      rung.view["lines"], rung.catalogue, rung.gifts)
        _label_gifts(rung.view["lines"], points)
        total = Decimal(rung.view["total"])
        payments = request.get("payments") or []
        paid = sum((Decimal(p["amount"]) for p in payments), Decimal(0))
        if payments and paid < total:
            raise PaymentShort(f"payments {paid} do not cover the total {total}")
        number = int(store.get_meta(conn, "receipt_number") or "0") + 1
        store.set_meta(conn, "receipt_number", str(number))
        sale = {
            "uuid": sale_uuid,
            "store": store_code,
            "number": number,
            "created_at": now.astimezone(dt.UTC).isoformat(),
            "till": request.get("till"),
            "cashier": request.get("cashier"),
            **rung.view,
            "cards": list(request.get("cards") or []),
            **({"customer": customer} if customer else {}),
            **({"loyalty": points} if points else {}),
            "streams": streams,
            "payments": [{"method": p["method"], "amount": str(p["amount"])} for p in payments],
            "change": str(paid - total) if payments else "0.00",
        }
        address = check_address(request.get("email"))
        profile = effective_profile(conn, store_code) if fiscal or address else None
        # The fiscal receipt, with head office's footer inside it (refuses unmapped VAT).
        receipt = None if fiscal is None or profile is None else fiscal.prepare(
            sale, [*loyalty_lines(sale), *profile["footer"]])
        body = dumps(sale).decode()
        conn.execute("INSERT INTO sales (uuid, number, request_hash, result, created_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (sale_uuid, number, fingerprint, body, sale["created_at"]))
        outbox.append(conn, "sale", sale_uuid, body, now)
        if receipt is not None:
            Fiscaliser.enqueue(conn, sale_uuid, receipt, now)
        if address is not None and profile is not None:
            queue_email(conn, sale, address, now, profile)
    return SaleOutcome(sale=sale, created=True)
