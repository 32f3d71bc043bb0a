"""/pos/v1/baskets: price a basket with the store's rules, recording nothing."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from store_agent.pos import till
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.schemas import BasketIn, BasketOut


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("baskets", __name__, url_prefix="/pos/v1/baskets",
                    description="Pricing a basket (nothing is recorded)")

    @blp.route("/price")
    class BasketPrice(MethodView):
        @blp.arguments(BasketIn)
        @blp.response(200, BasketOut)
        def post(self, data: dict[str, Any]) -> Any:
            """Price a basket (nothing is recorded)."""
            return till.basket(pos.store, pos.store_code, pos.normalise(data), pos.clock())

    return blp
