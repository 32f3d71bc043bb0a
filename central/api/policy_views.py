"""Blueprints of the discount API: sales rules, promotions, exclusions, partner programmes
with their cards, and VIP cards. Every write reaches the stores through the change log.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import Schema

from central.api import policy_schemas as s
from central.api.requests import Blueprint
from central.services import partners, policies
from central.services.errors import Invalid
from central.transactions import db_session, transactional


def _paged(pagination: Any, result: tuple[list[Any], int]) -> list[Any]:
    items, total = result
    pagination.item_count = total
    return items


# -- sales rules, promotions, exclusions ------------------------------------------------------

def _policy_blueprint(kind: str, name: str, description: str, schema_in: type[Schema],
                      schema_patch: type[Schema]) -> Blueprint:
    """One blueprint per policy kind; they differ only by kind and by schema."""
    blp = Blueprint(name, __name__, url_prefix=f"/api/v1/{name}", description=description)

    @blp.route("/")
    class Collection(MethodView):
        @blp.arguments(s.PolicyListArgs, location="query")
        @blp.response(200, s.PolicyOut(many=True))
        @blp.paginate()
        def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
            """List them by code: active or not, those of one store."""
            return _paged(pagination_parameters, policies.list_policies(
                db_session(), pagination_parameters.page, pagination_parameters.page_size,
                kind=kind, **args))

        @blp.arguments(schema_in)
        @blp.response(201, s.PolicyOut)
        @transactional
        def post(self, data: dict[str, Any]) -> Any:
            """Create one; it reaches the stores it concerns with version 1."""
            return policies.create(db_session(), kind, data)

    @blp.route("/<code>")
    class ByCode(MethodView):
        @blp.response(200, s.PolicyOut)
        def get(self, code: str) -> Any:
            """Read one."""
            return policies.get(db_session(), code, kind)

        @blp.arguments(schema_patch)
        @blp.response(200, s.PolicyOut)
        @transactional
        def patch(self, data: dict[str, Any], code: str) -> Any:
            """Change some fields (period is merged, target replaced); the version grows."""
            return policies.update(db_session(), code, data, kind)

        @blp.response(200, s.PolicyOut)
        @transactional
        def delete(self, code: str) -> Any:
            """Deactivate: the stores stop applying it; its history stays."""
            return policies.deactivate(db_session(), code, kind)

    return blp


rules_blp = _policy_blueprint(
    "sales_rule", "discount-rules",
    "Sales rules: a % off on everything, categories, brands, families or products, for a "
    "period and chosen stores", s.SalesRuleIn, s.SalesRulePatch)
promotions_blp = _policy_blueprint(
    "promotion", "promotions",
    "Promotions: quantity rules (3 for 2, second at half price) and fixed final prices",
    s.PromotionIn, s.PromotionPatch)
exclusions_blp = _policy_blueprint(
    "exclusion", "exclusions",
    "Exclusions: categories, brands, families or products no discount, card or voucher "
    "may touch", s.ExclusionIn, s.ExclusionPatch)


# -- partner programmes and their cards -------------------------------------------------------

programmes_blp = Blueprint("partner-programmes", __name__,
                           url_prefix="/api/v1/partner-programmes",
                           description="Third-party card schemes giving a fixed % at chosen "
                                       "stores, and their card numbers and ranges")


@programmes_blp.route("/")
class Programmes(MethodView):
    @programmes_blp.arguments(s.ProgrammeListArgs, location="query")
    @programmes_blp.response(200, s.ProgrammeOut(many=True))
    @programmes_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List partner programmes: active or not, those accepted at one store."""
        return _paged(pagination_parameters, partners.list_programmes(
            db_session(), pagination_parameters.page, pagination_parameters.page_size, **args))

    @programmes_blp.arguments(s.ProgrammeIn)
    @programmes_blp.response(201, s.ProgrammeOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a partner programme."""
        return partners.create_programme(db_session(), data)


@programmes_blp.route("/<code>")
class ProgrammeByCode(MethodView):
    @programmes_blp.response(200, s.ProgrammeOut)
    def get(self, code: str) -> Any:
        """Read a partner programme."""
        return partners.get_programme(db_session(), code)

    @programmes_blp.arguments(s.ProgrammePatch)
    @programmes_blp.response(200, s.ProgrammeOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change a partner programme; its version grows."""
        return partners.update_programme(db_session(), code, data)

    @programmes_blp.response(200, s.ProgrammeOut)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a partner programme: its cards stop giving a discount."""
        return partners.deactivate_programme(db_session(), code)


@programmes_blp.route("/<code>/cards")
class ProgrammeCards(MethodView):
    @programmes_blp.arguments(s.CardListArgs, location="query")
    @programmes_blp.response(200, s.CardOut(many=True))
    @programmes_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any, code: str) -> list[Any]:
        """List the card numbers and ranges of a programme, or those holding one number."""
        return _paged(pagination_parameters, partners.list_cards(
            db_session(), code, pagination_parameters.page, pagination_parameters.page_size,
            **args))

    @programmes_blp.arguments(s.CardsIn)
    @programmes_blp.response(200, s.CardReport)
    @transactional
    def post(self, data: dict[str, Any], code: str) -> Any:
        """Add cards, each {number} or {first, last}.

        One bad card adds none; entries already in the programme are skipped and reported.
        """
        return partners.add_cards(db_session(), code, data["cards"])


_CSV_BODY = {
    "required": True,
    "description": "A CSV (comma, semicolon or tab) whose header names `number`, or "
                   "`first` and `last`, and optionally `holder`; UTF-8.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string",
                                                                   "format": "binary"}}}},
    },
}


def _uploaded_text() -> str:
    """The CSV of the request: its body, or the multipart field ``file``."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise Invalid("no file", {"file": ["send the CSV in the multipart field 'file'"]})
        raw: bytes = upload.read()
    else:
        raw = request.get_data()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the file is not UTF-8 text",
                      {"file": [f"byte {exc.start} is not UTF-8; save the CSV as UTF-8"]}) from exc


@programmes_blp.route("/<code>/cards/import")
class ProgrammeCardImport(MethodView):
    @programmes_blp.doc(requestBody=_CSV_BODY)
    @programmes_blp.response(200, s.CardReport)
    @transactional
    def post(self, code: str) -> Any:
        """Import cards from a CSV: good rows are added, bad rows rejected with their line."""
        return partners.import_cards_csv(db_session(), code, _uploaded_text())


def _bounds(number: str) -> tuple[str, str]:
    """``12345`` is one number, ``1000-1999`` a range (numbers have no '-')."""
    first, _, last = number.partition("-")
    return first, last or first


@programmes_blp.route("/<code>/cards/<number>")
class ProgrammeCard(MethodView):
    @programmes_blp.response(200, s.CardOut)
    def get(self, code: str, number: str) -> Any:
        """Read one entry: a number, or a range written ``first-last``."""
        return partners.get_card(db_session(), code, *_bounds(number))

    @programmes_blp.response(200, s.CardOut)
    @transactional
    def delete(self, code: str, number: str) -> Any:
        """Stop accepting a number or a range (``first-last``); the entry stays, inactive."""
        return partners.remove_card(db_session(), code, *_bounds(number))


# -- VIP cards --------------------------------------------------------------------------------

vip_blp = Blueprint("vip-cards", __name__, url_prefix="/api/v1/vip-cards",
                    description="#VIP# cards: a rate and an end date for one customer "
                                "(write # as %23 in paths)")


@vip_blp.route("/")
class VipCards(MethodView):
    @vip_blp.arguments(s.VipListArgs, location="query")
    @vip_blp.response(200, s.VipOut(many=True))
    @vip_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List VIP cards: active or not, by customer."""
        return _paged(pagination_parameters, partners.list_vips(
            db_session(), pagination_parameters.page, pagination_parameters.page_size, **args))

    @vip_blp.arguments(s.VipIn)
    @vip_blp.response(201, s.VipOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a VIP card."""
        return partners.create_vip(db_session(), data)


@vip_blp.route("/<code>")
class VipCardByCode(MethodView):
    @vip_blp.response(200, s.VipOut)
    def get(self, code: str) -> Any:
        """Read a VIP card."""
        return partners.get_vip(db_session(), code)

    @vip_blp.arguments(s.VipPatch)
    @vip_blp.response(200, s.VipOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change a VIP card; its version grows."""
        return partners.update_vip(db_session(), code, data)

    @vip_blp.response(200, s.VipOut)
    @transactional
    def delete(self, code: str) -> Any:
        """Deactivate a VIP card."""
        return partners.deactivate_vip(db_session(), code)


POLICY_BLUEPRINTS = (rules_blp, promotions_blp, exclusions_blp, programmes_blp, vip_blp)
