"""Points values of products (SPEC L4, seeds/002 "Controvalore punti"), kept up to date.

A product's value under each profile is computed by ``rules.loyalty.redemption`` from its
purchase cost after its successive supplier discounts, its sale price and the profile's
markup bands; a fixed value on the product is copied, never computed. Values are
recomputed whenever the product (cost, discounts, price, fixed value) or a profile's
redemption options change, and a changed value travels to every store (``loyalty``
stream, entity ``points_value``). A product without a cost has no value (unless fixed).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Product
from central.models.loyalty import LoyaltyProfileRow, ProductPointsValue
from central.services import changelog
from central.services.errors import Invalid
from protocol.loyalty import redemption_from_wire
from protocol.streams import ALL, LOYALTY
from rules.loyalty.errors import InvalidPolicy, LoyaltyError
from rules.loyalty.redemption import PointsValue, PointsValuePolicy, ProductCost, points_value

BUCKET = LOYALTY
ENTITY = "points_value"
CENTS = Decimal("0.01")


def key(profile: str, sku: str) -> str:
    return f"{profile}|{sku}"


def product_cost(product: Product) -> ProductCost:
    try:
        return ProductCost(product.sku, product.purchase_cost or Decimal(0), product.sale_price,
                           tuple(Decimal(d) for d in (product.purchase_discounts or "").split()),
                           product.fixed_points)
    except InvalidPolicy as exc:
        raise Invalid(str(exc), {exc.field: [exc.message]}) from exc


def compute(product: Product, policy: PointsValuePolicy) -> PointsValue | None:
    """The product's value, or None when it has none (no cost, no fixed value)."""
    if product.purchase_cost is None and product.fixed_points is None and \
            not policy.on_sale_price:
        return None
    try:
        return points_value(product_cost(product), policy)
    except InvalidPolicy:
        raise
    except LoyaltyError:
        return None


def wire(row: ProductPointsValue) -> dict[str, Any]:
    return {"profile": row.profile_code, "sku": row.sku, "points": str(row.points),
            "basis": row.basis, "cost": None if row.cost is None else str(row.cost),
            "markup": None if row.markup is None else str(row.markup),
            "ratio": None if row.ratio is None else str(row.ratio),
            "profile_version": row.profile_version}


def _store(session: Session, profile: LoyaltyProfileRow, product: Product,
           value: PointsValue | None) -> None:
    row = session.scalar(select(ProductPointsValue).where(
        ProductPointsValue.profile_code == profile.code, ProductPointsValue.sku == product.sku))
    if value is None:
        if row is not None:
            session.delete(row)
            changelog.record(session, BUCKET, ALL, ENTITY, key(profile.code, product.sku),
                             "delete", None)
        return
    cost = None if value.cost is None else value.cost.quantize(Decimal("0.000001"))
    markup = None if value.markup is None else value.markup.quantize(Decimal("0.0001"))
    ratio = None if value.ratio is None else value.ratio.quantize(CENTS)
    fresh = (value.points.quantize(CENTS), value.basis, cost, markup, ratio)
    if row is not None and (row.points, row.basis, row.cost, row.markup, row.ratio) == fresh:
        return
    if row is None:
        row = ProductPointsValue(profile_code=profile.code, sku=product.sku)
        session.add(row)
    row.points, row.basis, row.cost, row.markup, row.ratio = fresh
    row.profile_version = profile.version
    session.flush()
    changelog.record(session, BUCKET, ALL, ENTITY, key(profile.code, product.sku), "upsert",
                     wire(row))


def policy_of(profile: LoyaltyProfileRow) -> PointsValuePolicy:
    return redemption_from_wire(json.loads(profile.redemption))


def refresh_product(session: Session, product: Product) -> None:
    """Recompute ``product``'s value under every profile (its cost or price changed)."""
    for profile in session.scalars(select(LoyaltyProfileRow)):
        _store(session, profile, product, compute(product, policy_of(profile)))


def refresh_profile(session: Session, profile: LoyaltyProfileRow) -> int:
    """Recompute every product's value under ``profile``; returns how many products."""
    policy = policy_of(profile)
    count = 0
    for product in session.scalars(select(Product).order_by(Product.sku)).unique():
        _store(session, profile, product, compute(product, policy))
        count += 1
    return count


def list_values(session: Session, profile: str, skus: list[str] | None = None,
                page_no: int = 1, size: int = 100) -> list[ProductPointsValue]:
    query = (select(ProductPointsValue).where(ProductPointsValue.profile_code == profile)
             .order_by(ProductPointsValue.sku))
    if skus:
        query = query.where(ProductPointsValue.sku.in_(skus))
    return list(session.scalars(query.offset((page_no - 1) * size).limit(size)))
