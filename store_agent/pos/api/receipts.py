"""/pos/v1/sales/<uuid>/receipt: the customer's receipt of a sale, and printing it again."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error


class ReceiptOut(Schema):
    uuid = fields.String()
    number = fields.Integer()
    text = fields.List(fields.String(), metadata={"description": "the receipt's lines"})
    logo_png = fields.String(allow_none=True, metadata={"description": "PNG, base64"})
    email = fields.Dict(allow_none=True)
    email_policy = fields.String(metadata={"description": "never, propose or always: "
                                           "whether the till asks for an address"})


class PrintOut(Schema):
    paper_receipt = fields.String()


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("receipts", __name__, url_prefix="/pos/v1/sales",
                    description="The customer's receipts")

    @blp.route("/<uuid:sale_uuid>/receipt")
    class SaleReceipt(MethodView):
        @blp.response(200, ReceiptOut)
        def get(self, sale_uuid: Any) -> Any:
            """The customer's receipt of a sale: text with header and footer, logo, e-mail."""
            return pos.checkout.receipt(str(sale_uuid))

    @blp.route("/<uuid:sale_uuid>/receipt/print")
    class SaleReceiptPrint(MethodView):
        @blp.response(200, PrintOut)
        def post(self, sale_uuid: Any) -> Any:
            """Print the (non-fiscal) paper receipt again on the ESC/POS printer."""
            result = pos.checkout.reprint(str(sale_uuid))
            if result != "printed":
                return error(503, result)
            return {"paper_receipt": result}

    return blp
