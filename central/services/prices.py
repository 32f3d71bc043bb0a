"""Prices: per-store and per-group overrides, scheduled changes, bulk updates, imports.

A price entry is never edited: a new price is a new entry from a moment, so the price in
force at any past moment can be told (central re-prices old sales with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import PriceEntry, Product, Store, StoreGroup
from central.services import catalog, changelog
from central.services.errors import Conflict, Invalid, NotFound
from central.tabular import Row
from protocol.streams import ALL, PRICES, Scope
from rules.money import MAX_AMOUNT, round_money

BUCKET = PRICES
PRICE_FIELDS = ("sale_price", "purchase_cost")


def price_key(sku: str, effective_from: dt.datetime) -> str:
    return f"{sku}|{effective_from.astimezone(dt.UTC).isoformat()}"


def entry_wire(entry: PriceEntry) -> dict[str, Any]:
    return {"sku": entry.product.sku, "price": entry.price,
            "effective_from": entry.effective_from.astimezone(dt.UTC).isoformat()}


def _scope(session: Session, scope: str, ref: str | None) -> Scope:
    if scope == "all":
        if ref:
            raise Invalid("a price for all stores names no store or group",
                          {"ref": ["leave empty when scope is 'all'"]})
        return ALL
    if not ref:
        raise Invalid("a store or group price needs its code", {"ref": ["required"]})
    model = Store if scope == "store" else StoreGroup
    if session.scalar(select(model.id).where(model.code == ref)) is None:
        raise Invalid(f"unknown {scope}", {"ref": [f"no {scope} {ref!r}"]})
    return Scope("store" if scope == "store" else "group", ref)


def set_price(session: Session, sku: str, price: Decimal, scope: str = "all",
              ref: str | None = None, effective_from: dt.datetime | None = None,
              now: dt.datetime | None = None) -> PriceEntry:
    """Record a price for ``sku`` at ``scope`` from ``effective_from`` (default: now)."""
    product = catalog.get_product(session, sku)
    moment = (effective_from or now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    target = _scope(session, scope, ref)
    clash = session.scalar(select(PriceEntry.id).where(
        PriceEntry.product_id == product.id, PriceEntry.scope == scope,
        PriceEntry.scope_ref == (ref or ""), PriceEntry.effective_from == moment))
    if clash is not None:
        raise Conflict("a price for this product, scope and moment already exists",
                       {"effective_from": ["already used; remove that entry first"]})
    entry = PriceEntry(product=product, scope=scope, scope_ref=ref or "", price=price,
                       effective_from=moment)
    session.add(entry)
    session.flush()
    changelog.record(session, BUCKET, target, "price", price_key(sku, moment), "upsert",
                     entry_wire(entry))
    return entry


def delete_price(session: Session, entry_id: int) -> PriceEntry:
    entry = session.get(PriceEntry, entry_id)
    if entry is None:
        raise NotFound(f"no price entry {entry_id}")
    target = _scope(session, entry.scope, entry.scope_ref or None)
    changelog.record(session, BUCKET, target, "price",
                     price_key(entry.product.sku, entry.effective_from), "delete", None)
    session.delete(entry)
    session.flush()
    return entry


def list_prices(session: Session, page_no: int, size: int, sku: str | None = None,
                scope: str | None = None, ref: str | None = None) -> tuple[list[Any], int]:
    query = select(PriceEntry).order_by(PriceEntry.product_id, PriceEntry.scope,
                                        PriceEntry.scope_ref, PriceEntry.effective_from)
    if sku:
        query = query.where(PriceEntry.product_id == catalog.get_product(session, sku).id)
    if scope:
        query = query.where(PriceEntry.scope == scope)
    if ref:
        query = query.where(PriceEntry.scope_ref == ref)
    return catalog.page(session, query, page_no, size)


# -- bulk updates -------------------------------------------------------------------------------

@dataclass
class BulkReport:
    """What a bulk update or import did (or would do, in a preview)."""

    applied: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0


def _adjusted(old: Decimal, mode: str, value: Decimal) -> Decimal:
    if mode == "percent":
        return round_money(old * (Decimal(100) + value) / Decimal(100))
    if mode == "amount":
        return round_money(old + value)
    return round_money(value)


def bulk_adjust(session: Session, field_name: str, mode: str, value: Decimal, *,
                category: str | None = None, brand: str | None = None,
                family: str | None = None, skus: Sequence[str] = (), apply: bool = False,
                progress: Callable[[int], None] | None = None) -> BulkReport:
    """Change ``field_name`` of the selected products by a percentage or an amount.

    A preview (``apply=False``) computes everything and writes nothing. Products whose new
    price would be negative are rejected, the others still apply.
    """
    if field_name not in PRICE_FIELDS:
        raise Invalid("unknown price field", {"field": [f"one of {', '.join(PRICE_FIELDS)}"]})
    if mode not in ("percent", "amount"):
        raise Invalid("unknown mode", {"mode": ["percent or amount"]})
    if mode == "percent" and value <= -100:
        raise Invalid("a price cannot drop by 100% or more", {"value": ["above -100"]})
    query = select(Product).where(Product.active.is_(True)).order_by(Product.sku)
    if category:
        ids = _category_and_descendants(session, category)
        query = query.where(Product.category_id.in_(ids))
    if brand:
        query = query.where(Product.brand_id == catalog.get_brand(session, brand).id)
    if family:
        query = query.where(Product.family_id == catalog.get_family(session, family).id)
    if skus:
        query = query.where(Product.sku.in_(list(skus)))
        missing = set(skus) - set(session.scalars(select(Product.sku)
                                                  .where(Product.sku.in_(list(skus)))))
    else:
        missing = set()
    report = BulkReport(applied=apply,
                        rejected=[{"sku": sku, "reason": "unknown product"}
                                  for sku in sorted(missing)])
    for done, product in enumerate(session.scalars(query).unique().all(), start=1):
        old = getattr(product, field_name)
        if old is None:
            report.rejected.append({"sku": product.sku, "reason": f"no {field_name} to adjust"})
            continue
        new = _adjusted(old, mode, value)
        _stage(session, report, product, field_name, old, new, apply)
        if progress:
            progress(done)
    return report


def _category_and_descendants(session: Session, code: str) -> list[int]:
    from central.models import Category

    root = catalog.get_category(session, code)
    ids, frontier = [root.id], [root.id]
    while frontier:
        frontier = list(session.scalars(select(Category.id)
                                        .where(Category.parent_id.in_(frontier))))
        ids.extend(frontier)
    return ids


def _stage(session: Session, report: BulkReport, product: Product, field_name: str,
           old: Decimal, new: Decimal, apply: bool) -> None:
    if new < 0 or new > MAX_AMOUNT:
        report.rejected.append({"sku": product.sku, "reason": f"{field_name} would be {new}"
                                + (f", above the limit {MAX_AMOUNT}" if new > 0 else "")})
        return
    if new == old:
        report.unchanged += 1
        return
    report.changes.append({"sku": product.sku, "field": field_name, "old": old, "new": new})
    if apply:
        catalog.update_product(session, product.sku, {field_name: new})


def _money(text: str) -> Decimal | None:
    if text == "":
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not a valid amount")
    if value > MAX_AMOUNT:
        raise ValueError(f"{text!r} is above the limit {MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"{text!r} has more than two decimals")
    return value


def import_prices(session: Session, rows: Sequence[Row], *, apply: bool = False,
                  progress: Callable[[int], None] | None = None) -> BulkReport:
    """New sale prices and/or purchase costs by SKU from a table (columns ``sku``,
    ``sale_price``, ``purchase_cost``). Bad rows are reported; good rows still apply."""
    report = BulkReport(applied=apply)
    for done, row in enumerate(rows, start=1):
        sku = row.values.get("sku", "")
        try:
            if not sku:
                raise ValueError("no sku")
            product = session.scalar(select(Product).where(Product.sku == sku))
            if product is None:
                raise ValueError(f"unknown product {sku!r}")
            values = {f: _money(row.values.get(f, "")) for f in PRICE_FIELDS}
            if all(v is None for v in values.values()):
                raise ValueError("neither sale_price nor purchase_cost given")
        except ValueError as exc:
            report.rejected.append({"line": row.line, "sku": sku, "reason": str(exc)})
            continue
        for field_name, new in values.items():
            if new is not None:
                old = getattr(product, field_name)
                if old is None:
                    report.changes.append({"sku": sku, "field": field_name, "old": None,
                                           "new": new})
                    if apply:
                        catalog.update_product(session, sku, {field_name: new})
                else:
                    _stage(session, report, product, field_name, old, new, apply)
        if progress:
            progress(done)
    return report


def import_products(session: Session, rows: Sequence[Row], *, apply: bool = False,
                    progress: Callable[[int], None] | None = None) -> BulkReport:
    """Create or update products from a table: ``sku, name, category, brand, family,
    vat_rate, sale_price, purchase_cost, barcodes`` (barcodes separated by spaces or '|').
    Each row is applied in its own savepoint: a bad row is reported and changes nothing."""
    report = BulkReport(applied=apply)
    for done, row in enumerate(rows, start=1):
        values = row.values
        sku = values.get("sku", "")
        try:
            with session.begin_nested() as savepoint:
                data = _product_row(values)
                exists = session.scalar(select(Product.id).where(Product.sku == sku))
                if exists is None:
                    missing = [f for f in ("name", "vat_rate", "sale_price") if f not in data]
                    if missing:
                        raise ValueError(f"a new product needs {', '.join(missing)}")
                    catalog.create_product(session, data)
                    report.changes.append({"sku": sku, "action": "create"})
                else:
                    data.pop("sku")
                    if data:
                        catalog.update_product(session, sku, data)
                    report.changes.append({"sku": sku, "action": "update"})
                if not apply:
                    savepoint.rollback()
        except (ValueError, Invalid, Conflict, NotFound) as exc:
            reason = exc.message if hasattr(exc, "message") else str(exc)
            detail = getattr(exc, "errors", None)
            if detail:
                reason = f"{reason}: {detail}"
            report.rejected.append({"line": row.line, "sku": sku, "reason": reason})
        if progress:
            progress(done)
    return report


def _product_row(values: dict[str, str]) -> dict[str, Any]:
    sku = values.get("sku", "")
    if not sku or len(sku) > 64:
        raise ValueError("sku missing or longer than 64 characters")
    data: dict[str, Any] = {"sku": sku}
    if values.get("name"):
        data["name"] = values["name"][:200]
    for ref in ("category", "brand", "family"):
        if values.get(ref):
            data[ref] = values[ref]
    if values.get("vat_rate"):
        rate = _money(values["vat_rate"])
        if rate is None or rate > 100:
            raise ValueError("vat_rate must be between 0 and 100")
        data["vat_rate"] = rate
    for money_field in PRICE_FIELDS:
        amount = _money(values.get(money_field, ""))
        if amount is not None:
            data[money_field] = amount
    if values.get("barcodes"):
        data["barcodes"] = values["barcodes"].replace("|", " ").split()
    return data
