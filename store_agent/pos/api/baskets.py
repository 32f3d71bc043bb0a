"""/pos/v1/baskets: price a basket with the store's rules, recording nothing."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields

from store_agent.pos import till
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.display import TILL, open_body
from store_agent.pos.api.schemas import BasketIn, BasketOut


class BasketPriceIn(BasketIn):
    display = fields.String(load_default=None, allow_none=True, validate=TILL,
                            metadata={"description": "this till's customer display shows "
                                      "the basket just priced (as PUT display/basket "
                                      "would, without pricing it again)"})


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("baskets", __name__, url_prefix="/pos/v1/baskets",
                    description="Pricing a basket (nothing is recorded)")

    @blp.route("/price")
    class BasketPrice(MethodView):
        @blp.arguments(BasketPriceIn)
        @blp.response(200, BasketOut)
        def post(self, data: dict[str, Any]) -> Any:
            """Price a basket (nothing is recorded); with ``display``, show it there."""
            display = data.pop("display", None)
            priced = till.basket(pos.store, pos.store_code, pos.normalise(data), pos.clock())
            if display is not None:
                pos.display_hub.publish(display, open_body(priced))
            return priced

    return blp
