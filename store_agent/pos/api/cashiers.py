"""/pos/v1/cashiers: who may sign in at this store's tills, and the sign-in (offline too)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from store_agent.pos.cashiers import Failures, sign_in


class SignIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    pin = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=16))


class CashierOut(Schema):
    code = fields.String()
    name = fields.String()


class CashiersOut(Schema):
    required = fields.Boolean(metadata={"description": "the store has cashiers: the till "
                                        "signs one in before selling"})
    cashiers = fields.List(fields.Nested(CashierOut))


def create_blueprint(pos: PosContext) -> Blueprint:
    store, clock = pos.store, pos.clock
    blp = Blueprint("pos-cashiers", __name__, url_prefix="/pos/v1/cashiers",
                    description="Cashiers of this store and their sign-in at the till")
    failures = Failures()

    @blp.route("")
    class Cashiers(MethodView):
        @blp.response(200, CashiersOut)
        def get(self) -> Any:
            """Who may sign in here (no PINs), and whether the till must sign one in."""
            with store.read() as conn:
                rows = conn.execute("SELECT code, name FROM cashiers WHERE active = 1 "
                                    "ORDER BY name, code").fetchall()
            return {"required": bool(rows), "cashiers": [{"code": c, "name": n}
                                                         for c, n in rows]}

    @blp.route("/sign-in")
    class CashierSignIn(MethodView):
        @blp.arguments(SignIn)
        @blp.response(200, CashierOut)
        @blp.alt_response(401, description="unknown cashier or wrong PIN")
        @blp.alt_response(429, description="too many wrong PINs: wait a minute")
        def post(self, data: dict[str, Any]) -> Any:
            """Check a cashier's code and PIN here (works offline)."""
            now = clock()
            until = failures.locked_until(data["code"], now)
            if until is not None:
                return error(429, "too many wrong PINs for this cashier: try again in "
                                  f"{max(1, int((until - now).total_seconds()))} s")
            cashier = sign_in(store, data["code"], data["pin"])
            if cashier is None:
                failures.failed(data["code"], now)
                return error(401, "unknown cashier or wrong PIN")
            failures.succeeded(data["code"])
            return cashier

    return blp
