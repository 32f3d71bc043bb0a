"""REST for head office's points reports under /api/v1/loyalty: the points drift of
ingested sales (central's figure against the store's, or why central could not record
them) and the customers whose balance went negative (offline overspending, SPEC L5)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.services import points_reports
from central.transactions import db_session

reports_blp = Blueprint("loyalty-reports", __name__, url_prefix="/api/v1/loyalty",
                        description="Points drift of ingested sales, and customers whose "
                                    "balance went negative (offline overspending)")


class PointsDriftArgs(Schema):
    store = fields.String(validate=validate.Length(min=1, max=64))
    customer = fields.UUID()
    kind = fields.String(validate=validate.OneOf(points_reports.DRIFT_KINDS))


class PointsDriftOut(Schema):
    sale = fields.String(attribute="sale_uuid")
    store = fields.String()
    customer = fields.String(attribute="customer_id", allow_none=True)
    kind = fields.String(metadata={"description": "difference: central's points differ from "
                                   "the store's; unrecorded: central could not record them"})
    profile = fields.String(attribute="profile_code", allow_none=True)
    profile_version = fields.Integer(allow_none=True)
    store_points = fields.Decimal(as_string=True, allow_none=True)
    central_points = fields.Decimal(as_string=True, allow_none=True)
    reason = fields.String()
    sold_at = fields.AwareDateTime()
    detected_at = fields.AwareDateTime()


class SpendOut(Schema):
    sale = fields.String()
    line = fields.Integer()
    store = fields.String(allow_none=True)
    at = fields.AwareDateTime()
    points = fields.Decimal(as_string=True)
    balance_after = fields.Decimal(as_string=True)
    overspent = fields.Boolean()


class OverspendOut(Schema):
    customer = fields.String()
    balance = fields.Decimal(as_string=True)
    lowest = fields.Decimal(as_string=True)
    spends = fields.List(fields.Nested(SpendOut))


def _page(pagination: Any, result: tuple[list[Any], int]) -> list[Any]:
    items, total = result
    pagination.item_count = total
    return items


@reports_blp.route("/drift")
class PointsDriftList(MethodView):
    @reports_blp.arguments(PointsDriftArgs, location="query")
    @reports_blp.response(200, PointsDriftOut(many=True))
    @reports_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Sales whose points central computed otherwise than the store, or could not
        record (newest first); the ledger always holds central's figure."""
        if "customer" in args:
            args["customer"] = str(args["customer"])
        return _page(pagination_parameters, points_reports.list_drift(
            db_session(), pagination_parameters.page, pagination_parameters.page_size, **args))


@reports_blp.route("/overspends")
class Overspends(MethodView):
    @reports_blp.response(200, OverspendOut(many=True))
    @reports_blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Any]:
        """Customers whose balance went below zero (two offline stores spent the same
        points), lowest first, with every spend, its sale and store; nothing is refused."""
        return _page(pagination_parameters, points_reports.overspends(
            db_session(), pagination_parameters.page, pagination_parameters.page_size))
