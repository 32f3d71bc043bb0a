"""REST for the loyalty programme (SPEC L1-L5) under /api/v1/loyalty, and a customer's
points at /api/v1/customers/{id}/points (the customers themselves come with their feature).

Bad input is a 4xx whose ``errors`` name the field: ``accrual.threshold``,
``redemption.bands[1]``, ``level`` (a gift for a level that does not exist), ``reason``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.access import now, principal
from central.api.loyalty_report_views import reports_blp
from central.api.requests import Blueprint
from central.api.schemas import Rate
from central.services import (
    loyalty_profiles,
    loyalty_programme,
    points_labels,
    points_ledger,
    points_values,
)
from central.transactions import db_session, transactional

profiles_blp = Blueprint("loyalty-profiles", __name__, url_prefix="/api/v1/loyalty/profiles",
                         description="Loyalty profiles: cards, discount level, accrual and "
                                     "redemption options (every change a new version)")
levels_blp = Blueprint("loyalty-levels", __name__, url_prefix="/api/v1/loyalty/levels",
                       description="The chain's loyalty levels, in points")
gifts_blp = Blueprint("loyalty-gifts", __name__, url_prefix="/api/v1/loyalty/gifts",
                      description="Products flagged as gifts of a level")
values_blp = Blueprint("loyalty-points-values", __name__,
                       url_prefix="/api/v1/loyalty/points-values",
                       description="Points values of products, per profile, and shelf labels")
points_blp = Blueprint("customer-points", __name__, url_prefix="/api/v1/customers",
                       description="A customer's points ledger and manual adjustments")

POINTS = validate.Range(min=0, min_inclusive=False)


class LoyaltyProfileIn(Schema):
    description = fields.String(required=True, validate=validate.Length(min=1, max=200))
    default = fields.Boolean(load_default=False)
    card_prefix = fields.String(required=True)
    alternative_prefixes = fields.List(fields.String(), load_default=list)
    ean_prefix = fields.String(allow_none=True, load_default=None)
    discount_percent = Rate(load_default=Decimal(0))
    accrual = fields.Dict(load_default=dict, metadata={"description": "accrual options"})
    redemption = fields.Dict(load_default=dict,
                             metadata={"description": "bands, discount_levels, "
                                       "on_sale_price, release, discounts"})


class LoyaltyProfileCreate(LoyaltyProfileIn):
    code = fields.String(required=True)


class LoyaltyProfilePatch(Schema):
    description = fields.String(validate=validate.Length(min=1, max=200))
    default = fields.Boolean()
    card_prefix = fields.String()
    alternative_prefixes = fields.List(fields.String())
    ean_prefix = fields.String(allow_none=True)
    discount_percent = Rate()
    accrual = fields.Dict()
    redemption = fields.Dict()


class LoyaltyProfileOut(Schema):
    code = fields.String()
    description = fields.String()
    default = fields.Boolean()
    card_prefix = fields.String()
    alternative_prefixes = fields.List(fields.String())
    ean_prefix = fields.String(allow_none=True)
    discount_percent = fields.String()
    version = fields.Integer()
    accrual = fields.Dict()
    redemption = fields.Dict()


class LoyaltyBandsIn(Schema):
    bands = fields.List(fields.Dict(), required=True,
                        metadata={"description": "up to three {ratio, above, up_to}"})


class LoyaltyLevelIn(Schema):
    points = fields.Decimal(required=True, as_string=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))


class LoyaltyLevelOut(Schema):
    code = fields.String()
    name = fields.String()
    points = fields.String()


class LoyaltyGiftIn(Schema):
    level = fields.String(required=True)
    points = fields.Decimal(allow_none=True, load_default=None, as_string=True)


class LoyaltyGiftOut(Schema):
    sku = fields.String()
    level = fields.String()
    points = fields.String(allow_none=True)
    level_points = fields.String()


class LoyaltyValuesArgs(Schema):
    profile = fields.String(load_default=None, metadata={"description": "default: the "
                                                                       "default profile"})
    sku = fields.List(fields.String(), load_default=list)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))


class LoyaltyValueOut(Schema):
    profile = fields.String()
    sku = fields.String()
    points = fields.String()
    basis = fields.String()
    cost = fields.String(allow_none=True)
    markup = fields.String(allow_none=True)
    ratio = fields.String(allow_none=True)
    profile_version = fields.Integer()


class LoyaltyRecomputeIn(Schema):
    profile = fields.String(required=True)


class LoyaltyLabelsArgs(Schema):
    profile = fields.String(load_default=None, metadata={"description": "default: the "
                                                                       "default profile"})
    sku = fields.List(fields.String(), load_default=list, validate=validate.Length(max=500),
                      metadata={"description": "none: every product with a points value "
                                               f"(the first {points_labels.MAX_LABELS})"})


class LoyaltyAdjustmentIn(Schema):
    points = fields.Decimal(required=True, as_string=True)
    reason = fields.String(required=True, validate=validate.Length(max=500))


class LoyaltyEntryOut(Schema):
    kind = fields.String()
    document = fields.String()
    line = fields.Integer()
    points = fields.String()
    at = fields.String()
    store = fields.String(allow_none=True)
    profile_version = fields.Integer(allow_none=True)
    reason = fields.String()
    refers_to = fields.String(allow_none=True)
    author = fields.String(allow_none=True)


class LoyaltyPointsOut(Schema):
    customer = fields.String()
    balance = fields.String()
    entries = fields.List(fields.Nested(LoyaltyEntryOut))


@profiles_blp.route("/")
class Profiles(MethodView):
    @profiles_blp.response(200, LoyaltyProfileOut(many=True))
    def get(self) -> Any:
        """Every loyalty profile."""
        return [loyalty_profiles.wire(p) for p in loyalty_profiles.list_profiles(db_session())]

    @profiles_blp.arguments(LoyaltyProfileCreate)
    @profiles_blp.response(201, LoyaltyProfileOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a profile (version 1)."""
        code = data.pop("code")
        return loyalty_profiles.wire(loyalty_profiles.create_profile(db_session(), code, data,
                                                                     now()))


@profiles_blp.route("/<code>")
class Profile(MethodView):
    @profiles_blp.response(200, LoyaltyProfileOut)
    def get(self, code: str) -> Any:
        """One profile."""
        return loyalty_profiles.wire(loyalty_profiles.get_profile(db_session(), code))

    @profiles_blp.arguments(LoyaltyProfilePatch)
    @profiles_blp.response(200, LoyaltyProfileOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change some fields: a new version; points values are recomputed."""
        return loyalty_profiles.wire(loyalty_profiles.update_profile(db_session(), code, data,
                                                                     now()))


@profiles_blp.route("/<code>/markup-bands")
class MarkupBands(MethodView):
    def get(self, code: str) -> Any:
        """The profile's markup bands (points per euro of cost by markup)."""
        profile = loyalty_profiles.wire(loyalty_profiles.get_profile(db_session(), code))
        return {"bands": profile["redemption"]["bands"]}

    @profiles_blp.arguments(LoyaltyBandsIn)
    @transactional
    def put(self, data: dict[str, Any], code: str) -> Any:
        """Replace the bands (1 to 3, no overlap, no gap): a new version of the profile."""
        session = db_session()
        current = loyalty_profiles.wire(loyalty_profiles.get_profile(session, code))
        redemption = {**current["redemption"], "bands": data["bands"]}
        row = loyalty_profiles.update_profile(session, code, {"redemption": redemption}, now())
        return {"bands": loyalty_profiles.wire(row)["redemption"]["bands"],
                "version": row.version}


@levels_blp.route("/")
class Levels(MethodView):
    @levels_blp.response(200, LoyaltyLevelOut(many=True))
    def get(self) -> Any:
        """Every level, lowest first."""
        return [loyalty_programme.level_wire(lv)
                for lv in loyalty_programme.list_levels(db_session())]


@levels_blp.route("/<code>")
class LevelView(MethodView):
    @levels_blp.arguments(LoyaltyLevelIn)
    @levels_blp.response(200, LoyaltyLevelOut)
    @transactional
    def put(self, data: dict[str, Any], code: str) -> Any:
        """Create or change a level."""
        return loyalty_programme.level_wire(loyalty_programme.put_level(
            db_session(), code, data["points"], data["name"]))

    @levels_blp.response(204)
    @transactional
    def delete(self, code: str) -> None:
        """Remove a level: refused (409, naming the condition) while gifts are on it or a
        customer holds points at or above the first level."""
        loyalty_programme.delete_level(db_session(), code)


@gifts_blp.route("/")
class Gifts(MethodView):
    @gifts_blp.response(200, LoyaltyGiftOut(many=True))
    def get(self) -> Any:
        """Every gift with its level, cheapest level first."""
        return [loyalty_programme.gift_wire(g, lv)
                for g, lv in loyalty_programme.list_gifts(db_session())]


@gifts_blp.route("/<sku>")
class GiftView(MethodView):
    @gifts_blp.arguments(LoyaltyGiftIn)
    @gifts_blp.response(200, LoyaltyGiftOut)
    @transactional
    def put(self, data: dict[str, Any], sku: str) -> Any:
        """Flag a product as a gift of a level (``points`` overrides the level's)."""
        return loyalty_programme.gift_wire(*loyalty_programme.put_gift(
            db_session(), sku, data["level"], data["points"]))

    @gifts_blp.response(204)
    @transactional
    def delete(self, sku: str) -> None:
        """The product is no longer a gift."""
        loyalty_programme.delete_gift(db_session(), sku)


@values_blp.route("/")
class Values(MethodView):
    @values_blp.arguments(LoyaltyValuesArgs, location="query")
    @values_blp.response(200, LoyaltyValueOut(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Points values of products under a profile (100 a page)."""
        session = db_session()
        code = loyalty_profiles.profile_or_default(session, args["profile"]).code
        return [points_values.wire(v) for v in points_values.list_values(
            session, code, args["sku"], args["page"])]


@values_blp.route("/recompute")
class Recompute(MethodView):
    @values_blp.arguments(LoyaltyRecomputeIn)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Recompute every product's value under a profile (values change by themselves
        when a product or the profile changes; this is for after an import)."""
        session = db_session()
        row = loyalty_profiles.get_profile(session, data["profile"])
        return {"profile": row.code, "products": points_values.refresh_profile(session, row)}


@values_blp.route("/labels.pdf")
class Labels(MethodView):
    @values_blp.response(200, content_type="application/pdf", description="a PDF to print")
    @values_blp.arguments(LoyaltyLabelsArgs, location="query")
    def get(self, args: dict[str, Any]) -> Any:
        """Shelf labels (PDF) with each product's price and points value."""
        session = db_session()
        code = loyalty_profiles.profile_or_default(session, args["profile"]).code
        pdf = points_labels.labels_pdf(session, code, args["sku"])
        return Response(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": "inline; filename=labels.pdf"})


def entry_wire(row: Any) -> dict[str, Any]:
    refers = None if row.refers_kind is None else \
        f"{row.refers_kind}:{row.refers_document}#{row.refers_line}"
    return {"kind": row.kind, "document": row.document, "line": row.line,
            "points": str(row.points), "at": row.at.isoformat(), "store": row.store,
            "profile_version": row.profile_version, "reason": row.reason,
            "refers_to": refers, "author": row.author}


@points_blp.route("/<customer>/points")
class CustomerPoints(MethodView):
    @points_blp.response(200, LoyaltyPointsOut)
    def get(self, customer: str) -> Any:
        """The customer's ledger (each entry with its sale or return and store) and balance."""
        session = db_session()
        customer = points_ledger.check_customer(customer)
        return {"customer": customer, "balance": str(points_ledger.balance(session, customer)),
                "entries": [entry_wire(r) for r in points_ledger.rows(session, customer)]}


@points_blp.route("/<customer>/points/adjustments")
class Adjustments(MethodView):
    @points_blp.arguments(LoyaltyAdjustmentIn)
    @points_blp.response(201, LoyaltyEntryOut)
    @transactional
    def post(self, data: dict[str, Any], customer: str) -> Any:
        """A manual adjustment (positive or negative) with its reason."""
        session = db_session()
        entry = points_ledger.adjust(session, customer, data["points"], data["reason"],
                                     principal().username, now())
        row = next(r for r in points_ledger.rows(session, entry.customer)
                   if r.kind == "adjustment" and r.document == entry.document)
        return entry_wire(row)


LOYALTY_BLUEPRINTS = (profiles_blp, levels_blp, gifts_blp, values_blp, reports_blp,
                      points_blp)
