"""The request and response shapes that several /pos/v1 features share: a basket's lines,
money and quantities as decimal strings, a priced basket."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rules.money import MAX_AMOUNT, MoneyError, parse_amount
from store_agent.sync.replica import Replica

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$", error="1 to 64 letters or digits")


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
    gift = fields.Boolean(load_default=False, metadata={
        "description": "this line is the loyalty gift the customer takes (one unit, at most "
                       "one per sale, the sale's customer must be able to take it: see "
                       "GET /pos/v1/customers/{id}/gifts); priced at 0, spends the gift's "
                       "points, earns nothing"})

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
    customer = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=64),
                             metadata={"description": "the customer's id (an old, merged id "
                                       "is recorded as its survivor); with it the answer "
                                       "has the sale's loyalty side"})


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
    gift = fields.Boolean(metadata={"description": "a loyalty gift (absent: not one)"})


class SaleGiftOut(Schema):
    line = fields.Integer(metadata={"description": "0-based index of the gift's line"})
    points = fields.String(metadata={"description": "the points the gift spends"})


class LoyaltyOut(Schema):
    profile = fields.String(metadata={"description": "the customer's loyalty profile"})
    profile_version = fields.Integer()
    points = fields.String(metadata={"description": "points earned (provisional: head "
                                     "office books them)"})
    gifts = fields.List(fields.Nested(SaleGiftOut))
    balance = fields.String(metadata={"description": "the balance this store knows after "
                                      "the sale (central's last balance with this store's "
                                      "sales not yet acknowledged)"})


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
    loyalty = fields.Nested(LoyaltyOut, allow_none=True, metadata={
        "description": "the points of the sale (null or absent: no customer with a loyalty "
                       "profile at this store)"})


def normalise_lines(data: dict[str, Any], replica: Replica) -> dict[str, Any]:
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
        lines.append({"code": code, "qty": line["qty"],
                      **({"gift": True} if line.get("gift") else {})})
    if problems:
        raise ValidationError({"lines": problems})
    return {**data, "lines": lines}


def decimal_as_string(_converter: Any, field: Any, ret: dict[str, Any] | None = None,
                       **_: Any) -> dict[str, Any]:
    """OpenAPI: a Decimal rendered as a string is a string (apispec says number)."""
    if isinstance(field, fields.Decimal) and field.as_string:
        for bound in ("minimum", "maximum"):  # of a number; a string has none
            (ret or {}).pop(bound, None)
        return {"type": "string", "format": "decimal",
                **{k: v for k, v in field.metadata.items() if k in ("pattern", "example")}}
    return {}
