"""REST for cashiers (SPEC S8): who may sign in at which store's tills, with which PIN."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.api.schemas import CODE as STORE_CODE
from central.services import cashiers
from central.transactions import db_session, transactional

cashiers_blp = Blueprint("cashiers", __name__, url_prefix="/api/v1/cashiers",
                         description="Cashiers: code, name, PIN (kept hashed) and the stores "
                                     "they work at; each store's tills learn its cashiers")

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$", error="1 to 32 letters, digits, '.', '_', '-'")
PIN = validate.Regexp(r"^[0-9]{4,8}$", error="4 to 8 digits")
# Store codes as the stores resource spells them (a NUL or a surrogate in one used to reach
# the database and answer 500).
STORES = fields.List(fields.String(validate=STORE_CODE), validate=validate.Length(max=1000))


class CashierIn(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    pin = fields.String(required=True, load_only=True, validate=PIN)
    stores = STORES


class CashierPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    pin = fields.String(load_only=True, validate=PIN)
    active = fields.Boolean()
    stores = STORES


class CashierOut(Schema):
    code = fields.String()
    name = fields.String()
    active = fields.Boolean()
    stores = fields.List(fields.String())
    created_at = fields.String(allow_none=True)


class CashierListArgs(Schema):
    store = fields.String(validate=STORE_CODE)


@cashiers_blp.route("/")
class Cashiers(MethodView):
    @cashiers_blp.arguments(CashierListArgs, location="query")
    @cashiers_blp.response(200, CashierOut(many=True))
    @cashiers_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """List cashiers, optionally those of one store."""
        rows, total = cashiers.list_cashiers(db_session(), pagination_parameters.page,
                                             pagination_parameters.page_size, args.get("store"))
        pagination_parameters.item_count = total
        return [cashiers.view(c) for c in rows]

    @cashiers_blp.arguments(CashierIn)
    @cashiers_blp.response(201, CashierOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a cashier; the stores named learn them."""
        return cashiers.view(cashiers.create(db_session(), data["code"], data["name"],
                                             data["pin"], data.get("stores") or []))


@cashiers_blp.route("/<code>")
class CashierOne(MethodView):
    @cashiers_blp.response(200, CashierOut)
    def get(self, code: str) -> Any:
        return cashiers.view(cashiers.get(db_session(), code))

    @cashiers_blp.arguments(CashierPatch)
    @cashiers_blp.response(200, CashierOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change name, PIN, active or stores (a store left learns the cashier is gone)."""
        return cashiers.view(cashiers.update(db_session(), code, data))


CASHIER_BLUEPRINTS = (cashiers_blp,)
