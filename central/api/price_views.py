"""REST for prices: overrides per store/group, scheduled changes, bulk updates, imports."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from central.api.requests import Blueprint
from central.api.schemas import CODE, Money
from central.services import prices
from central.services.errors import Invalid
from central.tabular import TabularError, read_table
from central.transactions import db_session, transactional

prices_blp = Blueprint("prices", __name__, url_prefix="/api/v1/prices",
                       description="Price overrides per store or group, and scheduled prices")
bulk_blp = Blueprint("product-bulk", __name__, url_prefix="/api/v1/products",
                     description="Bulk price updates and product imports")


class PriceIn(Schema):
    sku = fields.String(required=True, validate=CODE)
    price = Money(required=True)
    scope = fields.String(load_default="all", validate=validate.OneOf(["all", "group", "store"]))
    ref = fields.String(load_default=None, allow_none=True, validate=CODE)
    effective_from = fields.AwareDateTime(load_default=None, allow_none=True,
                                          metadata={"description": "default: now"})


class PriceOut(Schema):
    id = fields.Integer()
    sku = fields.Function(lambda e: e.product.sku)
    price = fields.Decimal(as_string=True)
    scope = fields.String()
    ref = fields.Function(lambda e: e.scope_ref or None)
    effective_from = fields.AwareDateTime()
    created_at = fields.AwareDateTime()


class PriceListArgs(Schema):
    sku = fields.String(validate=CODE)
    scope = fields.String(validate=validate.OneOf(["all", "group", "store"]))
    ref = fields.String(validate=CODE)


class BulkIn(Schema):
    field = fields.String(load_default="sale_price",
                          validate=validate.OneOf(list(prices.PRICE_FIELDS)))
    mode = fields.String(required=True, validate=validate.OneOf(["percent", "amount"]))
    value = Money(required=True, signed=True,
                  metadata={"description": "percent: the change in percent (above -100); "
                            "amount: the amount added (negative: taken off)"})
    category = fields.String(validate=CODE)
    brand = fields.String(validate=CODE)
    family = fields.String(validate=CODE)
    skus = fields.List(fields.String(validate=CODE), load_default=list)
    preview = fields.Boolean(load_default=True)

    @validates_schema
    def _selection(self, data: dict[str, Any], **_: Any) -> None:
        if not (data.get("category") or data.get("brand") or data.get("family")
                or data.get("skus")):
            raise ValidationError("choose products by category, brand, family or skus")


class FileArgs(Schema):
    preview = fields.Boolean(load_default=True)


class ReportOut(Schema):
    applied = fields.Boolean()
    changes = fields.List(fields.Dict())
    rejected = fields.List(fields.Dict())
    unchanged = fields.Integer()


def _uploaded_rows() -> list[Any]:
    upload = request.files.get("file")
    if upload is not None:
        data, name = upload.read(), upload.filename or ""
    else:
        data, name = request.get_data(), ""
    if not data:
        raise Invalid("send a CSV or XLSX file (multipart field 'file' or the request body)",
                      {"file": ["missing"]})
    try:
        return read_table(data, name)
    except TabularError as exc:
        raise Invalid(str(exc), {"file": [str(exc)]}) from exc


def _report(report: prices.BulkReport) -> dict[str, Any]:
    return {"applied": report.applied, "changes": report.changes,
            "rejected": report.rejected, "unchanged": report.unchanged}


@prices_blp.route("/")
class Prices(MethodView):
    @prices_blp.arguments(PriceListArgs, location="query")
    @prices_blp.response(200, PriceOut(many=True))
    @prices_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List price entries (filter by sku, scope, ref)."""
        items, total = prices.list_prices(db_session(), pagination_parameters.page,
                                          pagination_parameters.page_size, **args)
        pagination_parameters.item_count = total
        return items

    @prices_blp.arguments(PriceIn)
    @prices_blp.response(201, PriceOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Set a price for all stores, a group or a store, now or from a future moment."""
        return prices.set_price(db_session(), data["sku"], data["price"], data["scope"],
                                data["ref"], data["effective_from"])


@prices_blp.route("/<int:entry_id>")
class PriceById(MethodView):
    @prices_blp.response(200, PriceOut)
    @transactional
    def delete(self, entry_id: int) -> Any:
        """Remove a price entry (the next one in force applies again)."""
        return prices.delete_price(db_session(), entry_id)


@bulk_blp.route("/bulk-price")
class BulkPrice(MethodView):
    @bulk_blp.arguments(BulkIn)
    @bulk_blp.response(200, ReportOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Raise or lower sale prices or purchase costs by % or amount (preview by default)."""
        return _report(prices.bulk_adjust(
            db_session(), data["field"], data["mode"], data["value"],
            category=data.get("category"), brand=data.get("brand"),
            family=data.get("family"), skus=data["skus"], apply=not data["preview"]))


@bulk_blp.route("/bulk-price/file")
class BulkPriceFile(MethodView):
    @bulk_blp.arguments(FileArgs, location="query")
    @bulk_blp.response(200, ReportOut)
    @transactional
    def post(self, args: dict[str, Any]) -> Any:
        """New prices from a CSV/XLSX file (sku, sale_price, purchase_cost)."""
        return _report(prices.import_prices(db_session(), _uploaded_rows(),
                                            apply=not args["preview"]))


@bulk_blp.route("/import")
class ProductImport(MethodView):
    @bulk_blp.arguments(FileArgs, location="query")
    @bulk_blp.response(200, ReportOut)
    @transactional
    def post(self, args: dict[str, Any]) -> Any:
        """Create or update products from a CSV/XLSX file, with a report of rejected rows."""
        return _report(prices.import_products(db_session(), _uploaded_rows(),
                                              apply=not args["preview"]))


PRICE_BLUEPRINTS = (prices_blp, bulk_blp)
