"""/pos/v1/loyalty: the loyalty programme's levels and gifts, from the local copy."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from store_agent.pos import loyalty
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext


class LoyaltyLevelOut(Schema):
    code = fields.String()
    name = fields.String()
    points = fields.String()


class LoyaltyGiftOut(Schema):
    sku = fields.String()
    name = fields.String(allow_none=True)
    sale_price = fields.String(allow_none=True)
    level = fields.String()
    points = fields.String(metadata={"description": "what taking the gift spends"})
    points_value = fields.String(allow_none=True,
                                 metadata={"description": "the product's points value under "
                                                          "the default profile"})


class LoyaltyGiftsOut(Schema):
    profile = fields.String(allow_none=True)
    levels = fields.List(fields.Nested(LoyaltyLevelOut))
    gifts = fields.List(fields.Nested(LoyaltyGiftOut))


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("loyalty", __name__, url_prefix="/pos/v1/loyalty",
                    description="The loyalty programme at this store (answers offline)")

    @blp.route("/gifts")
    class LoyaltyGifts(MethodView):
        @blp.response(200, LoyaltyGiftsOut)
        def get(self) -> Any:
            """The loyalty programme's levels and gifts with their points (local copy)."""
            return loyalty.gifts_view(pos.store)

    return blp
