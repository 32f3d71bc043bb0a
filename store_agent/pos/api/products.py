"""/pos/v1/products: a product by barcode or SKU, with its price in this store now."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from store_agent.pos import till
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error


class ProductOut(Schema):
    sku = fields.String()
    name = fields.String()
    category = fields.String(allow_none=True)
    brand = fields.String(allow_none=True)
    vat_rate = fields.String()
    sale_price = fields.String(metadata={"description": "the chain's base price"})
    price = fields.String(metadata={"description": "the price in force in this store now"})
    unit = fields.String(metadata={"description": "piece (whole quantities) or a measure: "
                                   "kg, l, m"})
    active = fields.Boolean()
    barcodes = fields.List(fields.String())


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("products", __name__, url_prefix="/pos/v1/products",
                    description="The local copy of the catalogue (answers offline)")

    @blp.route("/<code>")
    class ProductByCode(MethodView):
        @blp.response(200, ProductOut)
        def get(self, code: str) -> Any:
            """A product by barcode (or SKU), from the local copy."""
            product = pos.replica.product(code)
            if product is None or not product["active"]:
                return error(404, f"no product with code {code!r}")
            return {**product,
                    "price": str(till.price_now(pos.store, pos.store_code, code, pos.clock()))}

    return blp
