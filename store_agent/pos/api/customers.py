"""The till's customers (/pos/v1/customers): find, recall, create and edit, offline too."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields, validate

from rules.customers.record import CustomerInvalid
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.customers import Found, UnknownCustomer

_CARD = fields.String(validate=validate.Length(min=1, max=64))


class SearchArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "a card, mobile, e-mail or name, read as "
                                "whichever it looks like"})
    card = fields.String(validate=validate.Length(min=1, max=64))
    mobile = fields.String(validate=validate.Length(min=1, max=40))
    email = fields.String(validate=validate.Length(min=1, max=254))
    name = fields.String(validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class CustomerIn(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(load_default=None, metadata={"description": "a UUID minted by the "
                                                    "till (else the agent mints one)"})
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.Raw(
        allow_none=True), load_default=dict, metadata={
            "description": "field -> value: first_name, mobile, consent_sms (true/false), "
                           "extra.<code> for head office's extra questions; null clears"})
    cards = fields.List(_CARD, load_default=list, validate=validate.Length(max=10),
                        metadata={"description": "cards to give the customer (scanned)"})
    issue_card = fields.Boolean(load_default=False,
                                metadata={"description": "give a card from the store's range"})


class CustomerPatch(CustomerIn):
    retire_cards = fields.List(_CARD, load_default=list, validate=validate.Length(max=10))


class CustomerOut(Schema):
    id = fields.String()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    observation = fields.String(allow_none=True, metadata={
        "description": "the note the till shows in red and bold"})
    address = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    birth_date = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    home_store = fields.String(allow_none=True)
    provenance = fields.String(allow_none=True)
    grouping = fields.String(allow_none=True)
    consent_email_at = fields.String(allow_none=True)
    consent_email_store = fields.String(allow_none=True)
    consent_sms_at = fields.String(allow_none=True)
    consent_sms_store = fields.String(allow_none=True)
    profile = fields.String(allow_none=True)
    total_spend = fields.String(allow_none=True)
    average_basket = fields.String(allow_none=True)
    first_purchase = fields.String(allow_none=True)
    last_purchase = fields.String(allow_none=True)
    consent_email = fields.Boolean(allow_none=True)
    consent_sms = fields.Boolean(allow_none=True)
    visits = fields.Integer(allow_none=True)
    alerts = fields.List(fields.String(), metadata={"description": "messages of the "
                                                    "matching alerts, in their order"})
    cards = fields.List(fields.Dict())
    extra = fields.Dict()
    erased = fields.Boolean()
    pending_upstream = fields.Boolean(metadata={"description": "an edit made here has not "
                                                "reached central yet"})

    class Meta:
        unknown = EXCLUDE


def _error(status: int, message: str, errors: Any = None) -> Response:
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase,
                            "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response


class FoundOut(Schema):
    customers = fields.List(fields.Dict(), metadata={"description": "the till's view of each"})
    by = fields.String(metadata={"description": "what the search went by: card, mobile, ..."})
    central = fields.String(metadata={"description": "asked, unreachable or not asked"})


class FormOut(Schema):
    questions = fields.List(fields.Dict(), metadata={"description": "head office's questions"})
    mandatory = fields.List(fields.String(), metadata={"description": "fields the till needs"})
    card_range = fields.Raw(allow_none=True, metadata={"description": "the store's card range"})


def _found(found: Found) -> dict[str, Any]:
    return {"customers": found.customers, "by": found.by, "central": found.central}


def create_blueprint(pos: PosContext) -> Blueprint:
    customers = pos.customers
    blp = Blueprint("pos-customers", __name__, url_prefix="/pos/v1",
                    description="The chain's customers, from the store's copy")

    @blp.route("/customers")
    class CustomerList(MethodView):
        @blp.arguments(SearchArgs, location="query")
        @blp.response(200, FoundOut)
        def get(self, args: dict[str, Any]) -> Any:
            """Find customers by card, mobile, e-mail or name (accents and case folded).

            ``central`` says whether central was asked for a card, mobile or e-mail the
            copy does not know: ``asked``, ``unreachable`` (the answer is the copy's) or
            ``not asked``."""
            limit = args.pop("limit")
            given = {k: v for k, v in args.items() if v is not None}
            if len(given) != 1:
                return _error(422, "give exactly one of q, card, mobile, email, name",
                              {"q": ["give exactly one of q, card, mobile, email, name"]})
            return _found(customers.find(limit=limit, **given))

        @blp.arguments(CustomerIn)
        @blp.response(201, CustomerOut)
        def post(self, data: dict[str, Any]) -> Any:
            """Create a customer here (online or offline), with its cards."""
            return customers.create(data["fields_"], cards=data["cards"],
                                    issue_card=data["issue_card"], customer_id=data["id"]), 201

    @blp.route("/customers/form")
    class CustomerForm(MethodView):
        @blp.response(200, FormOut)
        def get(self) -> Any:
            """The customer form: head office's extra questions and the mandatory fields."""
            return customers.form()

    @blp.route("/customers/<customer_id>")
    class CustomerOne(MethodView):
        @blp.response(200, CustomerOut)
        def get(self, customer_id: str) -> Any:
            """A customer with its observation and alerts (an old, merged id finds the
            survivor)."""
            return customers.get(customer_id)

        @blp.arguments(CustomerPatch)
        @blp.response(200, CustomerOut)
        def patch(self, data: dict[str, Any], customer_id: str) -> Any:
            """Edit a customer: only the fields given; cards added and retired."""
            return customers.edit(customer_id, data["fields_"], add_cards=data["cards"],
                                  retire_cards=data["retire_cards"],
                                  issue_card=data["issue_card"])

    @blp.errorhandler(CustomerInvalid)
    def _invalid(exc: CustomerInvalid) -> Response:
        return _error(422, str(exc), {k: [v] for k, v in exc.problems.items()})

    @blp.errorhandler(UnknownCustomer)
    def _unknown(exc: UnknownCustomer) -> Response:
        return _error(404, str(exc))

    return blp
