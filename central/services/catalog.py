"""Master catalogue: categories, brands and products, each write logged for the stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from central.models import Barcode, Brand, Category, Family, Product
from central.services import changelog, points_values
from central.services.errors import Conflict, Invalid, NotFound
from protocol.streams import ALL, CATALOG
from rules.barcodes import barcode_kind

BUCKET = CATALOG
MAX_PURCHASE_DISCOUNTS = 5


def page(session: Session, query: Select[Any], page_no: int, size: int) -> tuple[list[Any], int]:
    """One page of ``query`` and the total row count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(size).offset((page_no - 1) * size)).unique().all()
    return list(rows), int(total or 0)


# -- categories -------------------------------------------------------------------------------

def category_wire(category: Category) -> dict[str, Any]:
    return {"code": category.code, "name": category.name, "active": category.active,
            "parent": category.parent.code if category.parent else None}


def get_category(session: Session, code: str) -> Category:
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise NotFound(f"no category {code!r}")
    return category


def _parent(session: Session, code: str | None, child: Category | None) -> Category | None:
    if code is None:
        return None
    parent = session.scalar(select(Category).where(Category.code == code))
    if parent is None:
        raise Invalid("unknown parent category", {"parent": [f"no category {code!r}"]})
    node: Category | None = parent
    while node is not None:
        if child is not None and node.id == child.id:
            raise Invalid("a category cannot be its own ancestor",
                          {"parent": [f"{code!r} is {child.code!r} or one of its children"]})
        node = node.parent
    return parent


def _log_category(session: Session, category: Category) -> None:
    changelog.record(session, BUCKET, ALL, "category", category.code, "upsert",
                     category_wire(category))


def create_category(session: Session, code: str, name: str, parent: str | None = None) -> Category:
    if session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise Conflict(f"category {code!r} already exists", {"code": ["already exists"]})
    category = Category(code=code, name=name, parent=_parent(session, parent, None), active=True)
    session.add(category)
    session.flush()
    _log_category(session, category)
    return category


def update_category(session: Session, code: str, changes: dict[str, Any]) -> Category:
    category = get_category(session, code)
    if "name" in changes:
        category.name = changes["name"]
    if "parent" in changes:
        category.parent = _parent(session, changes["parent"], category)
    if "active" in changes:
        category.active = changes["active"]
    session.flush()
    _log_category(session, category)
    return category


def list_categories(session: Session, page_no: int, size: int,
                    active: bool | None = None) -> tuple[list[Category], int]:
    query = select(Category).order_by(Category.code)
    if active is not None:
        query = query.where(Category.active.is_(active))
    return page(session, query, page_no, size)


# -- brands -----------------------------------------------------------------------------------

def brand_wire(brand: Brand) -> dict[str, Any]:
    return {"code": brand.code, "name": brand.name, "active": brand.active}


def get_brand(session: Session, code: str) -> Brand:
    brand = session.scalar(select(Brand).where(Brand.code == code))
    if brand is None:
        raise NotFound(f"no brand {code!r}")
    return brand


def create_brand(session: Session, code: str, name: str) -> Brand:
    if session.scalar(select(Brand.id).where(Brand.code == code)) is not None:
        raise Conflict(f"brand {code!r} already exists", {"code": ["already exists"]})
    brand = Brand(code=code, name=name, active=True)
    session.add(brand)
    session.flush()
    changelog.record(session, BUCKET, ALL, "brand", code, "upsert", brand_wire(brand))
    return brand


def update_brand(session: Session, code: str, changes: dict[str, Any]) -> Brand:
    brand = get_brand(session, code)
    for attr in ("name", "active"):
        if attr in changes:
            setattr(brand, attr, changes[attr])
    session.flush()
    changelog.record(session, BUCKET, ALL, "brand", code, "upsert", brand_wire(brand))
    return brand


def list_brands(session: Session, page_no: int, size: int,
                active: bool | None = None) -> tuple[list[Brand], int]:
    query = select(Brand).order_by(Brand.code)
    if active is not None:
        query = query.where(Brand.active.is_(active))
    return page(session, query, page_no, size)


# -- families ---------------------------------------------------------------------------------

def family_wire(family: Family) -> dict[str, Any]:
    return {"code": family.code, "name": family.name, "active": family.active}


def get_family(session: Session, code: str) -> Family:
    family = session.scalar(select(Family).where(Family.code == code))
    if family is None:
        raise NotFound(f"no family {code!r}")
    return family


def create_family(session: Session, code: str, name: str) -> Family:
    if session.scalar(select(Family.id).where(Family.code == code)) is not None:
        raise Conflict(f"family {code!r} already exists", {"code": ["already exists"]})
    family = Family(code=code, name=name, active=True)
    session.add(family)
    session.flush()
    changelog.record(session, BUCKET, ALL, "family", code, "upsert", family_wire(family))
    return family


def update_family(session: Session, code: str, changes: dict[str, Any]) -> Family:
    family = get_family(session, code)
    for attr in ("name", "active"):
        if attr in changes:
            setattr(family, attr, changes[attr])
    session.flush()
    changelog.record(session, BUCKET, ALL, "family", code, "upsert", family_wire(family))
    return family


def list_families(session: Session, page_no: int, size: int,
                  active: bool | None = None) -> tuple[list[Family], int]:
    query = select(Family).order_by(Family.code)
    if active is not None:
        query = query.where(Family.active.is_(active))
    return page(session, query, page_no, size)


# -- products ---------------------------------------------------------------------------------

def product_wire(product: Product) -> dict[str, Any]:
    """What a store needs of a product (purchase cost stays at head office)."""
    return {
        "sku": product.sku,
        "name": product.name,
        "category": product.category.code if product.category else None,
        "brand": product.brand.code if product.brand else None,
        "family": product.family.code if product.family else None,
        "vat_rate": product.vat_rate,
        "sale_price": product.sale_price,
        "unit": product.unit,
        "points_generated": product.points_generated,
        "active": product.active,
        "barcodes": [b.code for b in product.barcodes],
    }


def get_product(session: Session, sku: str) -> Product:
    product = session.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        raise NotFound(f"no product {sku!r}")
    return product


def _reference(session: Session, model: type[Category] | type[Brand] | type[Family], field: str,
               code: str | None) -> Any:
    if code is None:
        return None
    row = session.scalar(select(model).where(model.code == code))
    if row is None:
        raise Invalid(f"unknown {field}", {field: [f"no {field} {code!r}"]})
    return row


def _barcodes(session: Session, codes: Sequence[str], product: Product | None) -> list[Barcode]:
    problems: list[str] = []
    taken: list[str] = []
    if len(set(codes)) != len(codes):
        problems.append("the same barcode is listed twice")
    result: list[Barcode] = []
    for code in codes:
        try:
            kind = barcode_kind(code)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        existing = session.get(Barcode, code)
        if existing is not None and (product is None or existing.product_id != product.id):
            taken.append(f"{code} already belongs to product {existing.product.sku}")
            continue
        result.append(existing if existing is not None else Barcode(code=code, kind=kind))
    if problems:
        raise Invalid("invalid barcodes", {"barcodes": problems + taken})
    if taken:
        # Valid codes that another product holds: a conflict with existing data, like a SKU.
        raise Conflict("barcodes used by another product", {"barcodes": taken})
    return result


def _discounts(values: Sequence[Decimal]) -> str:
    if len(values) > MAX_PURCHASE_DISCOUNTS:
        raise Invalid("too many purchase discounts",
                      {"purchase_discounts": [f"at most {MAX_PURCHASE_DISCOUNTS}"]})
    bad = [str(v) for v in values if not Decimal(0) <= v <= Decimal(100)]
    if bad:
        raise Invalid("purchase discounts are percentages",
                      {"purchase_discounts": [f"{', '.join(bad)}: from 0 to 100"]})
    return " ".join(str(v) for v in values)


def _log_product(session: Session, product: Product) -> None:
    changelog.record(session, BUCKET, ALL, "product", product.sku, "upsert",
                     product_wire(product))
    # Cost, discounts or price may have changed: the product's points values follow.
    points_values.refresh_product(session, product)


def create_product(session: Session, data: dict[str, Any]) -> Product:
    if session.scalar(select(Product.id).where(Product.sku == data["sku"])) is not None:
        raise Conflict(f"product {data['sku']!r} already exists", {"sku": ["already exists"]})
    product = Product(
        sku=data["sku"], name=data["name"], vat_rate=data["vat_rate"],
        sale_price=data["sale_price"], purchase_cost=data.get("purchase_cost"),
        unit=data.get("unit", "piece"), active=data.get("active", True),
        purchase_discounts=_discounts(data.get("purchase_discounts") or []),
        fixed_points=data.get("fixed_points"),
        points_generated=data.get("points_generated"),
        category=_reference(session, Category, "category", data.get("category")),
        brand=_reference(session, Brand, "brand", data.get("brand")),
        family=_reference(session, Family, "family", data.get("family")),
    )
    product.barcodes = _barcodes(session, data.get("barcodes", []), None)
    session.add(product)
    session.flush()
    _log_product(session, product)
    return product


def update_product(session: Session, sku: str, changes: dict[str, Any]) -> Product:
    product = get_product(session, sku)
    for attr in ("name", "vat_rate", "sale_price", "purchase_cost", "unit", "active",
                 "fixed_points", "points_generated"):
        if attr in changes:
            setattr(product, attr, changes[attr])
    if "purchase_discounts" in changes:
        product.purchase_discounts = _discounts(changes["purchase_discounts"] or [])
    if "category" in changes:
        product.category = _reference(session, Category, "category", changes["category"])
    if "brand" in changes:
        product.brand = _reference(session, Brand, "brand", changes["brand"])
    if "family" in changes:
        product.family = _reference(session, Family, "family", changes["family"])
    if "barcodes" in changes:
        product.barcodes = _barcodes(session, changes["barcodes"], product)
    product.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    _log_product(session, product)
    return product


def list_products(session: Session, page_no: int, size: int, *, q: str | None = None,
                  category: str | None = None, brand: str | None = None,
                  family: str | None = None, active: bool | None = None,
                  barcode: str | None = None) -> tuple[list[Product], int]:
    query = select(Product).order_by(Product.sku)
    if q:
        query = query.where(func.lower(Product.name).contains(q.lower()))
    if category:
        query = query.where(Product.category_id == get_category(session, category).id)
    if brand:
        query = query.where(Product.brand_id == get_brand(session, brand).id)
    if family:
        query = query.where(Product.family_id == get_family(session, family).id)
    if active is not None:
        query = query.where(Product.active.is_(active))
    if barcode:
        query = query.where(Product.barcodes.any(Barcode.code == barcode))
    return page(session, query, page_no, size)
