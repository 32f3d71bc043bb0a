"""Request and response schemas of the REST API."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rules.money import MAX_AMOUNT, MoneyError, parse_amount
from rules.pricing import PIECE, UNITS

CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                       error="letters, digits, '.', '_' or '-', at most 64, not starting "
                             "with a symbol")
NAME = validate.And(validate.Length(min=1, max=200),
                    validate.Regexp(r"^[^\x00-\x1f\x7f]*$",
                                    error="no control characters (NUL, tabs, line breaks)"))


AMOUNT_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,2})?$"
SIGNED_PATTERN = r"^-?[0-9]{1,9}(\.[0-9]{1,2})?$"


class Money(fields.Decimal):
    """An amount as a decimal string (never a JSON number): 0 to MAX_AMOUNT, at most two
    decimals; rendered as a string. ``signed`` allows down to -MAX_AMOUNT (adjustments)."""

    def __init__(self, *, signed: bool = False, **kwargs: Any) -> None:
        self.minimum = -MAX_AMOUNT if signed else Decimal(0)
        metadata = {"type": "string", "format": "decimal",
                    "pattern": SIGNED_PATTERN if signed else AMOUNT_PATTERN,
                    "example": "1.50", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        try:
            return parse_amount(value, "the amount", minimum=self.minimum)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class Rate(fields.Decimal):
    """A percentage between 0 and 100 with at most two decimals, as a decimal string."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "format": "decimal",
                    "pattern": r"^[0-9]{1,3}(\.[0-9]{1,2})?$", "example": "20",
                    **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        try:
            return parse_amount(value, "the rate", maximum=Decimal(100))
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class ListArgs(Schema):
    active = fields.Boolean()


class StoreGroupSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)


class StoreGroupUpdateSchema(Schema):
    name = fields.String(validate=NAME)


TIME_ZONE = {"description": "IANA time zone of the store (receipts, store-local times); "
             "default: central's TESSERA_DEFAULT_TIME_ZONE", "example": "Europe/Rome"}


class StoreSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    group = fields.String(allow_none=True, validate=CODE, load_default=None)
    time_zone = fields.String(load_default=None, metadata=TIME_ZONE)
    active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class StoreUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    group = fields.String(allow_none=True, validate=CODE)
    time_zone = fields.String(metadata=TIME_ZONE)
    active = fields.Boolean()


class StoreListArgs(ListArgs):
    group = fields.String(validate=CODE)


class CategorySchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    parent = fields.String(allow_none=True, validate=CODE, load_default=None)
    active = fields.Boolean(dump_only=True)


class CategoryUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    parent = fields.String(allow_none=True, validate=CODE)
    active = fields.Boolean()


class BrandSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    active = fields.Boolean(dump_only=True)


class BrandUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    active = fields.Boolean()


class FamilySchema(BrandSchema):
    pass


class FamilyUpdateSchema(BrandUpdateSchema):
    pass


BARCODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$", error="1 to 64 letters or digits")


def _two_places(value: Decimal) -> None:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValidationError("at most two decimals")


class ProductSchema(Schema):
    sku = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    category = fields.String(allow_none=True, validate=CODE, load_default=None)
    brand = fields.String(allow_none=True, validate=CODE, load_default=None)
    family = fields.String(allow_none=True, validate=CODE, load_default=None)
    vat_rate = Rate(required=True)
    purchase_cost = Money(allow_none=True, load_default=None)
    purchase_discounts = fields.List(Rate(), validate=validate.Length(max=5), load_default=list,
                                     metadata={"description": "up to five successive "
                                               "supplier discounts in %"})
    fixed_points = fields.Decimal(allow_none=True, as_string=True,
                                  validate=validate.Range(min=0), load_default=None,
                                  metadata={"description": "a points value fixed by hand, "
                                            "never recomputed"})
    points_generated = fields.Decimal(allow_none=True, as_string=True,
                                      validate=[validate.Range(min=0, max=1_000_000),
                                                _two_places], load_default=None,
                                      metadata={"description": "the points one unit earns "
                                                "under a profile whose accrual takes points "
                                                "from the products (SPEC L2); null: none"})
    sale_price = Money(required=True)
    unit = fields.String(load_default=PIECE, validate=validate.OneOf(UNITS),
                         metadata={"description": "piece: sold in whole numbers; kg, l, m: "
                                   "sold by measure (up to 3 decimals)"})
    active = fields.Boolean(load_default=True)
    barcodes = fields.List(fields.String(validate=BARCODE), load_default=list,
                           validate=validate.Length(max=50))
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ProductUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    category = fields.String(allow_none=True, validate=CODE)
    brand = fields.String(allow_none=True, validate=CODE)
    family = fields.String(allow_none=True, validate=CODE)
    vat_rate = Rate()
    purchase_cost = Money(allow_none=True)
    purchase_discounts = fields.List(Rate(), validate=validate.Length(max=5),
                                     metadata={"description": "up to five successive "
                                               "supplier discounts in %"})
    fixed_points = fields.Decimal(allow_none=True, as_string=True,
                                  validate=validate.Range(min=0),
                                  metadata={"description": "a points value fixed by hand, "
                                            "never recomputed"})
    points_generated = fields.Decimal(allow_none=True, as_string=True,
                                      validate=[validate.Range(min=0, max=1_000_000),
                                                _two_places],
                                      metadata={"description": "the points one unit earns "
                                                "under a profile whose accrual takes points "
                                                "from the products (SPEC L2); null: none"})
    sale_price = Money()
    unit = fields.String(validate=validate.OneOf(UNITS))
    active = fields.Boolean()
    barcodes = fields.List(fields.String(validate=BARCODE), validate=validate.Length(max=50))

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("nothing to change")


class ProductListArgs(ListArgs):
    q = fields.String(validate=validate.Length(max=100))
    category = fields.String(validate=CODE)
    brand = fields.String(validate=CODE)
    family = fields.String(validate=CODE)
    barcode = fields.String(validate=BARCODE)


class SaleLineOut(Schema):
    line_no = fields.Integer()
    sku = fields.String()
    barcode = fields.String(allow_none=True)
    name = fields.String()
    qty = fields.Decimal(as_string=True)
    unit_price = fields.Decimal(as_string=True)
    amount = fields.Decimal(as_string=True)
    vat_rate = fields.Decimal(as_string=True)


class SaleOut(Schema):
    uuid = fields.String()
    store = fields.Function(lambda sale: sale.store.code)
    store_epoch = fields.String()
    seq = fields.Integer()
    number = fields.Integer()
    till = fields.String(allow_none=True)
    cashier = fields.String(allow_none=True)
    sold_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    total = fields.Decimal(as_string=True)
    repriced = fields.Boolean()
    fiscal_document = fields.Integer(allow_none=True,
                                     metadata={"description": "the fiscal device's document "
                                               "number (null: not reported yet)"})
    fiscal_receipt = fields.Integer(allow_none=True)
    fiscal_device = fields.String(allow_none=True)
    fiscalised_at = fields.AwareDateTime(allow_none=True)
    lines = fields.List(fields.Nested(SaleLineOut))


class SaleListArgs(Schema):
    store = fields.String(validate=CODE)
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


def _code_of(attr: str) -> fields.Function:
    def serialize(obj: Any) -> str | None:
        related = getattr(obj, attr)
        return related.code if related is not None else None
    return fields.Function(serialize, allow_none=True)


class StoreOut(Schema):
    code = fields.String()
    name = fields.String()
    group = _code_of("group")
    time_zone = fields.String(metadata=TIME_ZONE)
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class CategoryOut(Schema):
    code = fields.String()
    name = fields.String()
    parent = _code_of("parent")
    active = fields.Boolean()


class ProductOut(Schema):
    sku = fields.String()
    name = fields.String()
    category = _code_of("category")
    brand = _code_of("brand")
    family = _code_of("family")
    vat_rate = fields.Decimal(as_string=True)
    purchase_cost = fields.Decimal(as_string=True, allow_none=True)
    purchase_discounts = fields.Function(
        lambda p: (p.purchase_discounts or "").split(),
        metadata={"type": "array", "items": {"type": "string"}})
    fixed_points = fields.Decimal(as_string=True, allow_none=True)
    points_generated = fields.Decimal(as_string=True, allow_none=True)
    sale_price = fields.Decimal(as_string=True)
    unit = fields.String()
    active = fields.Boolean()
    barcodes = fields.Function(lambda p: [b.code for b in p.barcodes],
                               metadata={"type": "array", "items": {"type": "string"}})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class DriftArgs(Schema):
    store = fields.String(validate=CODE)


class DriftOut(Schema):
    sale = fields.Function(lambda d: d.sale.uuid)
    store = fields.Function(lambda d: d.sale.store.code)
    sold_at = fields.Function(lambda d: d.sale.sold_at.isoformat())
    store_total = fields.Decimal(as_string=True)
    central_total = fields.Decimal(as_string=True, allow_none=True)
    details = fields.Function(lambda d: json.loads(d.details))
    detected_at = fields.AwareDateTime()
