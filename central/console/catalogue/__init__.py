"""Catalogue pages: the product list (search, filters, sort, keyset pages) and the product
form, validated by the REST API's own schema and saved by the same catalogue service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from central.api.schemas import ProductSchema, ProductUpdateSchema
from central.console import export
from central.console.pages import field_messages as _flat
from central.console.pages import page_blueprint, render
from central.services import catalog, product_search
from central.services.errors import ServiceError
from central.transactions import db_session

catalogue_bp = page_blueprint("catalogue", __name__)

PAGE_SIZE = 50
MAX_CHOICES = 1000
FIELDS = ("sku", "name", "category", "brand", "family", "vat_rate", "purchase_cost",
          "sale_price", "points_generated")


def _choices() -> dict[str, Any]:
    db = db_session()
    return {"categories": catalog.list_categories(db, 1, MAX_CHOICES)[0],
            "brands": catalog.list_brands(db, 1, MAX_CHOICES)[0],
            "families": catalog.list_families(db, 1, MAX_CHOICES)[0]}


def _active(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


def _filters() -> dict[str, Any]:
    args = request.args
    filters = {"q": args.get("q", "").strip()[:100], "category": args.get("category") or None,
               "brand": args.get("brand") or None, "family": args.get("family") or None,
               "active": args.get("active", ""), "sort": args.get("sort", "sku")}
    if filters["sort"] not in product_search.SORTS:
        filters["sort"] = "sku"
    return filters


def _browse(filters: dict[str, Any], after: str | None,
            limit: int) -> product_search.ProductPage:
    return product_search.browse(
        db_session(), q=filters["q"] or None, category=filters["category"],
        brand=filters["brand"], family=filters["family"], active=_active(filters["active"]),
        sort=filters["sort"], after=after, limit=limit)


@catalogue_bp.get("/products")
def products() -> ResponseReturnValue:
    filters = _filters()
    found = _browse(filters, request.args.get("after") or None, PAGE_SIZE)
    keep = {k: v for k, v in filters.items() if v}
    next_url = url_for(".products", **keep, after=found.next_cursor) \
        if found.next_cursor else None
    return render("catalogue/products.html", fragment="catalogue/_products_table.html",
                  found=found, filters=filters, next_url=next_url,
                  first_url=url_for(".products", **keep),
                  csv_url=url_for(".export_products", fmt="csv", **keep),
                  xlsx_url=url_for(".export_products", fmt="xlsx", **keep), **_choices())


EXPORT_HEADER = ("sku", "name", "category", "brand", "family", "barcodes", "vat_rate",
                 "purchase_cost", "sale_price", "active")
EXPORT_CHUNK = 1000


def _export_rows(filters: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    after = None
    while True:
        found = _browse(filters, after, EXPORT_CHUNK)
        for p in found.products:
            yield (p.sku, p.name, p.category.code if p.category else None,
                   p.brand.code if p.brand else None, p.family.code if p.family else None,
                   " ".join(b.code for b in p.barcodes), p.vat_rate, p.purchase_cost,
                   p.sale_price, p.active)
        if found.next_cursor is None:
            return
        after = found.next_cursor


@catalogue_bp.get("/products/export.<fmt>")
def export_products(fmt: str) -> ResponseReturnValue:
    """Every product the list's filters select, in its order, as CSV or Excel."""
    return export.table_response(fmt, "products", EXPORT_HEADER, _export_rows(_filters()))


def _form_data(form: MultiDict[str, str], fields: tuple[str, ...]) -> dict[str, Any]:
    """The form as the REST API's JSON would say it: empty fields are absent or null."""
    data: dict[str, Any] = {}
    for name in fields:
        value = form.get(name, "").strip()
        if value:
            data[name] = value
        elif name in ("category", "brand", "family", "purchase_cost", "points_generated"):
            data[name] = None
    data["barcodes"] = [line.strip() for line in form.get("barcodes", "").splitlines()
                        if line.strip()]
    data["active"] = form.get("active") == "on"
    return data


def _form(product: Any, values: dict[str, Any], errors: dict[str, list[str]] | None = None,
          message: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render("catalogue/product_form.html", status=status, product=product,
                  values=values, errors=errors or {}, message=message, **_choices())


def _values_of(product: Any) -> dict[str, Any]:
    return {"sku": product.sku, "name": product.name,
            "category": product.category.code if product.category else "",
            "brand": product.brand.code if product.brand else "",
            "family": product.family.code if product.family else "",
            "vat_rate": product.vat_rate, "purchase_cost": product.purchase_cost or "",
            "sale_price": product.sale_price, "active": product.active,
            "points_generated": "" if product.points_generated is None
            else product.points_generated,
            "barcodes": "\n".join(b.code for b in product.barcodes)}


@catalogue_bp.route("/products/new", methods=["GET", "POST"])
def new_product() -> ResponseReturnValue:
    if request.method == "GET":
        return _form(None, {"active": True, "vat_rate": ""})
    values = request.form.to_dict()
    values["active"] = request.form.get("active") == "on"
    db = db_session()
    try:
        data = ProductSchema().load(_form_data(request.form, FIELDS))
        product = catalog.create_product(db, data)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _form(None, values, _flat(exc.messages), status=422)
    except ServiceError as exc:
        db.rollback()
        return _form(None, values, _flat(exc.errors), exc.message, status=exc.status)
    return redirect(url_for(".product", sku=product.sku, saved=1), 303)


@catalogue_bp.route("/products/<sku>", methods=["GET", "POST"])
def product(sku: str) -> ResponseReturnValue:
    db = db_session()
    current = catalog.get_product(db, sku)
    if request.method == "GET":
        return _form(current, _values_of(current),
                     message=None if not request.args.get("saved") else "saved")
    values = request.form.to_dict()
    values["sku"] = current.sku
    values["active"] = request.form.get("active") == "on"
    try:
        changes = ProductUpdateSchema().load(
            _form_data(request.form, tuple(f for f in FIELDS if f != "sku")))
        catalog.update_product(db, sku, changes)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _form(current, values, _flat(exc.messages), status=422)
    except ServiceError as exc:
        db.rollback()
        return _form(current, values, _flat(exc.errors), exc.message, status=exc.status)
    return redirect(url_for(".product", sku=sku, saved=1), 303)
