"""Request and response schemas of the policy, partner-programme and VIP-card API.

Schemas check shapes and types; the services check meaning (codes that exist, periods in
order, rates above 0), so that every caller gets the same refusals.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from central.api.schemas import CODE, NAME, Money, Rate
from central.models import PartnerCard, PartnerProgramme, Policy, VipCard
from central.services import partners, policies

MOMENT = {"format": "date-time"}


def code_list(**kwargs: Any) -> fields.List[str]:
    """A list of store, group or catalogue codes."""
    return fields.List(fields.String(validate=CODE), validate=validate.Length(max=1000),
                       **kwargs)


# -- policies ---------------------------------------------------------------------------------

class PeriodSchema(Schema):
    start = fields.AwareDateTime(allow_none=True,
                                 metadata={"description": "included; null: no start"})
    end = fields.AwareDateTime(allow_none=True,
                               metadata={"description": "excluded; must come after start"})


class TargetSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(policies.TARGET_KINDS))
    codes = code_list(load_default=list,
                      metadata={"description": "categories (with their sub-categories), "
                                               "brands, families or product SKUs; none for "
                                               "'all'"})


class _PolicyFields(Schema):
    name = fields.String(validate=NAME)
    stores = code_list()
    groups = code_list()
    period = fields.Nested(PeriodSchema, allow_none=True)
    target = fields.Nested(TargetSchema)
    active = fields.Boolean()


class _PolicyIn(_PolicyFields):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    stores = code_list(load_default=list,
                       metadata={"description": "none (and no groups): every store"})
    groups = code_list(load_default=list)
    active = fields.Boolean(load_default=True)


class SalesRuleIn(_PolicyIn):
    percent = Rate(required=True, metadata={"description": "more than 0, at most 100"})


class SalesRulePatch(_PolicyFields):
    percent = Rate()


class _PromotionFields(Schema):
    promotion = fields.String(validate=validate.OneOf(policies.PROMOTION_TYPES))
    buy = fields.Integer(strict=True, metadata={"description": "quantity: units paid in full"})
    get = fields.Integer(strict=True, metadata={"description": "quantity: discounted units"})
    percent = Rate(metadata={"description": "quantity: discount on the 'get' units "
                                            "(100: free)"})
    price = Money(metadata={"description": "fixed_price: the unit price"})


class PromotionIn(_PolicyIn, _PromotionFields):
    promotion = fields.String(required=True, validate=validate.OneOf(policies.PROMOTION_TYPES))


class PromotionPatch(_PolicyFields, _PromotionFields):
    pass


class ExclusionIn(_PolicyIn):
    target = fields.Nested(TargetSchema, required=True)


class ExclusionPatch(_PolicyFields):
    pass


class PolicyListArgs(Schema):
    active = fields.Boolean()
    store = fields.String(validate=CODE, metadata={"description": "only the policies that "
                                                                  "concern this store"})


class PeriodOut(Schema):
    start = fields.String(allow_none=True, metadata=MOMENT)
    end = fields.String(allow_none=True, metadata=MOMENT)


class TargetOut(Schema):
    kind = fields.String()
    codes = fields.List(fields.String())


class PolicyOut(Schema):
    """The policy's wire form (docs/protocol.md) plus when it last changed."""

    code = fields.String()
    kind = fields.String()
    name = fields.String()
    version = fields.Integer()
    active = fields.Boolean()
    stores = fields.List(fields.String())
    groups = fields.List(fields.String())
    period = fields.Nested(PeriodOut)
    target = fields.Nested(TargetOut)
    percent = fields.Decimal(as_string=True)
    promotion = fields.String()
    buy = fields.Integer()
    get = fields.Integer()
    price = fields.Decimal(as_string=True)
    updated_at = fields.AwareDateTime()

    @pre_dump
    def _wire(self, policy: Policy, **_: Any) -> SimpleNamespace:
        # A namespace, not a dict: a sales rule has no "get", and dict.get would be dumped.
        return SimpleNamespace(**policies.wire(policy), updated_at=policy.updated_at)


# -- partner programmes and cards -------------------------------------------------------------

class _ProgrammeFields(Schema):
    name = fields.String(validate=NAME)
    percent = Rate(metadata={"description": "more than 0, at most 100"})
    stores = code_list()
    groups = code_list()
    valid_from = fields.AwareDateTime(allow_none=True)
    valid_until = fields.AwareDateTime(allow_none=True,
                                       metadata={"description": "excluded; after valid_from"})
    active = fields.Boolean()


class ProgrammeIn(_ProgrammeFields):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    percent = Rate(required=True, metadata={"description": "more than 0, at most 100"})
    stores = code_list(load_default=list,
                       metadata={"description": "none (and no groups): every store"})
    groups = code_list(load_default=list)
    active = fields.Boolean(load_default=True)


class ProgrammePatch(_ProgrammeFields):
    pass


class ProgrammeListArgs(PolicyListArgs):
    pass


class ProgrammeOut(Schema):
    code = fields.String()
    name = fields.String()
    percent = fields.Decimal(as_string=True)
    version = fields.Integer()
    active = fields.Boolean()
    stores = fields.List(fields.String())
    groups = fields.List(fields.String())
    valid_from = fields.String(allow_none=True, metadata=MOMENT)
    valid_until = fields.String(allow_none=True, metadata=MOMENT)

    @pre_dump
    def _wire(self, programme: PartnerProgramme, **_: Any) -> dict[str, Any]:
        return partners.programme_wire(programme)


class CardIn(Schema):
    number = fields.String(allow_none=True, validate=validate.Length(max=64),
                           metadata={"description": "one card: 4 to 32 letters or digits"})
    first = fields.String(allow_none=True, validate=validate.Length(max=64),
                          metadata={"description": "a range: digits, same length as last"})
    last = fields.String(allow_none=True, validate=validate.Length(max=64))
    holder = fields.String(allow_none=True, validate=validate.Length(max=200))


class CardsIn(Schema):
    cards = fields.List(fields.Nested(CardIn), required=True,
                        validate=validate.Length(min=1, max=50_000))


class CardListArgs(Schema):
    active = fields.Boolean()
    number = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "the entries that hold this number"})


class CardOut(Schema):
    programme = fields.String()
    first = fields.String()
    last = fields.String()
    holder = fields.String(allow_none=True)
    active = fields.Boolean()

    @pre_dump
    def _wire(self, card: PartnerCard, **_: Any) -> dict[str, Any]:
        return partners.card_wire(card)


class LineReason(Schema):
    line = fields.Integer()
    reason = fields.String()


class CardReport(Schema):
    added = fields.Integer(metadata={"description": "new entries"})
    skipped = fields.Integer(metadata={"description": "entries already in the programme"})
    rejected = fields.List(fields.Nested(LineReason),
                           metadata={"description": "rows refused (import only)"})
    duplicates = fields.List(fields.Nested(LineReason),
                             metadata={"description": "the skipped rows and why"})


# -- VIP cards --------------------------------------------------------------------------------

class _VipFields(Schema):
    customer = fields.String(validate=NAME)
    percent = Rate(metadata={"description": "more than 0, at most 100"})
    valid_until = fields.AwareDateTime(metadata={"description": "in the future"})
    notify = fields.String(allow_none=True, validate=validate.Length(max=200),
                           metadata={"description": "e-mail or phone to alert when used"})
    active = fields.Boolean()


class VipIn(_VipFields):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "'#VIP#' then letters or digits"})
    customer = fields.String(required=True, validate=NAME)
    percent = Rate(required=True, metadata={"description": "more than 0, at most 100"})
    valid_until = fields.AwareDateTime(required=True,
                                       metadata={"description": "in the future"})
    active = fields.Boolean(load_default=True)


class VipPatch(_VipFields):
    pass


class VipListArgs(Schema):
    active = fields.Boolean()
    customer = fields.String(validate=validate.Length(min=1, max=100))


class VipOut(Schema):
    code = fields.String()
    customer = fields.String()
    percent = fields.Decimal(as_string=True)
    valid_until = fields.String(metadata=MOMENT)
    notify = fields.String(allow_none=True)
    active = fields.Boolean()
    version = fields.Integer()

    @pre_dump
    def _wire(self, card: VipCard, **_: Any) -> dict[str, Any]:
        return {**partners.vip_wire(card), "notify": card.notify}
