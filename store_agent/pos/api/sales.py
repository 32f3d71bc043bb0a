"""/pos/v1/sales: record a sale (idempotent on the till's UUID)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.schemas import CODE, BasketIn, BasketOut, PaymentIn


class SaleIn(BasketIn):
    uuid = fields.UUID(required=True, metadata={"description": "minted by the till"})
    payments = fields.List(fields.Nested(PaymentIn), load_default=list,
                           validate=validate.Length(max=20))
    till = fields.String(validate=CODE, load_default=None)
    cashier = fields.String(validate=validate.Length(max=64), load_default=None)
    email = fields.Email(load_default=None, allow_none=True,
                         metadata={"description": "where to send the e-mail receipt, when the "
                                   "store's receipt profile sends them (the till asks the "
                                   "customer under policy 'propose')"})


class FiscalOut(Schema):
    state = fields.String(metadata={"description": "pending, printing, done or blocked"})
    document_number = fields.Integer(allow_none=True)
    receipt_number = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class SaleOut(BasketOut):
    uuid = fields.String()
    store = fields.String()
    number = fields.Integer()
    created_at = fields.String()
    till = fields.String(allow_none=True)
    cashier = fields.String(allow_none=True)
    payments = fields.List(fields.Dict())
    change = fields.String()
    cards = fields.List(fields.String())
    customer = fields.String(allow_none=True)
    email = fields.Dict(allow_none=True,
                        metadata={"description": "the e-mail receipt: to, state (queued, "
                                  "sent, failed), attempts, error"})
    paper_receipt = fields.String(allow_none=True,
                                  metadata={"description": "'printed', or why the receipt "
                                            "printer failed (absent without one)"})
    fiscal = fields.Nested(FiscalOut, allow_none=True,
                           metadata={"description": "the fiscal receipt (absent without a "
                                     "fiscal device)"})


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("sales", __name__, url_prefix="/pos/v1/sales",
                    description="Recording sales (offline too: they reach central later)")

    @blp.route("")
    class Sales(MethodView):
        @blp.arguments(SaleIn)
        @blp.response(201, SaleOut)
        @blp.alt_response(200, schema=SaleOut, description="replay of a recorded sale")
        @blp.alt_response(409, description="the UUID belongs to another sale")
        def post(self, data: dict[str, Any]) -> Any:
            """Record a sale. Replaying the same UUID and content returns the original.

            With a fiscal device the sale is committed first, then fiscalised; ``fiscal``
            says whether its receipt is printed. While an earlier sale has no receipt, new
            sales are refused (503) and nothing is recorded.
            """
            sold = pos.checkout.sell(pos.normalise(data))
            return sold.sale, 201 if sold.created else 200

    return blp
