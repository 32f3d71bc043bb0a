"""The till's API on the store LAN (/pos/v1): answers from the local copy, online or not."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from flask_smorest import Api
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import HTTPException

from protocol.encoding import decode_json
from rules.context import UnknownCard
from rules.money import MAX_AMOUNT, MoneyError, parse_amount
from rules.pricing import InvalidQuantity, PricingError, UnknownProduct
from store_agent import (
    cashiers,
    customers_api,
    display_api,
    footfall,
    instructions,
    loyalty,
    receipts,
    surveys,
    till,
    till_web,
)
from store_agent.customers import Customers
from store_agent.display import DisplayHub, TooManyTills
from store_agent.escpos_receipt import ReceiptPrinterError, print_receipt
from store_agent.fiscal.fiscaliser import Fiscaliser, FiscalNotReady, VatNotMapped
from store_agent.pos_requests import Blueprint
from store_agent.replica import Replica
from store_agent.settings import ReceiptPrinterSettings
from store_agent.sqlite_store import LocalStore
from transport.rpc import CentralUnreachable, RequestFailed

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$", error="1 to 64 letters or digits")


# The largest request of the till (a sale of 500 lines is about 40 KB); above it: 413.
MAX_BODY = 1024 * 1024


class _JSON(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s)

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)


# Positive, at most 3 decimals, at most rules.pricing.MAX_QTY.
QTY_PATTERN = (r"^([1-9][0-9]{0,4}(\.[0-9]{1,3})?|100000(\.0{1,3})?"
               r"|0\.([1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$")


class Quantity(fields.Decimal):
    """A quantity above 0: a decimal string (or a JSON number, read exactly)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_string=True, allow_nan=False, metadata={
            "type": "string", "pattern": QTY_PATTERN, "example": "1",
            "description": "above 0, at most 100000 and 3 decimals; whole for products "
                           "sold by the piece (a JSON number is also read, exactly)"},
            **kwargs)

    def _validated(self, value: Any) -> Decimal:
        result: Decimal = super()._validated(value)
        if result <= 0:
            raise ValidationError("must be above 0")
        return result


class Amount(fields.Decimal):
    """Money from the till: a decimal string, 0 to MAX_AMOUNT, at most two decimals."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_string=True, allow_nan=False, metadata={
            "type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,2})?$", "example": "10.00",
            "description": f"a decimal string (not a JSON number), at most {MAX_AMOUNT} "
                           "and two decimals"}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        try:
            return parse_amount(value, "the amount")
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class LineIn(Schema):
    code = fields.String(validate=CODE, metadata={"description": "barcode or SKU"})
    barcode = fields.String(validate=CODE)
    sku = fields.String(validate=CODE)
    qty = Quantity(load_default=Decimal(1))

    @validates_schema
    def _some_code(self, data: dict[str, Any], **_: Any) -> None:
        if not (data.get("code") or data.get("barcode") or data.get("sku")):
            raise ValidationError("give a barcode, a sku or a code", "code")


# OpenAPI cannot say "at least one of" with properties alone: LineIn says it with anyOf.
LINE_ANY_OF = [{"required": ["code"]}, {"required": ["barcode"]}, {"required": ["sku"]}]


class PaymentIn(Schema):
    method = fields.String(required=True, validate=validate.OneOf(["cash", "card", "other"]))
    amount = Amount(required=True)


class BasketIn(Schema):
    lines = fields.List(fields.Nested(LineIn), required=True,
                        validate=validate.Length(min=1, max=500))
    cards = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                        load_default=list, validate=validate.Length(max=5),
                        metadata={"description": "scanned partner, VIP or loyalty cards"})


class SaleIn(BasketIn):
    uuid = fields.UUID(required=True, metadata={"description": "minted by the till"})
    payments = fields.List(fields.Nested(PaymentIn), load_default=list,
                           validate=validate.Length(max=20))
    till = fields.String(validate=CODE, load_default=None)
    cashier = fields.String(validate=validate.Length(max=64), load_default=None)
    customer = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=64),
                             metadata={"description": "the customer's id (an old, merged id "
                                       "is recorded as its survivor)"})
    email = fields.Email(load_default=None, allow_none=True,
                         metadata={"description": "where to send the e-mail receipt, when the "
                                   "store's receipt profile sends them (the till asks the "
                                   "customer under policy 'propose')"})


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


class AdjustmentOut(Schema):
    kind = fields.String()
    code = fields.String()
    version = fields.Integer()
    amount = fields.String()
    reason = fields.String()


class PricedLineOut(Schema):
    sku = fields.String()
    barcode = fields.String(allow_none=True)
    name = fields.String()
    qty = fields.String()
    unit_price = fields.String()
    gross = fields.String()
    amount = fields.String()
    vat_rate = fields.String()
    excluded_by = fields.String(allow_none=True)
    adjustments = fields.List(fields.Nested(AdjustmentOut))


class VatOut(Schema):
    rate = fields.String()
    gross = fields.String()
    net = fields.String()
    vat = fields.String()


class BasketOut(Schema):
    lines = fields.List(fields.Nested(PricedLineOut))
    total = fields.String()
    discount = fields.String()
    vat = fields.List(fields.Nested(VatOut))
    versions = fields.Dict(keys=fields.String(), values=fields.Integer())


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


class CentralClockOut(Schema):
    time = fields.String(metadata={"description": "central's time (ISO-8601, UTC)"})
    version = fields.String()
    protocol = fields.Integer()
    round_trip_ms = fields.Integer()


class StatusOut(Schema):
    store = fields.String()
    agent_version = fields.String()
    epoch = fields.String()
    broker_connected = fields.Boolean()
    central_online = fields.Boolean(allow_none=True)
    streams = fields.Dict(keys=fields.String(), values=fields.Integer())
    outbox_pending = fields.Integer()
    outbox_acked = fields.Integer()
    products = fields.Integer()
    sales = fields.Integer()
    fiscal_pending = fields.Integer(allow_none=True,
                                    metadata={"description": "sales without their fiscal "
                                              "receipt yet (null: no fiscal device)"})
    fiscal_printer = fields.Dict(allow_none=True,
                                 metadata={"description": "the fiscal device now: state "
                                           "(ok, warning, error, offline, busy, unknown) and "
                                           "the operator's messages (paper out, cover "
                                           "open...); null: no fiscal device"})


def _normalise_lines(data: dict[str, Any], replica: Replica) -> dict[str, Any]:
    """One code per line. A line giving several (code, barcode, sku) must name one product
    with all of them: a sku and a barcode of different products are refused as ambiguous."""
    lines = []
    problems: dict[int, Any] = {}
    for i, line in enumerate(data["lines"]):
        given = {key: line[key] for key in ("code", "barcode", "sku") if line.get(key)}
        if not given:
            problems[i] = {"code": ["give a barcode, a sku or a code"]}
            continue
        if len(set(given.values())) > 1:
            skus = {}
            for key, code in given.items():
                product = replica.product(code)
                skus[key] = product["sku"] if product is not None else None
            if len(set(skus.values())) > 1:
                named = ", ".join(f"{key} {code!r}" for key, code in given.items())
                problems[i] = {key: [f"{named} do not name the same product"]
                               for key in given}
                continue
        code = line.get("code") or line.get("barcode") or line.get("sku")
        lines.append({"code": code, "qty": line["qty"]})
    if problems:
        raise ValidationError({"lines": problems})
    return {**data, "lines": lines}


def _decimal_as_string(_converter: Any, field: Any, ret: dict[str, Any] | None = None,
                       **_: Any) -> dict[str, Any]:
    """OpenAPI: a Decimal rendered as a string is a string (apispec says number)."""
    if isinstance(field, fields.Decimal) and field.as_string:
        for bound in ("minimum", "maximum"):  # of a number; a string has none
            (ret or {}).pop(bound, None)
        return {"type": "string", "format": "decimal",
                **{k: v for k, v in field.metadata.items() if k in ("pattern", "example")}}
    return {}


def create_app(store: LocalStore, replica: Replica, store_code: str,
               status: Callable[[], dict[str, Any]],
               on_sale: Callable[[], None] = lambda: None,
               clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
               fiscal: Fiscaliser | None = None,
               receipt_printer: ReceiptPrinterSettings | None = None,
               display_dir: Path | None = None,
               central_clock: Callable[[], Any] | None = None,
               customers: Customers | None = None) -> Flask:
    """The POS app; its dependencies come from the agent's composition root."""
    app = Flask("tessera-pos")
    app.json = _JSON(app)
    app.config.update(API_TITLE="Tessera store agent (POS API)", API_VERSION="v1",
                      OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX="/pos",
                      OPENAPI_JSON_PATH="openapi.json", MAX_CONTENT_LENGTH=MAX_BODY)
    api = Api(app)
    api.ma_plugin.converter.add_attribute_function(_decimal_as_string)
    blp = Blueprint("pos", __name__, url_prefix="/pos/v1",
                    description="The till's view of the store (answers offline)")

    def error(status_code: int, message: str, errors: Any = None) -> Any:
        from http import HTTPStatus
        body: dict[str, Any] = {"code": status_code, "status": HTTPStatus(status_code).phrase,
                                "message": message}
        if errors:
            body["errors"] = errors
        response = jsonify(body)
        response.status_code = status_code
        return response

    @blp.route("/products/<code>")
    class ProductByCode(MethodView):
        @blp.response(200, ProductOut)
        def get(self, code: str) -> Any:
            """A product by barcode (or SKU), from the local copy."""
            product = replica.product(code)
            if product is None or not product["active"]:
                return error(404, f"no product with code {code!r}")
            return {**product, "price": str(till.price_now(store, store_code, code, clock()))}

    @blp.route("/loyalty/gifts")
    class LoyaltyGifts(MethodView):
        @blp.response(200, LoyaltyGiftsOut)
        def get(self) -> Any:
            """The loyalty programme's levels and gifts with their points (local copy)."""
            return loyalty.gifts_view(store)

    @blp.route("/baskets/price")
    class BasketPrice(MethodView):
        @blp.arguments(BasketIn)
        @blp.response(200, BasketOut)
        def post(self, data: dict[str, Any]) -> Any:
            """Price a basket (nothing is recorded)."""
            priced = till.price(store, store_code, _normalise_lines(data, replica), clock())
            return till.basket_view(priced)

    @blp.route("/sales")
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
            request = _normalise_lines(data, replica)
            if fiscal is not None and not till.has_sale(store, str(request["uuid"])):
                fiscal.ensure_ready()
            try:
                outcome = till.record_sale(store, store_code, request, clock(), fiscal=fiscal)
            except till.SaleConflict as exc:
                return error(409, str(exc))
            if outcome.created:
                on_sale()
            sale = outcome.sale
            if request.get("email"):
                with store.read() as conn:
                    sale = {**sale, "email": receipts.email_state(conn, sale["uuid"])}
            if fiscal is not None:
                state = fiscal.fiscalise(sale["uuid"])
                sale = {**sale, "fiscal": state.as_dict()}
            if receipt_printer is not None and outcome.created:
                sale = {**sale, "paper_receipt": print_paper(sale["uuid"])}
            return sale, 201 if outcome.created else 200

    def receipt_of(sale_uuid: str) -> dict[str, Any] | None:
        with store.read() as conn:
            row = conn.execute("SELECT result FROM sales WHERE uuid = ?",
                               (sale_uuid,)).fetchone()
            if row is None:
                return None
            sale = json.loads(row[0])
            profile = receipts.effective_profile(conn, store_code)
            name = conn.execute("SELECT name FROM store_info WHERE code = ?",
                                (store_code,)).fetchone()
            email = receipts.email_state(conn, sale_uuid)
            zone = receipts.store_zone(conn, store_code)
        return {"uuid": sale["uuid"], "number": sale["number"],
                "text": receipts.render_text(sale, profile, name[0] if name else None, zone),
                "logo_png": profile.get("logo_png"), "email": email,
                "email_policy": profile["email"]["policy"], "profile": profile}

    def print_paper(sale_uuid: str) -> str:
        assert receipt_printer is not None
        receipt = receipt_of(sale_uuid)
        if receipt is None:
            return "no such sale"
        try:
            print_receipt(receipt_printer, receipt["text"], receipt["profile"])
        except ReceiptPrinterError as exc:
            app.logger.warning("paper receipt of %s not printed: %s", sale_uuid, exc)
            return f"failed: {exc}"
        return "printed"

    @blp.route("/sales/<uuid:sale_uuid>/receipt")
    class SaleReceipt(MethodView):
        @blp.response(200, ReceiptOut)
        def get(self, sale_uuid: Any) -> Any:
            """The customer's receipt of a sale: text with header and footer, logo, e-mail."""
            receipt = receipt_of(str(sale_uuid))
            if receipt is None:
                return error(404, f"no sale {sale_uuid}")
            return receipt

    @blp.route("/sales/<uuid:sale_uuid>/receipt/print")
    class SaleReceiptPrint(MethodView):
        @blp.response(200, PrintOut)
        def post(self, sale_uuid: Any) -> Any:
            """Print the (non-fiscal) paper receipt again on the ESC/POS printer."""
            if receipt_printer is None:
                return error(409, "no receipt printer is configured "
                                  "(TESSERA_RECEIPT_PRINTER_URL)")
            if receipt_of(str(sale_uuid)) is None:
                return error(404, f"no sale {sale_uuid}")
            result = print_paper(str(sale_uuid))
            if result != "printed":
                return error(503, result)
            return {"paper_receipt": result}

    @blp.route("/status")
    class Status(MethodView):
        @blp.response(200, StatusOut)
        def get(self) -> Any:
            """Sync and outbox state of this store."""
            return status()

    @blp.route("/central/clock")
    class CentralClock(MethodView):
        @blp.response(200, CentralClockOut)
        @blp.alt_response(503, description="central unreachable (or no link to it)")
        def get(self) -> Any:
            """Central's clock and version, asked over MQTT now (503: unreachable)."""
            if central_clock is None:
                return error(503, "this agent does not talk to central")
            try:
                return central_clock()
            except RequestFailed as exc:
                return error(503, f"central unreachable: {exc}"
                             if isinstance(exc, CentralUnreachable) else str(exc))

    api.register_blueprint(blp)
    api.register_blueprint(customers_api.create_blueprint(
        customers or Customers(store, store_code, clock=clock)))
    api.register_blueprint(display_api.create_blueprint(
        store, store_code, DisplayHub(), clock, display_dir, LineIn,
        lambda data: _normalise_lines(data, replica)))
    api.register_blueprint(cashiers.create_blueprint(store, clock, error))
    api.register_blueprint(instructions.create_blueprint(store, store_code, clock, error))
    api.register_blueprint(footfall.create_blueprint(store, clock, error))
    api.register_blueprint(surveys.create_blueprint(store, store_code, clock, error))
    till_web.register(app)
    api.spec.components.schemas["LineIn"]["anyOf"] = LINE_ANY_OF

    @app.get("/healthz")
    def healthz() -> Any:
        state = status()
        return {"status": "ok", "broker_connected": state["broker_connected"],
                "outbox_pending": state["outbox_pending"]}

    @app.errorhandler(UnknownProduct)
    def _unknown(exc: UnknownProduct) -> Any:
        return error(422, str(exc), {"lines": [f"unknown product {exc.code!r}"]})

    @app.errorhandler(UnknownCard)
    def _card(exc: UnknownCard) -> Any:
        return error(422, str(exc), {"cards": [str(exc)]})

    @app.errorhandler(InvalidQuantity)
    def _qty(exc: InvalidQuantity) -> Any:
        return error(422, str(exc), {"lines": [str(exc)]})

    @app.errorhandler(till.PaymentShort)
    def _short(exc: till.PaymentShort) -> Any:
        return error(422, str(exc), {"payments": [str(exc)]})

    @app.errorhandler(receipts.InvalidEmail)
    def _email(exc: receipts.InvalidEmail) -> Any:
        return error(422, str(exc), {"email": [str(exc)]})

    @app.errorhandler(cashiers.UnknownCashier)
    def _cashier(exc: cashiers.UnknownCashier) -> Any:
        return error(422, str(exc), {"cashier": [str(exc)]})

    @app.errorhandler(till.UnknownSaleCustomer)
    def _customer(exc: till.UnknownSaleCustomer) -> Any:
        return error(422, str(exc), {"customer": [str(exc)]})

    @app.errorhandler(TooManyTills)
    def _tills(exc: TooManyTills) -> Any:
        return error(422, str(exc), {"till": [str(exc)]})

    @app.errorhandler(FiscalNotReady)
    def _not_ready(exc: FiscalNotReady) -> Any:
        return error(503, str(exc))

    @app.errorhandler(VatNotMapped)
    def _vat(exc: VatNotMapped) -> Any:
        return error(422, str(exc), {"lines": [str(exc)]})

    @app.errorhandler(PricingError)
    def _pricing(exc: PricingError) -> Any:
        return error(422, str(exc))

    @app.errorhandler(MoneyError)
    def _money(exc: MoneyError) -> Any:
        return error(422, str(exc))

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Any:
        return error(422, "invalid request", exc.messages)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        data = getattr(exc, "data", {}) or {}
        messages = data.get("messages")
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "path"}:
            messages = {k: v for part in messages.values() if isinstance(part, dict)
                        for k, v in part.items()}
        return error(exc.code or 500, data.get("message") or exc.description or "error",
                     messages)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error")
        return error(500, "internal error; the agent log has the details")

    return app
