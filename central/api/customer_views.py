"""REST for the customer registry (K1-K10): customers and their cards, merges, personal
data export and erasure, extra questions and mandatory fields, alerts, multi-criteria lists.

Bodies are free-form JSON objects read by the API's JSON reader (numbers as Decimal): a
customer's fields depend on head office's extra questions, so the record's own rules
(rules.customers.record) check them and answer 422 naming each field.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import INCLUDE, Schema, fields

from central import printables
from central.api.access import principal
from central.api.requests import Blueprint
from central.console.export import csv_response, xlsx_response
from central.services import (
    customer_fields,
    customer_fold,
    customer_merges,
    customer_queries,
    customers,
)
from central.services.errors import Invalid
from central.transactions import db_session, transactional


class Body(Schema):
    """A JSON object; its fields are checked by the service, each error naming its field."""

    class Meta:
        unknown = INCLUDE


class SearchArgs(Schema):
    q = fields.String(metadata={"description": "names, e-mail or phone (accents and case "
                                               "ignored)"})


class CustomerOut(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String()
    customer = fields.Dict(metadata={"description": "the record as the stores get it "
                                                    "(`customer` entity data)"})
    cards = fields.List(fields.Dict())


def _region() -> str:
    """Head office's country (from central's default store zone): phones without a
    country code are read as numbers of that country."""
    zone = current_app.extensions["tessera.settings"].default_time_zone
    return customers.country_of_zone(zone)


def _out(customer: Any) -> dict[str, Any]:
    session = db_session()
    return {"id": customer.id, "customer": customers.wire(customer),
            "cards": [customer_fold.card_wire(c) for c in customers.cards_of(session, customer.id)]}


def _author() -> str:
    return principal().username


def _paged(pagination: Any, result: tuple[list[Any], int]) -> list[Any]:
    items, total = result
    pagination.item_count = total
    return [_out(c) for c in items]


customers_blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers",
                          description="The chain's one customer registry")


@customers_blp.route("/")
class Customers(MethodView):
    @customers_blp.arguments(SearchArgs, location="query")
    @customers_blp.response(200, CustomerOut(many=True))
    @customers_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Search customers by name (accent- and case-insensitive), e-mail or phone."""
        return _paged(pagination_parameters, customers.list_customers(
            db_session(), pagination_parameters.page, pagination_parameters.page_size,
            q=args.get("q")))

    @customers_blp.arguments(Body)
    @customers_blp.response(201, CustomerOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a customer: record fields, ``extra.{code}`` answers, ``cards`` [{number,
        kind}]; mandatory fields enforced."""
        return _out(customers.create(db_session(), data, region=_region(), author=_author()))


@customers_blp.route("/merge")
class Merge(MethodView):
    @customers_blp.arguments(Body)
    @customers_blp.response(200, CustomerOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Merge two customers ``{a, b}``: the one created first survives with every card,
        sale, consent and edit; the other id redirects to it at every store."""
        a, b = data.get("a"), data.get("b")
        problems = {k: ["a customer id"] for k, v in (("a", a), ("b", b))
                    if not isinstance(v, str)}
        if problems:
            raise Invalid("invalid merge", problems)
        assert isinstance(a, str) and isinstance(b, str)
        return _out(customer_merges.merge(db_session(), a, b, by=_author()))


@customers_blp.route("/duplicates")
class Duplicates(MethodView):
    @customers_blp.response(200)
    def get(self) -> Any:
        """Likely duplicates (same card, mobile, e-mail; similar name and birth date)."""
        return [{"a": m.a, "b": m.b, "reasons": list(m.reasons), "score": m.score}
                for m in customer_merges.likely_duplicates(db_session())]


@customers_blp.route("/<customer_id>")
class CustomerById(MethodView):
    @customers_blp.response(200, CustomerOut)
    def get(self, customer_id: str) -> Any:
        """Read a customer (an old id of a merged customer gives the survivor)."""
        return _out(customers.get(db_session(), customer_id))

    @customers_blp.arguments(Body)
    @customers_blp.response(200, CustomerOut)
    @transactional
    def patch(self, data: dict[str, Any], customer_id: str) -> Any:
        """Change fields (null or "" clears one); an edit stamped by central's clock."""
        return _out(customers.edit(db_session(), customer_id, data, region=_region(),
                                   author=_author()))


@customers_blp.route("/<customer_id>/cards")
class CustomerCards(MethodView):
    @customers_blp.response(200)
    def get(self, customer_id: str) -> Any:
        """The customer's cards, active or retired."""
        session = db_session()
        customer = customers.get(session, customer_id)
        return [customer_fold.card_wire(c) for c in customers.cards_of(session, customer.id)]

    @customers_blp.arguments(Body)
    @customers_blp.response(201, CustomerOut)
    @transactional
    def post(self, data: dict[str, Any], customer_id: str) -> Any:
        """Give a card ``{number, kind, replaces}``; ``replaces`` retires a lost card."""
        number, kind = data.get("number"), data.get("kind", "loyalty")
        if not isinstance(number, str) or not isinstance(kind, str):
            raise Invalid("invalid card", {"number": ["a card number as text"]})
        replaces = data.get("replaces")
        return _out(customers.add_card(db_session(), customer_id, number, kind,
                                       author=_author(),
                                       replaces=replaces if isinstance(replaces, str) else None))


@customers_blp.route("/<customer_id>/cards/<number>")
class CustomerCardByNumber(MethodView):
    @customers_blp.response(200, CustomerOut)
    @transactional
    def delete(self, customer_id: str, number: str) -> Any:
        """Retire a card (its number is never given to anyone else)."""
        return _out(customers.retire_card(db_session(), customer_id, number, author=_author()))


@customers_blp.route("/<customer_id>/export")
class CustomerExport(MethodView):
    @customers_blp.response(200)
    def get(self, customer_id: str) -> Any:
        """Everything held about the customer (record, cards, history, sales, merges)."""
        return customer_merges.export(db_session(), customer_id)


@customers_blp.route("/<customer_id>/erase")
class CustomerErase(MethodView):
    @customers_blp.response(200, CustomerOut)
    @transactional
    def post(self, customer_id: str) -> Any:
        """Erase on request: anonymised at central and every store, for good."""
        return _out(customer_merges.erase(db_session(), customer_id, by=_author()))


CHAIN = "Tessera"


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@customers_blp.route("/<customer_id>/card.pdf")
class CustomerCardPdf(MethodView):
    @customers_blp.response(200, content_type="application/pdf", description="a PDF to print")
    def get(self, customer_id: str) -> Any:
        """The customer's loyalty card to print (``?number=`` one of their cards; default
        the first active one), in the customer's language."""
        session = db_session()
        customer = customers.get(session, customer_id)
        held = [c for c in customers.cards_of(session, customer.id)
                if c.active and c.kind == "loyalty"]
        wanted = request.args.get("number")
        chosen = [c for c in held if wanted in (None, c.number)]
        if not chosen:
            raise Invalid("no card to print", {"number": ["not an active loyalty card of "
                                                          "this customer"]})
        record = customers.wire(customer)
        holder = " ".join(p for p in (record["first_name"], record["last_name"]) if p)
        try:
            data = printables.loyalty_card(chosen[0].number, chain=CHAIN, holder=holder or None,
                                           language=record["language"])
        except printables.PrintableError as exc:
            raise Invalid(str(exc)) from exc
        return _pdf(data, f"card-{chosen[0].number}.pdf")


fields_blp = Blueprint("customer-fields", __name__, url_prefix="/api/v1/customer-fields",
                       description="Head office's extra questions and mandatory fields")


@fields_blp.route("/")
class CustomerFields(MethodView):
    @fields_blp.response(200)
    def get(self) -> Any:
        """The extra questions and the mandatory fields."""
        session = db_session()
        rules = customer_fields.policy(session)
        return {"questions": [customer_fields.field_wire(f)
                              for f in customer_fields.list_fields(session)],
                "mandatory": sorted(rules.mandatory)}

    @fields_blp.arguments(Body)
    @fields_blp.response(201)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create or change an extra question ``{code, label, kind, choices, position}``."""
        return customer_fields.field_wire(customer_fields.save_field(db_session(), data))


@fields_blp.route("/mandatory")
class MandatoryFields(MethodView):
    @fields_blp.arguments(Body)
    @fields_blp.response(200)
    @transactional
    def put(self, data: dict[str, Any]) -> Any:
        """Set the mandatory fields ``{fields: [...]}`` (enforced at central and the till)."""
        names = data.get("fields")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise Invalid("invalid mandatory fields", {"fields": ["a list of field names"]})
        return {"mandatory": customer_fields.set_mandatory(db_session(), names)}


@fields_blp.route("/registration.pdf")
class RegistrationForm(MethodView):
    @fields_blp.response(200, content_type="application/pdf", description="a PDF to print")
    def get(self) -> Any:
        """The paper registration form (``?language=it&store=...``): the record's fields,
        the mandatory ones marked, and head office's extra questions."""
        session = db_session()
        rules = customer_fields.policy(session)
        questions = [printables.Question(q.code, q.label, q.kind, q.choices,
                                         q.field in rules.mandatory)
                     for q in rules.questions]
        try:
            data = printables.registration_form(
                request.args.get("language"), chain=CHAIN, store=request.args.get("store"),
                mandatory=[m for m in rules.mandatory if m in printables.FIELDS],
                questions=questions)
        except printables.PrintableError as exc:
            raise Invalid(str(exc)) from exc
        return _pdf(data, "registration.pdf")


alerts_blp = Blueprint("customer-alerts", __name__, url_prefix="/api/v1/customer-alerts",
                       description="Messages the till shows for customers matching a condition")


@alerts_blp.route("/")
class CustomerAlerts(MethodView):
    @alerts_blp.response(200)
    def get(self) -> Any:
        """The alerts in their order."""
        return [customer_queries.alert_wire(a)
                for a in customer_queries.list_alerts(db_session())]

    @alerts_blp.arguments(Body)
    @alerts_blp.response(201)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create or change an alert ``{code, position, condition, message}``; the condition
        is checked when saved; the answer counts the customers it matches now."""
        session = db_session()
        alert = customer_queries.save_alert(session, data)
        return {**customer_queries.alert_wire(alert),
                "matches": customer_queries.preview(session, alert.condition)}


@alerts_blp.route("/preview")
class AlertPreview(MethodView):
    @alerts_blp.arguments(Body)
    @alerts_blp.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """How many customers ``{condition}`` matches (nothing is saved)."""
        return {"matches": customer_queries.preview(db_session(), data.get("condition"))}


@alerts_blp.route("/<code>")
class CustomerAlertByCode(MethodView):
    @alerts_blp.response(204)
    @transactional
    def delete(self, code: str) -> None:
        """Delete an alert."""
        customer_queries.delete_alert(db_session(), code)


lists_blp = Blueprint("customer-lists", __name__, url_prefix="/api/v1/customer-lists",
                      description="Multi-criteria customer lists: count, page, export")


@lists_blp.route("/count")
class ListCount(MethodView):
    @lists_blp.arguments(Body)
    @lists_blp.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """``{match: all|any, criteria: [{field, operator, value}]}``: how many match."""
        session = db_session()
        return {"count": customer_queries.count(session,
                                                customer_queries.read_criteria(session, data))}


@lists_blp.route("/customers")
class ListPage(MethodView):
    @lists_blp.arguments(Body)
    @lists_blp.response(200, CustomerOut(many=True))
    @lists_blp.paginate()
    def post(self, data: dict[str, Any], pagination_parameters: Any) -> Any:
        """One page of the customers the criteria select."""
        session = db_session()
        node = customer_queries.read_criteria(session, data)
        return _paged(pagination_parameters, customer_queries.page(
            session, node, pagination_parameters.page, pagination_parameters.page_size))


@lists_blp.route("/export")
class ListExport(MethodView):
    @lists_blp.arguments(Body)
    @lists_blp.response(200, content_type="text/csv",
                        description="CSV, or XLSX with ?format=xlsx")
    @lists_blp.alt_response(200, content_type="application/vnd.openxmlformats-officedocument"
                            ".spreadsheetml.sheet", description="the list as XLSX",
                            success=True)
    def post(self, data: dict[str, Any]) -> Any:
        """The list as CSV or Excel (``?format=xlsx``); formulas neutralised."""
        session = db_session()
        node = customer_queries.read_criteria(session, data)
        rows = customer_queries.export_rows(session, node)
        header = customer_queries.EXPORT_COLUMNS
        if request.args.get("format") == "xlsx":
            return xlsx_response("customers.xlsx", header, rows)
        return csv_response("customers.csv", header, rows)


CUSTOMER_BLUEPRINTS = (customers_blp, fields_blp, alerts_blp, lists_blp)
