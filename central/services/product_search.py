"""Browsing the catalogue page by page with a keyset (no OFFSET): as fast on page 5,000 of
100,000 products as on the first. The console's product list reads through here."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from central.models import Barcode, Product
from central.services.catalog import get_brand, get_category, get_family
from central.services.errors import Invalid

SORTS = ("sku", "-sku", "name", "-name")


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    next_cursor: str | None  # None on the last page


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != 2 or not all(
            isinstance(v, str) for v in values):
        raise Invalid("bad page cursor", {"after": ["start again from the first page"]})
    return values


def browse(session: Session, *, q: str | None = None, category: str | None = None,
           brand: str | None = None, family: str | None = None, active: bool | None = None,
           sort: str = "sku", after: str | None = None, limit: int = 50) -> ProductPage:
    """``limit`` products matching the filters, after the ``after`` cursor, in ``sort`` order.

    ``q`` finds a product by its SKU (prefix), a barcode (exact) or a word of its name.
    """
    if sort not in SORTS:
        raise Invalid("unknown sort", {"sort": [f"one of {', '.join(SORTS)}"]})
    column = Product.name if sort.lstrip("-") == "name" else Product.sku
    descending = sort.startswith("-")
    query = select(Product)
    if q:
        needle = q.strip()
        query = query.where(or_(
            Product.sku.startswith(needle, autoescape=True),
            Product.name.ilike(f"%{_escape(needle)}%", escape="\\"),
            Product.id.in_(select(Barcode.product_id).where(Barcode.code == needle))))
    if category:
        query = query.where(Product.category_id == get_category(session, category).id)
    if brand:
        query = query.where(Product.brand_id == get_brand(session, brand).id)
    if family:
        query = query.where(Product.family_id == get_family(session, family).id)
    if active is not None:
        query = query.where(Product.active.is_(active))
    if after:
        key, sku = _decode(after)
        position = tuple_(column, Product.sku)
        query = query.where(position < (key, sku) if descending else position > (key, sku))
    order = (column.desc(), Product.sku.desc()) if descending else (column, Product.sku)
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = _encode([last.name if column is Product.name else last.sku, last.sku])
    return ProductPage(rows, cursor)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
