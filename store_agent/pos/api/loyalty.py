"""/pos/v1/loyalty and /pos/v1/customers/{id}/gifts: the loyalty programme's levels and
gifts, and what one customer may take now, from the local copy (offline too)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields

from store_agent.pos import loyalty
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from store_agent.pos.api.schemas import CODE
from store_agent.pos.customers import UnknownCustomer


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


class GiftsArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    taken = fields.String(load_default=None, validate=CODE, metadata={
        "description": "the SKU of the gift already in the sale being rung up (then no "
                       "other can be taken: one gift per sale)"})


class CustomerGiftOut(Schema):
    sku = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "null: the product is "
                                                    "not at this store"})
    sale_price = fields.String(allow_none=True)
    level = fields.String()
    level_name = fields.String()
    level_points = fields.String(metadata={"description": "where the gift's level starts"})
    points = fields.String(metadata={"description": "what taking the gift spends"})
    can_take = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={
        "description": "why it cannot be taken now: product not at this store, a gift "
                       "already in this sale, level not reached, not enough points to spend"})


class CustomerGiftsOut(Schema):
    customer = fields.String(metadata={"description": "the customer (a merged id's survivor)"})
    profile = fields.String(allow_none=True)
    balance = fields.String(metadata={"description": "the last balance head office sent "
                                      "(0 if none)"})
    updated_at = fields.String(allow_none=True, metadata={
        "description": "when head office's ledger had that balance (null: none received)"})
    pending_spent = fields.String(metadata={"description": "spent on gifts in this store's "
                                            "sales not yet acknowledged by head office"})
    pending_earned = fields.String(metadata={"description": "provisional points of those "
                                             "sales (not spendable until booked)"})
    may_spend = fields.String(metadata={"description": "the offline allowance: balance less "
                                        "pending_spent, never below 0"})
    provisional = fields.String(metadata={"description": "balance - pending_spent + "
                                          "pending_earned: the balance as this store sees it"})
    level = fields.String(allow_none=True, metadata={"description": "the highest level the "
                                                     "balance reaches"})
    gifts = fields.List(fields.Nested(CustomerGiftOut))


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("loyalty", __name__, url_prefix="/pos/v1",
                    description="The loyalty programme at this store (answers offline)")

    @blp.route("/loyalty/gifts")
    class LoyaltyGifts(MethodView):
        @blp.response(200, LoyaltyGiftsOut)
        def get(self) -> Any:
            """The loyalty programme's levels and gifts with their points (local copy)."""
            return loyalty.gifts_view(pos.store)

    @blp.route("/customers/<customer_id>/gifts")
    class CustomerGifts(MethodView):
        @blp.arguments(GiftsArgs, location="query")
        @blp.response(200, CustomerGiftsOut)
        @blp.alt_response(404, description="no such customer at this store")
        def get(self, args: dict[str, Any], customer_id: str) -> Any:
            """The customer's points as this store knows them, what may be spent now, and
            every gift: its level, its cost, whether it can be taken now and why not."""
            return loyalty.gifts_for(pos.store, customer_id, args["taken"])

    @blp.errorhandler(UnknownCustomer)
    def _unknown(exc: UnknownCustomer) -> Response:
        return error(404, str(exc))

    return blp
